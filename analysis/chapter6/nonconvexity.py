"""Fig 6.11: weight-space symmetry makes the loss non-convex, computed exactly (C12, C13).

The two-sample network (6.51), f(x) = wy1 s(w1x x + b1) + wy2 s(w2x x + b2) + by with the
sigmoid s, and the loss (6.53), 1/2 sum_i (f(x_i) - t_i)^2 on x = -1 -> 0, x = 1 -> 1. The
chapter's configuration (a) is w1x = 5, wy1 = 1, w2x = -5, all else 0; (b) swaps the hidden
units; (c) is their average. For each: the loss, the gradient by parameter name, the full 7x7
Hessian in float64 and its eigenvalues, and a verdict from :mod:`analysis.critical`.

Configuration (d), claimed to be a worse local minimum with loss 0.25, is searched for: the
stationary points reached from many random starts by :func:`analysis.critical.find_stationary`,
each classified with its full Hessian, plotted as loss against index (Dauphin et al. 2014).
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
    """The slice through (a), (b), (c): ``grid`` points a side, ``span`` times |b - a|. The
    search for (d): ``starts`` points drawn N(0, start_scale^2), ``search_steps`` iterations."""

    grid: int = 81
    span: float = 0.8
    starts: int = 512
    start_scale: float = 3.0
    search_steps: int = 300
    POSITIVE = ("grid", "span", "starts", "start_scale", "search_steps")
    QUICK = {"grid": 41, "starts": 128}


def _batch():
    x, t = data.two_sample(jnp.float64)
    return x[:, 0], t[:, 0]


def analyse(p: dict) -> dict:
    """Loss, named gradient, named Hessian, eigenvalues and verdict of one configuration."""
    with jax.enable_x64(True):   # callers may be outside x64: every number here is float64
        batch = _batch()
        g, names = hessian.gradient(loss, p, batch)
        h, _ = hessian.hessian(loss, p, batch)
        c = critical.classify_matrix(g, h, hessian.value(loss, p, batch, reduction="sum"))
    return {"parameters": {k: float(v) for k, v in p.items()}, "loss": c.loss, "gradient": dict(zip(names, g.tolist())),
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
    numbers["search"], found = search_d(settings, key)
    if found is not None:
        numbers["d"] = found
    numbers["path"] = {"t": ts[::10].tolist(), "loss": path[::10].tolist(),
                       "barrier": float(path[(ts >= 0) & (ts <= 1)].max()
                                        - max(numbers["a"]["loss"], numbers["b"]["loss"]))}
    errata = _errata(numbers)

    fig, axes = plots.figure(1, 3, width=4.4, height=3.6, layout="constrained")
    ax = axes[0, 0]
    ax.semilogy(ts, path, color=plots.PALETTE[0])
    for t_, name in ((0, "a"), (0.5, "c"), (1, "b")):
        ax.plot(t_, numbers[name]["loss"], "o", color="k")
        right = name == "b"  # (b)'s label to its left, inside the axes
        ax.annotate(f"({name}) {numbers[name]['loss']:.2g}", (t_, numbers[name]["loss"]),
                    textcoords="offset points", xytext=(-4 if right else 4, 6), fontsize=8,
                    ha="right" if right else "left")
    ax.set(title="Straight path (a) -> (c) -> (b)", xlabel="t in (1 - t) a + t b",
           ylabel="loss (6.53)")
    ax = axes[0, 1]
    levels = np.geomspace(max(plane.min(), 1e-12), plane.max(), 25)
    cs = ax.contourf(su, sw, plane, levels=levels, norm=plots.LogNorm(), cmap="viridis",
                     extend="both")
    plots.log_colorbar(cs, ax)
    for name, v in (("a", va), ("b", vb), ("c", vc)):
        d = v - vc
        ax.plot(d @ u, d @ w, "o", color="w")
        ax.annotate(name, (d @ u, d @ w), color="w", xytext=(4, 4), textcoords="offset points")
    ax.set(title="Plane through a, c, b", xlabel="along b - a",
           ylabel="along grad at (c), orthogonalised")
    ax = axes[0, 2]
    points = numbers["search"]["points"]
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(points))
    colors = {"strict minimum": plots.PALETTE[2], "degenerate": plots.PALETTE[0],
              "saddle": plots.PALETTE[3], "maximum": plots.PALETTE[1]}
    for verdict, color in colors.items():
        sel = [i for i, q in enumerate(points) if q["verdict"] == verdict]
        if sel:
            ax.scatter([points[i]["index"] + jitter[i] for i in sel],
                       [points[i]["loss"] for i in sel], s=12, color=color, label=verdict)
    ax.set(title=f"Stationary points from {settings.starts} starts",
           xlabel="index (negative eigenvalues)", ylabel="loss")
    ax.legend(fontsize=7)
    summary = (f"(a) and (b) have loss {numbers['a']['loss']:.4g}, (c) {numbers['c']['loss']:.4g}: "
               f"the loss is not convex. But none of the three is a stationary point: "
               f"|grad| = {numbers['a']['gradient_norm']:.3g} at (a) and "
               f"{numbers['c']['gradient_norm']:.3g} at (c); the full Hessian at (a) has "
               f"eigenvalues from {numbers['a']['eigenvalues'][0]:.2g} to "
               f"{numbers['a']['eigenvalues'][-1]:.3g}. Stationary points with loss 0.25 "
               f"(the chapter's (d)): {numbers['search']['summary']}.")
    figures = {"fig6_11_nonconvexity": fig}
    surfaces = [(name, n) for name, n in (("minimum found (loss 0)", numbers["search"]["minimum"]),
                                          ("saddle found (loss 0.25)", numbers.get("d")))
                if n is not None]
    if surfaces:
        figures["fig6_12_surfaces"] = surface_figure(surfaces, settings)
    return Result({"nonconvexity": numbers}, figures, errata, summary)


def surface_figure(points, settings: Settings):
    """Fig 6.12 on the real network: each point drawn as a surface over its own Hessian
    eigen-directions: the two most curved for a minimum; the most negative and the most
    positive for a saddle."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(5.2 * len(points), 4.2))
    with jax.enable_x64(True):
        batch = _batch()
    for i, (title, n) in enumerate(points):
        h = np.array(n["hessian"]["matrix"])
        eig, vec = np.linalg.eigh(h)
        pick = (0, len(eig) - 1) if eig[0] < -n["tolerance"] else (len(eig) - 2, len(eig) - 1)
        u, w = vec[:, pick[0]], vec[:, pick[1]]
        names = n["hessian"]["names"]
        v0 = np.array([n["parameters"][k] for k in names])
        # each axis spans about where its quadratic term reaches 2 (capped): a weak direction
        # gets a longer axis, or its curvature would not show beside a strong one
        r1, r2 = (min(8.0, 2.0 / np.sqrt(max(abs(eig[j]), 1e-6))) for j in pick)
        aa, bb = np.meshgrid(np.linspace(-r1, r1, settings.grid // 2 + 1),
                             np.linspace(-r2, r2, settings.grid // 2 + 1))
        with jax.enable_x64(True):
            pts = v0 + aa[..., None] * u + bb[..., None] * w
            f = jax.jit(jax.vmap(lambda v: loss(dict(zip(names, v)), batch)))
            z = np.asarray(f(jnp.asarray(pts.reshape(-1, len(names))))).reshape(aa.shape)
        ax = fig.add_subplot(1, len(points), i + 1, projection="3d")
        ax.plot_surface(aa, bb, z, cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
        ax.scatter([0], [0], [n["loss"]], color="r", s=30)
        ax.set_title(f"{title}\nlambda = {eig[pick[0]]:.3g}, {eig[pick[1]]:.3g}", fontsize=9)
        ax.set_xlabel("eigenvector 1", fontsize=8)
        ax.set_ylabel("eigenvector 2", fontsize=8)
        ax.set_zlabel("loss", fontsize=8)
    fig.suptitle("Fig 6.12 on the two-sample network: surfaces along Hessian eigen-directions",
                 fontsize=10, y=1.03)
    return fig


def search_d(settings: Settings, key: jax.Array):
    """Stationary points from many starts, classified; and a representative of loss 0.25."""
    import collections

    keys = jax.random.split(key, len(PARAMETERS))
    with jax.enable_x64(True):
        starts = {k: settings.start_scale * jax.random.normal(kk, (settings.starts,),
                                                               jnp.float64)
                  for k, kk in zip(PARAMETERS, keys)}
        batch = _batch()
        found = critical.find_stationary(loss, starts, batch, steps=settings.search_steps)
        labels = critical.label(found)
    points, d, minimum = [], None, None
    for s, lab in enumerate(labels):
        if isinstance(lab, str):
            continue
        points.append({"loss": lab.loss, "verdict": lab.verdict, "index": lab.index,
                       "nullity": lab.nullity})
        at = {k: jax.tree.map(lambda a: a[s], found.params)[k] for k in PARAMETERS}
        if d is None and abs(lab.loss - 0.25) < 1e-9:
            d = analyse(at)
        if minimum is None and lab.index == 0 and lab.loss < 1e-12:
            minimum = analyse(at)
    kinds = collections.Counter(
        (round(q["loss"], 6), q["verdict"], q["index"], q["nullity"]) for q in points)
    at_quarter = [q for q in points if abs(q["loss"] - 0.25) < 1e-9]
    verdicts = collections.Counter(q["verdict"] for q in at_quarter)
    text = (", ".join(f"{v} x{c}" for v, c in verdicts.items()) or "none found") + \
        f" (of {len(points)} stationary points found)"
    summary = {
        "starts": settings.starts,
        "stationary": len(points),
        "gradient_flat": sum(1 for lab in labels if lab == "gradient-flat"),
        "not_converged": sum(1 for lab in labels if lab == "not converged"),
        "kinds": [{"loss": k[0], "verdict": k[1], "index": k[2], "nullity": k[3], "count": c}
                  for k, c in sorted(kinds.items())],
        "loss_0_25": dict(verdicts),
        "summary": text,
        "points": points,
        "minimum": minimum,
    }
    return summary, d


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
    ] + _errata_d(n)


def _errata_d(n: dict) -> list:
    quarter = n["search"]["loss_0_25"]
    if not quarter or set(quarter) == {"strict minimum"}:
        return []
    d = n.get("d")
    detail = (f"; e.g. eigenvalues {np.round(d['eigenvalues'], 4).tolist()}" if d else "")
    return [Erratum(
        "C13, configuration (d)",
        "another configuration with loss 0.25 and a positive definite Hessian: a worse local "
        "minimum",
        f"every stationary point of loss 0.25 found from {n['search']['starts']} starts is "
        + ", ".join(f"a {v} ({c})" for v, c in quarter.items()) + detail,
        "Loss 0.25 with zero gradient needs a constant output 0.5, and the gradients in wy1 "
        "and wy2 then vanish only if w1x = w2x = 0. At those points the Hessian has negative "
        "eigenvalues (and zero ones, along the set of such points): they are saddles, not "
        "minima. Gradient descent from 10,000 seeds reaches a near-zero loss every time "
        "(seed_studies).")]
