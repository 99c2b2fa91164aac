"""Fig 6.11: weight-space symmetry makes the loss non-convex, computed exactly (C12, C13).

The two-sample network (6.51), f(x) = wy1 s(w1x x + b1) + wy2 s(w2x x + b2) + by with the
sigmoid s, and the loss (6.53), 1/2 sum_i (f(x_i) - t_i)^2 on x = -1 -> 0, x = 1 -> 1. The
chapter's configuration (a) is w1x = 5, wy1 = 1, w2x = -5, all else 0; (b) swaps the hidden
units; (c) is their average. For each: the loss, the gradient by parameter name, the full 7x7
Hessian in float64 and its eigenvalues, and a verdict from :mod:`analysis.critical`.

Still to come (issue 4): the search for configuration (d), stationary points of loss 0.25.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import data

from .. import critical, hessian, plots
from ._base import Erratum, Result

NAME = "nonconvexity"
TITLE = "Fig 6.11: symmetric minima and their average, with exact Hessians"
ITEMS = ("C12", "C13")

PARAMETERS = ("w1x", "b1", "w2x", "b2", "wy1", "wy2", "by")
CONFIG_A = {"w1x": 5.0, "b1": 0.0, "w2x": -5.0, "b2": 0.0, "wy1": 1.0, "wy2": 0.0, "by": 0.0}


def swap_hidden_units(p: dict) -> dict:
    """The symmetry of C13: exchange hidden units 1 and 2 (incoming, bias and outgoing)."""
    return {"w1x": p["w2x"], "b1": p["b2"], "w2x": p["w1x"], "b2": p["b1"],
            "wy1": p["wy2"], "wy2": p["wy1"], "by": p["by"]}


def network(p: dict, x: jax.Array) -> jax.Array:
    """(6.51) for inputs ``x`` of shape (N,)."""
    s = jax.nn.sigmoid
    return p["wy1"] * s(p["w1x"] * x + p["b1"]) + p["wy2"] * s(p["w2x"] * x + p["b2"]) + p["by"]


def loss(p: dict, batch) -> jax.Array:
    """(6.53): half the summed squared error."""
    x, t = batch
    return 0.5 * jnp.sum((network(p, x) - t) ** 2)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The slice through (a), (b), (c): ``grid`` points a side, ``span`` times |b - a|."""

    grid: int = 81
    span: float = 0.8
    POSITIVE = ("grid", "span")
    QUICK = {"grid": 41}


def _batch():
    x, t = data.two_sample(jnp.float64)
    return x[:, 0], t[:, 0]


