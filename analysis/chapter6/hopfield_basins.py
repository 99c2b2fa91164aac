"""Basins of attraction and spurious states of a Hebbian Hopfield network (C16): the probability
that a probe some bits away from a stored pattern relaxes back to it, for several loads, and a
census of where relaxation from random states ends (stored patterns, their reversals, the
symmetric mixtures of three, and other spurious states)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from .. import capacity, plots
from ._base import Result

NAME = "hopfield_basins"
TITLE = "Hopfield basins of attraction and spurious states"
ITEMS = ("C16",)


@dataclasses.dataclass(frozen=True)
class Settings:
    """``n`` neurons; basins at the loads 0.05, 0.10, 0.13 and 0.16, ``trials`` networks per
    load and ``probes`` patterns per network started at each distance; the census on
    ``trials`` networks of ``census_k`` patterns from ``census_probes`` random states each."""

    n: int = 1000
    trials: int = 4
    probes: int = 50
    census_k: int = 30
    census_probes: int = 200
    POSITIVE = ("n", "trials", "probes", "census_k", "census_probes")
    QUICK = {"n": 200, "trials": 2, "probes": 20, "census_k": 6, "census_probes": 100}


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    n = settings.n
    if settings.census_k >= n:
        raise ValueError(f"census_k must be below n = {n}, got {settings.census_k}")
    loads = np.array([0.05, 0.10, 0.13, 0.16])
    distances = np.unique(np.round(np.linspace(0, 0.5, 11) * n).astype(int))
    b = capacity.basins(jax.random.fold_in(key, 1), n, loads, distances, settings.trials,
                        probes=settings.probes)
    census = capacity.spurious_census(jax.random.fold_in(key, 2), n, settings.census_k,
                                      settings.trials, probes=settings.census_probes)
    radius = {f"{a:g}": _radius(distances / n, b.retrieved[i]) for i, a in enumerate(loads)}
    numbers = {"basins": {"n": n, "loads": loads.tolist(),
                          "distances": distances.tolist(),
                          "retrieved": b.retrieved.tolist(), "half_radius": radius},
               "spurious_census": census}
    fig, axes = plots.figure(1, 2, width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    for i, a in enumerate(loads):
        ax.plot(distances / n, b.retrieved[i], "o-", ms=3, color=plots.PALETTE[i],
                label=f"K/N = {a:g}")
    ax.set(title=f"basins of attraction, N = {n}", xlabel="initial distance (fraction of bits)",
           ylabel="P(relaxes to the pattern)")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    kinds = list(census["fractions"])
    ax.bar(range(len(kinds)), [census["fractions"][k] for k in kinds],
           color=[plots.PALETTE[i] for i in range(len(kinds))])
    ax.set_xticks(range(len(kinds)), kinds, fontsize=7)
    ax.set(title=f"where random starts end (N = {n}, K = {settings.census_k})",
           ylabel="fraction of runs")
    summary = (
        "Half the probes return to their pattern from distances "
        + ", ".join(f"{r:.2f} N (K/N = {a})" for a, r in radius.items())
        + f". From random states (N = {n}, K = {settings.census_k}): "
        + ", ".join(f"{k} {v:.1%}" for k, v in census["fractions"].items())
        + ": reversed patterns are attractors as often as the patterns themselves (E(-s) = "
        "E(s)), and spurious mixtures are common.")
    return Result({"hopfield": numbers}, {"hopfield_basins": fig}, [], summary)


def _radius(distance, retrieved) -> float:
    """The distance where the retrieval probability falls through 1/2 (interpolated); the
    largest distance tried when it never does."""
    if retrieved[0] < 0.5:
        return float("nan")
    r = capacity.falls_through_half(distance, retrieved)
    return float(distance[-1]) if np.isnan(r) else r
