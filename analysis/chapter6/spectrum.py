"""Hessian spectra of the chapter's trained networks, exact and estimated (C12, C14).

Each network is trained by gradient descent from its key (float64). At the end point:

* the full Hessian and its exact eigenvalues (``eigh``), the gradient norm, and the verdict of
  :mod:`analysis.critical` (minimum, degenerate, saddle, not stationary), with the tolerances;
* the ``k`` largest and smallest eigenvalues by Lanczos from Hessian-vector products only, each
  with its residual ``||Hv - lambda v||`` and its error against the exact value;
* Hutchinson's trace estimate with its standard error, against the exact trace;
* the spectral density by stochastic Lanczos quadrature, drawn over the exact eigenvalues.

The instruments that scale (Lanczos, Hutchinson, SLQ) are checked here, on the chapter's own
networks, against the exact answer they approximate.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from .. import critical, hessian, plots
from . import _models
from ._base import Result

NAME = "hessian"
TITLE = "Hessian spectra of the trained chapter networks: exact, Lanczos, trace, density"
ITEMS = ("C12", "C14")


@dataclasses.dataclass(frozen=True)
class Settings:
    """``model``: two_sample, xor, seven_segment or all. Training ``steps`` and
    ``learning_rate`` (0: the network's own). ``k`` extreme eigenpairs by ``lanczos_steps``
    Lanczos steps; ``trace_samples`` Hutchinson probes; ``probes`` x ``slq_steps`` for the
    density; ``batch_size`` examples a pass (0: all at once)."""

    model: str = "all"
    steps: int = 0
    learning_rate: float = 0.0
    k: int = 3
    lanczos_steps: int = 60
    trace_samples: int = 1000
    probes: int = 20
    slq_steps: int = 40
    batch_size: int = 0
    POSITIVE = ("k", "lanczos_steps", "trace_samples", "probes", "slq_steps")
    CHOICES = {"model": (*_models.MODELS, "all")}
    QUICK = {"model": "xor", "trace_samples": 200, "probes": 5}


def analyse(net: _models.Trained, settings: Settings, key: jax.Array) -> tuple[dict, dict]:
    """Everything about one trained network's Hessian: (numbers, arrays for the figure)."""
    loss, params, batch = net.model.loss, net.params, net.batch
    opts = {"batch_size": settings.batch_size or None}
    k_lanczos, k_trace, k_slq = jax.random.split(key, 3)
    h, names = hessian.hessian(loss, params, batch, **opts)
    g, _ = hessian.gradient(loss, params, batch, **opts)
    exact = np.linalg.eigvalsh(h)
    p = len(exact)
    c = critical.classify_matrix(g, h, hessian.value(loss, params, batch, **opts),
                                 grad_tol=1e-6)
    k = min(settings.k, p // 2) or 1
    pairs = hessian.lanczos(loss, params, batch, k=k, steps=min(settings.lanczos_steps, p),
                            key=k_lanczos, **opts)
    reference = np.r_[exact[:k], exact[-k:]] if len(pairs.values) == 2 * k else exact
    scale = np.abs(exact).max()
    trace = hessian.hutchinson_trace(loss, params, batch, samples=settings.trace_samples,
                                     key=k_trace, **opts)
    density = hessian.spectral_density(loss, params, batch, probes=settings.probes,
                                       steps=min(settings.slq_steps, p), key=k_slq, **opts)
    # the density's first two moments are exact functions of the quadrature; compare them
    mean_slq = float((density.weights * density.nodes).sum(1).mean())
    numbers = {
        "parameters": p, "loss": c.loss, "gradient_norm": c.gradient_norm,
        "verdict": c.verdict, "index": c.index, "nullity": c.nullity,
        "tolerance": c.tolerance, "grad_tol": c.grad_tol,
        "eigenvalues": exact.tolist(),
        "hessian": {"names": names, "matrix": h.tolist()} if p <= 20 else None,
        "lanczos": {"values": pairs.values.tolist(), "exact": reference.tolist(),
                    "residuals": pairs.residuals.tolist(),
                    "max_error_relative_to_spectral_radius":
                        float(np.abs(pairs.values - reference).max() / scale),
                    "steps": min(settings.lanczos_steps, p)},
        "trace": {"exact": float(exact.sum()), "estimate": trace.mean, "stderr": trace.stderr,
                  "samples": trace.samples,
                  "z": float((trace.mean - exact.sum()) / max(trace.stderr, 1e-300))},
        "density": {"mean_exact": float(exact.mean()), "mean_slq": mean_slq,
                    "probes": settings.probes},
    }
    return numbers, {"exact": exact, "density": density, "lanczos": pairs}


def figure(results: dict):
    fig, axes = plots.figure(2, len(results), width=4.3, height=3.3, layout="constrained")
    for col, (name, (n, arrays)) in enumerate(results.items()):
        exact, pairs, density = arrays["exact"], arrays["lanczos"], arrays["density"]
        p, m = len(exact), len(pairs.values)
        ranks = np.r_[np.arange(m // 2), np.arange(p - m // 2, p)] if m < p else np.arange(p)
        linthresh = max(1e-12, 1e-4 * np.abs(exact).max())
        ax = axes[0, col]
        ax.plot(np.arange(p), exact, ".", ms=4, color=plots.PALETTE[0], label="exact (eigh)")
        ax.plot(ranks, pairs.values, "o", mfc="none", color=plots.PALETTE[1], ms=8,
                label="Lanczos (HVPs only)")
        plots.symlog(ax, "y", linthresh, exact)
        ax.set(title=f"{name}: {n['verdict']} (|grad| {n['gradient_norm']:.1g})\n"
                     f"{n['index']} negative, {n['nullity']} within {n['tolerance']:.0e} of 0",
               xlabel="eigenvalue rank", ylabel="eigenvalue")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        ax.step(np.r_[exact[0], exact], np.arange(p + 1) / p, where="post",
                color=plots.PALETTE[0], label="exact spectrum")
        order = np.argsort(density.nodes.ravel())
        cdf = np.cumsum(density.weights.ravel()[order]) / density.weights.shape[0]
        ax.step(density.nodes.ravel()[order], cdf, where="post", ls="--",
                color=plots.PALETTE[1], label=f"SLQ ({density.weights.shape[0]} probes)")
        plots.symlog(ax, "x", linthresh, exact)
        tr = n["trace"]
        ax.set(title=f"trace {tr['exact']:.4g}; Hutchinson {tr['estimate']:.4g} "
                     f"± {tr['stderr']:.2g}", xlabel="eigenvalue",
               ylabel="fraction of eigenvalues below")
        ax.legend(fontsize=7)
    fig.suptitle("Hessian spectra at the trained points (float64)", fontsize=10)
    return fig


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    names = list(_models.MODELS) if settings.model == "all" else [settings.model]
    if settings.batch_size < 0:
        raise ValueError(f"batch_size must be >= 0 (0: all at once), got {settings.batch_size}")
    results = {}
    for i, name in enumerate(names):
        k_train, k_analysis = jax.random.split(jax.random.fold_in(key, i))
        net = _models.train_model(name, k_train, steps=settings.steps,
                                  learning_rate=settings.learning_rate, snapshots=1)
        with jax.enable_x64(True):
            results[name] = analyse(net, settings, k_analysis)
    numbers = {name: n for name, (n, _) in results.items()}
    parts = []
    for name, n in numbers.items():
        parts.append(f"{name} (P = {n['parameters']}, loss {n['loss']:.3g}, |grad| "
                     f"{n['gradient_norm']:.2g}): {n['verdict']}, eigenvalues "
                     f"{n['eigenvalues'][0]:.3g} to {n['eigenvalues'][-1]:.3g}; Lanczos within "
                     f"{n['lanczos']['max_error_relative_to_spectral_radius']:.1g} of the "
                     f"spectral radius; trace {n['trace']['exact']:.4g} vs Hutchinson "
                     f"{n['trace']['estimate']:.4g} ± {n['trace']['stderr']:.2g}")
    summary = "; ".join(parts) + "."
    return Result({"hessian": numbers}, {"hessian_spectra": figure(results)}, [], summary)