def analyse(p: dict) -> dict:
    """Loss, named gradient, named Hessian, eigenvalues and verdict of one configuration."""
    batch = _batch()
    g, names = hessian.gradient(loss, p, batch)
    h, _ = hessian.hessian(loss, p, batch)
    c = critical.classify_matrix(g, h, float(loss(p, batch)))
    return {"parameters": dict(p), "loss": c.loss, "gradient": dict(zip(names, g.tolist())),
            "gradient_norm": c.gradient_norm,
            "hessian": {"names": names, "matrix": h.tolist()},
            "eigenvalues": c.eigenvalues.tolist(), "index": c.index, "nullity": c.nullity,
            "tolerance": c.tolerance, "verdict": c.verdict}


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    with jax.enable_x64(True):
        a = {k: jnp.float64(v) for k, v in CONFIG_A.items()}
        b = swap_hidden_units(a)
        c = {k: (a[k] + b[k]) / 2 for k in a}
        numbers = {name: analyse(p) for name, p in (("a", a), ("b", b), ("c", c))}
        batch = _batch()
        va, vb, vc = (np.array([float(p[k]) for k in PARAMETERS]) for p in (a, b, c))
        as_dict = lambda v: dict(zip(PARAMETERS, v))  # noqa: E731
        line_loss = jax.jit(jax.vmap(lambda v: loss(as_dict(v), batch)))
        ts = np.linspace(-0.25, 1.25, 301)
        path = np.asarray(line_loss(jnp.asarray(va + ts[:, None] * (vb - va))))
        # A plane through a, c, b: along b - a, and along the gradient at c made orthogonal
        # to it (the way the loss falls away from the average).
        u = (vb - va) / np.linalg.norm(vb - va)
        gc = np.array([numbers["c"]["gradient"][k] for k in PARAMETERS])
        w = gc - (gc @ u) * u
        w /= np.linalg.norm(w)
        r = settings.span * np.linalg.norm(vb - va)
        s = np.linspace(-r, r, settings.grid)
        su, sw = np.meshgrid(s, s)
        pts = vc + su[..., None] * u + sw[..., None] * w
        plane = np.asarray(line_loss(jnp.asarray(pts.reshape(-1, 7)))).reshape(su.shape)
    numbers["path"] = {"t": ts[::10].tolist(), "loss": path[::10].tolist(),
                       "barrier": float(path[(ts >= 0) & (ts <= 1)].max()
                                        - max(numbers["a"]["loss"], numbers["b"]["loss"]))}
    errata = _errata(numbers)

    fig, axes = plots.figure(1, 2, width=4.4, height=3.6)
    ax = axes[0, 0]
    ax.semilogy(ts, path, color=plots.PALETTE[0])
    for t_, name in ((0, "a"), (0.5, "c"), (1, "b")):
        ax.plot(t_, numbers[name]["loss"], "o", color="k")
        ax.annotate(f"({name}) {numbers[name]['loss']:.2g}", (t_, numbers[name]["loss"]),
                    textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set(title="Straight path (a) -> (c) -> (b)", xlabel="t in (1 - t) a + t b",
           ylabel="loss (6.53)")
    ax = axes[0, 1]
    levels = np.geomspace(max(plane.min(), 1e-12), plane.max(), 25)
    cs = ax.contourf(su, sw, plane, levels=levels, norm=plots.LogNorm(), cmap="viridis",
                     extend="both")
    fig.colorbar(cs, ax=ax, label="loss")
    for name, v in (("a", va), ("b", vb), ("c", vc)):
        d = v - vc
        ax.plot(d @ u, d @ w, "o", color="w")
        ax.annotate(name, (d @ u, d @ w), color="w", xytext=(4, 4), textcoords="offset points")
    ax.set(title="Plane through a, c, b", xlabel="along b - a",
           ylabel="along grad at (c), orthogonalised")
    summary = (f"(a) and (b) have loss {numbers['a']['loss']:.4g}, (c) {numbers['c']['loss']:.4g}: "
               f"the loss is not convex. But none of the three is a stationary point: "
               f"|grad| = {numbers['a']['gradient_norm']:.3g} at (a) and "
               f"{numbers['c']['gradient_norm']:.3g} at (c); the full Hessian at (a) has "
               f"eigenvalues from {numbers['a']['eigenvalues'][0]:.2g} to "
               f"{numbers['a']['eigenvalues'][-1]:.3g}.")
    return Result({"nonconvexity": numbers}, {"fig6_11_nonconvexity": fig}, errata, summary)


def _errata(n: dict) -> list:
    a, c = n["a"], n["c"]
    h = np.array(a["hessian"]["matrix"])
    idx = {k: i for i, k in enumerate(a["hessian"]["names"])}
    mixed = h[idx["w1x"], idx["wy1"]]
    g = a["gradient"]
    return [
        Erratum("C13, (6.56) and (6.59)",
                "d2L/dw1x dwy1 is about 0 (6.56) and d2L/dwy1 dw1x is about 6.56e-3 (6.59)",
                f"both are the same mixed partial, {mixed:.4e}",
                "The Hessian of a twice continuously differentiable loss is symmetric, so the "
                "two entries cannot differ. (6.56) keeps only the delta_i term and drops "
                "sum_i wy1 s'(w1x x_i) s(w1x x_i) x_i, which is the main one; (6.59) keeps that "
                "term (6.56e-3) but drops sum_i delta_i s'(w1x x_i) x_i, which is not "
                "negligible beside it (delta_i = +-6.7e-3)."),
        Erratum("C13, (6.54)-(6.59), configuration (a)",
                "a local minimum: the gradient is about zero and the Hessian is positive "
                "definite by its leading principal minors",
                f"not a stationary point: dL/dwy1 = {g['wy1']:.4e}, dL/dwy2 = {g['wy2']:.4e} "
                f"(|grad| = {a['gradient_norm']:.3e}; dL/dw1x = {g['w1x']:.3e} as the chapter "
                f"says). The full 7x7 Hessian has eigenvalues {a['eigenvalues'][0]:.2e} ... "
                f"{a['eigenvalues'][-1]:.3f}: index {a['index']}, nullity {a['nullity']}",
                "The chapter checks one partial derivative and a 2x2 block of (w1x, wy1). The "
                "loss keeps falling as the weights grow (its infimum 0 is never attained), and "
                "a positive definite 2x2 block says nothing about the 7x7 Hessian."),
        Erratum("C13, configuration (c)",
                "the average of (a) and (b), with loss 0.25, higher than both",
                f"loss {c['loss']:.4g} (agrees), but |grad| = {c['gradient_norm']:.3g} "
                f"(dL/dw1x = dL/dw2x = {c['gradient']['w1x']:.4g}) and the Hessian has "
                f"{c['index']} negative eigenvalue(s)",
                "The non-convexity argument holds (0.25 > the average of the two end losses), "
                "but (c) is a slope, not a stationary point."),
    ]
