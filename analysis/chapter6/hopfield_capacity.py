"""Hopfield capacity (C16), measured: crosstalk (6.72)-(6.74) against its theory, retrieval
against the load alpha = K / N for sizes up to N = 4,000, a finite-size-scaling estimate of the
critical load for N -> infinity beside Amit-Gutfreund-Sompolinsky's 0.138, the Storkey and
pseudo-inverse rules on the same axes, and the modern Hopfield network far above 0.14 N.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from .. import capacity, plots
from ._base import Result

NAME = "hopfield_capacity"
TITLE = "Hopfield capacity: crosstalk, retrieval against K/N, and alpha_c for N -> infinity"
ITEMS = ("C16",)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Retrieval curves for ``sizes`` (comma-separated N) at loads ``alpha_min`` to
    ``alpha_max`` in steps of ``alpha_step``; ``networks`` independent networks per load at the
    largest N, proportionally more at smaller N (same number of patterns per size, at most
    64 networks). ``rule``: the storage rule of the scaling study; ``rules_n``: the size at
    which all three rules are compared; ``crosstalk_n``: the size of the crosstalk study."""

    sizes: str = "250,500,1000,2000,4000"
    alpha_min: float = 0.11
    alpha_max: float = 0.17
    alpha_step: float = 0.01
    networks: int = 4
    rule: str = "hebb"
    rules_n: int = 500
    crosstalk_n: int = 1000
    resamples: int = 500
    POSITIVE = ("alpha_min", "alpha_max", "alpha_step", "networks", "rules_n", "crosstalk_n",
                "resamples")
    CHOICES = {"rule": ("hebb", "storkey", "pseudo_inverse")}
    QUICK = {"sizes": "100,200,400", "networks": 2, "rules_n": 100, "crosstalk_n": 200,
             "resamples": 100}


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise ValueError(f"sizes must be comma-separated integers, got {text!r}") from None
    if len(sizes) < 3 or sizes[0] < 10:
        raise ValueError(f"sizes must name at least 3 sizes N >= 10 for the finite-size "
                         f"scaling, got {text!r}")
    return sizes


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    sizes = parse_sizes(settings.sizes)
    if settings.alpha_max <= settings.alpha_min or settings.alpha_max >= 1:
        raise ValueError(f"alpha_max must lie between alpha_min and 1, got "
                         f"{settings.alpha_max}")
    alphas = np.round(np.arange(settings.alpha_min, settings.alpha_max + 1e-9,
                                settings.alpha_step), 6)

    # crosstalk and the one-step error, at a few loads
    # (the theory's mean and variance depend on K and N: four loads at crosstalk_n, and the
    # load 0.1 at half and twice that size)
    ct_loads = (0.05, 0.1, 0.138, 0.2)
    cross = [capacity.crosstalk(jax.random.fold_in(key, 10 + i), settings.crosstalk_n,
                                max(2, round(a * settings.crosstalk_n)), trials=8)
             for i, a in enumerate(ct_loads)]
    cross_sizes = [capacity.crosstalk(jax.random.fold_in(key, 20 + i), m, max(2, round(0.1 * m)),
                                      trials=8)
                   for i, m in enumerate((settings.crosstalk_n // 2, 2 * settings.crosstalk_n))]

    # retrieval against the load, by size
    curves = []
    for n in sizes:
        trials = int(min(64, max(settings.networks, round(settings.networks * sizes[-1] / n))))
        curves.append(capacity.retrieval(jax.random.fold_in(key, n), n, alphas, trials,
                                         rule=settings.rule))
    critical = capacity.critical_load(curves, key=jax.random.fold_in(key, 3),
                                      resamples=settings.resamples)
    # the overlap of the retrieval state at the measured alpha_c (largest N, interpolated)
    retrieved_overlap = np.nanmean(curves[-1].overlap_retrieved, axis=1)
    overlap_at = float(np.interp(critical.alpha_c_inf, alphas, retrieved_overlap)) \
        if np.isfinite(critical.alpha_c_inf) else float("nan")

    # the three rules on the same axes, over a wide range of loads
    wide = np.round(np.arange(0.05, 0.801, 0.05), 6)
    rules = {}
    for i, rule in enumerate(("hebb", "storkey", "pseudo_inverse")):
        r = capacity.retrieval(jax.random.fold_in(key, 500 + i), settings.rules_n, wide, 4,
                               rule=rule)
        rules[rule] = r.retrieved.mean(axis=1)

    # the modern Hopfield network, far above 0.14 N
    modern_loads = np.array([0.1, 0.5, 1.0, 2.0, 4.0])
    modern = capacity.modern_retrieval(jax.random.fold_in(key, 9), settings.rules_n,
                                       modern_loads, beta=1.0, noise=0.2)

    numbers = {"capacity": {
        "rule": settings.rule, "alphas": alphas.tolist(), "sizes": sizes,
        "retrieved_by_n": {str(c.n): c.retrieved.mean(axis=1).tolist() for c in curves},
        "overlap_by_n": {str(c.n): c.overlap.mean(axis=1).tolist() for c in curves},
        "overlap_retrieved_by_n": {str(c.n): np.nanmean(c.overlap_retrieved, axis=1).tolist()
                                   for c in curves},
        "networks_by_n": {str(c.n): int(c.retrieved.shape[1]) for c in curves},
        "alpha_c": {f"{a}-{b}": x for a, b, x in critical.crossings},
        "alpha_c_inf": critical.alpha_c_inf, "alpha_c_inf_err": critical.alpha_c_inf_err,
        "alpha_c_theory": capacity.ALPHA_C_THEORY,
        "overlap_at_alpha_c": overlap_at,
        "overlap_at_alpha_c_theory": capacity.OVERLAP_AT_ALPHA_C_THEORY,
        "half_retrieval_load_by_n": {
            str(c.n): capacity.falls_through_half(c.alphas, c.retrieved.mean(axis=1))
            for c in curves},
        "crosstalk": [{"n": c.n, "k": c.k, "mean": c.mean, "variance": c.variance,
                       "variance_theory": c.variance_theory, "one_step_error": c.one_step_error,
                       "one_step_error_gaussian": c.one_step_error_gaussian}
                      for c in cross + cross_sizes],
        "rules": {"n": settings.rules_n, "alphas": wide.tolist(),
                  "retrieved": {k: v.tolist() for k, v in rules.items()}},
        "modern": {"n": settings.rules_n, "loads": modern_loads.tolist(), "beta": 1.0,
                   "noise": 0.2, "retrieved": modern.tolist()},
    }}
    figures = {"hopfield_capacity_curves": curves_figure(curves, critical),
               "hopfield_crosstalk": crosstalk_figure(cross),
               "hopfield_rules": rules_figure(wide, rules, modern_loads, modern,
                                             settings.rules_n)}
    c = critical
    summary = (
        f"Retrieval from the stored pattern (overlap > 0.9) against K/N for N = "
        f"{', '.join(map(str, sizes))} ({settings.rule}); successive sizes cross at "
        + ", ".join(f"{x:.4f} ({a}/{b})" for a, b, x in c.crossings)
        + f", extrapolated in N^-1/2 to alpha_c = {c.alpha_c_inf:.4f} +- "
        f"{c.alpha_c_inf_err:.4f} (theory 0.138); overlap of the retrieved patterns there, "
        f"N = {sizes[-1]}: {overlap_at:.3f} (theory 0.967). Crosstalk variance "
        f"{cross[1].variance:.4f} against (K-1)(N-1)/N^2 = {cross[1].variance_theory:.4f} at "
        f"K/N = 0.1. Storkey and pseudo-inverse retrieve up to "
        f"{_last_full(wide, rules['storkey']):.2f} and {_last_full(wide, rules['pseudo_inverse']):.2f}"
        f" N (from the pattern itself); the modern network retrieves {modern[-1]:.0%} at "
        f"K = 4 N. The chapter's 0.14 N agrees with the measurement.")
    return Result({"hopfield": numbers}, figures, [], summary)


def _last_full(alphas, fraction, at_least: float = 0.99) -> float:
    ok = np.asarray(fraction) >= at_least
    return float(alphas[np.argmin(ok) - 1]) if not ok.all() else float(alphas[-1])


def curves_figure(curves, critical):
    fig, axes = plots.figure(1, 2, width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    for i, c in enumerate(curves):
        ax.plot(c.alphas, c.retrieved.mean(axis=1), "o-", ms=3,
                color=plots.PALETTE[i % len(plots.PALETTE)], label=f"N = {c.n}")
    ax.axvline(capacity.ALPHA_C_THEORY, color="0.4", ls="--", lw=1, label="theory 0.138")
    if np.isfinite(critical.alpha_c_inf):
        ax.axvspan(critical.alpha_c_inf - critical.alpha_c_inf_err,
                   critical.alpha_c_inf + critical.alpha_c_inf_err, color="0.85",
                   label="measured alpha_c +- 1 sd")
    ax.set(title="fraction of patterns retrieved (overlap > 0.9)", xlabel="load alpha = K/N",
           ylabel="fraction retrieved")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    pairs = [(a, b, x) for a, b, x in critical.crossings if np.isfinite(x)]
    xs = np.array([(a * b) ** -0.25 for a, b, _ in pairs])
    ys = np.array([x for _, _, x in pairs])
    ax.plot(xs, ys, "o", color=plots.PALETTE[0], label="crossing of N and the next size")
    for (a, b, _), x, y in zip(pairs, xs, ys):
        ax.annotate(f"{a}/{b}", (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    if len(xs) >= 2 and np.isfinite(critical.alpha_c_inf):
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(0, xs.max() * 1.05, 50)
        ax.plot(grid, intercept + slope * grid, color=plots.PALETTE[1], lw=1,
                label=f"fit: alpha_c = {critical.alpha_c_inf:.3f} +- "
                      f"{critical.alpha_c_inf_err:.3f}")
        ax.errorbar([0], [critical.alpha_c_inf], yerr=[critical.alpha_c_inf_err], fmt="s",
                    color=plots.PALETTE[1])
    ax.axhline(capacity.ALPHA_C_THEORY, color="0.4", ls="--", lw=1, label="theory 0.138")
    ax.set(title="finite-size scaling", xlabel="N^-1/2 (geometric mean of the pair)",
           ylabel="crossing load")
    ax.set_xlim(left=-0.005)
    ax.legend(fontsize=7)
    return fig


def crosstalk_figure(cross):
    fig, axes = plots.figure(1, 2, width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    c = cross[2]
    sd = np.sqrt(c.variance_theory)
    ax.hist(c.values, bins=80, density=True, color=plots.PALETTE[0], alpha=0.6,
            label="measured")
    grid = np.linspace(c.values.min(), c.values.max(), 200)
    ax.plot(grid, np.exp(-0.5 * (grid / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
            color=plots.PALETTE[1], label=f"Gaussian, var (K-1)(N-1)/N^2 = {sd ** 2:.3f}")
    ax.axvline(-(c.n - 1) / c.n, color="0.4", ls="--", lw=1,
               label="-(N-1)/N: xi times crosstalk below it flips the bit")
    ax.set(title=f"crosstalk (6.74), N = {c.n}, K = {c.k}", xlabel="crosstalk term",
           ylabel="density")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ks = [c.k / c.n for c in cross]
    ax.semilogy(ks, [max(c.one_step_error, 1e-7) for c in cross], "o", color=plots.PALETTE[0],
                label="measured")
    ax.semilogy(ks, [c.one_step_error_gaussian for c in cross], "x-", color=plots.PALETTE[1],
                label="Gaussian estimate")
    ax.set(title="one-step bit-error probability", xlabel="load K/N", ylabel="P(error)")
    ax.legend(fontsize=7)
    return fig


def rules_figure(wide, rules, modern_loads, modern, n):
    fig, axes = plots.figure(1, 2, width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    for i, (rule, f) in enumerate(rules.items()):
        ax.plot(wide, f, "o-", ms=3, color=plots.PALETTE[i], label=rule.replace("_", "-"))
    ax.axvline(capacity.ALPHA_C_THEORY, color="0.4", ls="--", lw=1)
    ax.set(title=f"storage rules, N = {n}", xlabel="load K/N", ylabel="fraction retrieved")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ax.plot(modern_loads, modern, "o-", color=plots.PALETTE[3],
            label="modern (softmax), 20% bits flipped")
    ax.axvline(capacity.ALPHA_C_THEORY, color="0.4", ls="--", lw=1, label="classical 0.138")
    ax.set(title="modern Hopfield network (Ramsauer et al. 2020)", xlabel="load K/N",
           ylabel="fraction retrieved", ylim=(-0.05, 1.05))
    ax.set_xscale("log")
    ax.legend(fontsize=7)
    return fig
