"""Recall with your own network (C15): K random patterns in N neurons stored by a rule, each
probed with a fraction of its bits flipped and relaxed asynchronously; the final overlaps."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ch6jax import hopfield

from .. import capacity, plots
from ._base import Result

NAME = "hopfield_recall"
TITLE = "Hopfield recall: K patterns in N neurons, probed with noise"
ITEMS = ("C15",)


@dataclasses.dataclass(frozen=True)
class Settings:
    """``k`` random patterns in ``n`` neurons by ``rule``, ``trials`` networks; every pattern
    probed with a fraction ``noise`` of its bits flipped."""

    n: int = 500
    k: int = 50
    rule: str = "hebb"
    trials: int = 4
    noise: float = 0.1
    POSITIVE = ("n", "k", "trials")
    CHOICES = {"rule": ("hebb", "storkey", "pseudo_inverse")}
    QUICK = {"n": 200, "k": 20, "trials": 2}


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    n, k = settings.n, settings.k
    if not 0 <= settings.noise < 0.5:
        raise ValueError(f"noise must be in [0, 0.5), got {settings.noise}")
    if k >= n:
        raise ValueError(f"k must be below n = {n}, got {k}")
    xi, w = capacity.store_random(jax.random.fold_in(key, 1), n,
                                  np.full(settings.trials, k), rule=settings.rule)
    flips = int(round(settings.noise * n))
    probes = capacity.flip_bits(jax.random.fold_in(key, 2), xi, flips)
    out = hopfield.relax_many(w, probes, key=jax.random.fold_in(key, 3))
    m0 = np.asarray((probes * xi).sum(-1), np.float64).ravel() / n
    m = np.asarray((out.states * xi).sum(-1), np.float64).ravel() / n
    retrieved = float((m > capacity.RETRIEVED).mean())
    numbers = {"recall": {"n": n, "k": k, "rule": settings.rule, "trials": settings.trials,
                          "flipped_bits": flips, "retrieved": retrieved,
                          "mean_final_overlap": float(m.mean()),
                          "sweeps_max": int(np.asarray(out.sweeps).max()),
                          "converged": float(np.asarray(out.converged).mean())}}
    fig, axes = plots.figure(1, 1, width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    # from just below the lowest of the start and the end points: -1..1 would leave most of
    # the axis empty; counts on a log scale, so a few failed probes still show
    lo = max(-1.0, np.floor(10 * min(float(m.min()), float(m0.mean()))) / 10 - 0.05)
    ax.hist(m, bins=np.linspace(lo, 1, 61), color=plots.PALETTE[0], log=True)
    ax.axvline(m0.mean(), color=plots.PALETTE[1], ls="--", label=f"start: {m0.mean():.2f}")
    ax.axvline(capacity.RETRIEVED, color="0.4", ls=":", label="retrieved above 0.9")
    ax.set(title=f"final overlaps, N = {n}, K = {k} ({settings.rule}), {flips} bits flipped",
           xlabel="overlap with the stored pattern", ylabel="probes")
    ax.legend(fontsize=7, loc="upper left")
    summary = (f"{settings.trials} networks of K = {k} patterns in N = {n} neurons "
               f"({settings.rule}, K/N = {k / n:.3f}), probes {flips} bits away: "
               f"{retrieved:.1%} retrieved, mean final overlap {m.mean():.3f}.")
    return Result({"hopfield": numbers}, {"hopfield_recall": fig}, [], summary)
