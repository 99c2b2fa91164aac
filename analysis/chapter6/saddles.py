"""Saddles, cliffs and the noise of SGD (C14), measured.

The chapter claims that the noise of mini-batch SGD helps training escape saddle points and
plateaus, and names cliffs (exploding gradients) as the other hazard. Both are put to the test:

* **Escape.** The two-sample network of Fig 6.11 has a saddle at loss 0.25 (all weights 0, output
  bias 0.5: the chapter's configuration (d)), classified here with its full Hessian. From
  exactly that point, and from points 1e-6 and 1e-3 away, gradient descent, SGD (one sample a
  step) and gradient descent with small Gaussian noise run over thousands of seeds on the seed
  runner (:func:`analysis.studies.saddle_escape`); the escape-time distributions and the
  gradient-norm traces are compared.
* **Cliff.** Pascanu, Mikolov and Bengio (2013) built the smallest network with a cliff: one
  sigmoid unit fed back into itself, x_t = w sigmoid(x_{t-1}) + b, unrolled for T steps (a deep
  network whose layers share their two weights), with loss (x_T - target)^2. Where the
  recurrence crosses a bifurcation, d x_T / d(w, b) grows like a product of T slopes, and one
  plain gradient step throws the parameters far away; clipping the gradient's norm (their remedy)
  keeps the step bounded. Both traces are recorded.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import data

from .. import critical, plots, seeds, studies
from ._base import Result, study_dir

NAME = "saddles"
TITLE = "Saddles and cliffs: does SGD's noise help escape? (C14)"
ITEMS = ("C14",)

#: The escape study's starts: distance (std of the N(0, I) offset) from the saddle.
STARTS = {"at": 0.0, "1e-6": 1e-6, "1e-3": 1e-3}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Escape study: ``seeds`` per start, ``steps`` updates at ``learning_rate``, GD noise
    ``noise``; escaped when the loss is ``drop`` below 0.25. Cliff: the recurrence unrolled
    ``cliff_depth`` times, gradient descent from (``cliff_w``, ``cliff_b``) at ``cliff_lr`` for
    ``cliff_steps`` steps, and again with the gradient's norm clipped to ``clip``."""

    seeds: int = 1000
    steps: int = 1000
    learning_rate: float = 0.5
    noise: float = 0.01
    drop: float = 0.05
    chunk: int = 1000
    cliff_depth: int = 50
    cliff_w: float = 8.0
    cliff_b: float = -4.0
    cliff_lr: float = 0.02
    cliff_steps: int = 600
    clip: float = 10.0
    POSITIVE = ("seeds", "steps", "learning_rate", "noise", "drop", "chunk", "cliff_depth",
                "cliff_lr", "cliff_steps", "clip")
    QUICK = {"seeds": 128, "steps": 300, "cliff_steps": 300}


# ---------------------------------------------------------------------------------------------
# the saddle and the escape study

def classify_saddle() -> dict:
    """The two-sample saddle, classified with its full float64 Hessian."""
    with jax.enable_x64(True):
        point = studies.two_sample_saddle(jnp.float64)
        x, t = data.two_sample(jnp.float64)
        c = critical.classify(studies.TWO_SAMPLE_NET.loss, point, (x, t))
    return {"loss": c.loss, "verdict": c.verdict, "index": c.index, "nullity": c.nullity,
            "gradient_norm": c.gradient_norm, "eigenvalues": c.eigenvalues.tolist(),
            "tolerance": c.tolerance}


def escape_numbers(table: seeds.SeedTable, steps: int) -> dict:
    out = {}
    for m in studies.ESCAPE_METHODS:
        e = table.columns[f"escape_{m}"]
        done = e <= steps
        q = np.percentile(e[done], [10, 50, 90]).tolist() if done.any() else [None] * 3
        out[m] = {"fraction_escaped": float(done.mean()), "steps_p10": q[0],
                  "steps_median": q[1], "steps_p90": q[2],
                  "final_loss_median": float(np.median(table.columns[f"final_loss_{m}"]))}
    return out


def run_escape(settings: Settings, root: int, workdir, progress: bool):
    fn, defaults = studies.STUDIES["saddle_escape"]
    tables, numbers = {}, {}
    for label, start_noise in STARTS.items():
        config = dict(defaults, steps=settings.steps, learning_rate=settings.learning_rate,
                      noise=settings.noise, drop=settings.drop, start_noise=start_noise)
        out = study_dir(workdir, f"saddle_escape-{label}", root, config)
        tables[label] = seeds.run_study(fn, settings.seeds, config=config, chunk=settings.chunk,
                                        root_seed=root, out=out, resume=True, progress=progress,
                                        name="saddle_escape")
        numbers[label] = escape_numbers(tables[label], settings.steps)
        numbers[label]["config"] = config
        numbers[label]["seeds"] = settings.seeds
    return tables, numbers


# ---------------------------------------------------------------------------------------------
# the cliff

def cliff_loss(p: jax.Array, depth: int, x0: float = 0.5, target: float = 0.7) -> jax.Array:
    """(x_T - target)^2 for x_t = w sigmoid(x_{t-1}) + b, x_0 = ``x0``, T = ``depth``;
    ``p = (w, b)``. Pascanu et al. (2013), section 3's example."""
    w, b = p[0], p[1]
    x, _ = jax.lax.scan(lambda x, _: (w * jax.nn.sigmoid(x) + b, None), jnp.asarray(x0, p.dtype),
                        None, length=depth)
    return (x - target) ** 2


def cliff_descent(settings: Settings, clip: float | None):
    """Gradient descent on the cliff: (params (T+1, 2), loss (T+1,), gradient norm (T+1,))."""
    depth = settings.cliff_depth

    def step(p, _):
        value, g = jax.value_and_grad(cliff_loss)(p, depth)
        gnorm = jnp.linalg.norm(g)
        if clip is not None:  # rescale to norm `clip` when larger (Pascanu et al.'s remedy)
            g = g * jnp.minimum(1.0, clip / jnp.maximum(gnorm, 1e-300))
        return p - settings.cliff_lr * g, (p, value, gnorm)

    with jax.enable_x64(True):
        p0 = jnp.array([settings.cliff_w, settings.cliff_b], jnp.float64)
        last, (ps, values, gnorms) = jax.jit(lambda p: jax.lax.scan(
            step, p, None, length=settings.cliff_steps))(p0)
        tail = jax.value_and_grad(cliff_loss)(last, depth)
        ps = np.vstack([np.asarray(ps), np.asarray(last)[None]])
        values = np.r_[np.asarray(values), float(tail[0])]
        gnorms = np.r_[np.asarray(gnorms), float(jnp.linalg.norm(tail[1]))]
    return ps, values, gnorms


def cliff_numbers(settings: Settings) -> tuple[dict, dict]:
    traces = {"plain": cliff_descent(settings, None),
              "clipped": cliff_descent(settings, settings.clip)}
    out = {"depth": settings.cliff_depth, "start": [settings.cliff_w, settings.cliff_b],
           "learning_rate": settings.cliff_lr, "clip": settings.clip}
    for name, (ps, values, gnorms) in traces.items():
        jumps = np.linalg.norm(np.diff(ps, axis=0), axis=1)
        i = int(np.argmax(gnorms))
        out[name] = {"max_gradient_norm": float(gnorms[i]), "at_step": i,
                     "median_gradient_norm_before": float(np.median(gnorms[:max(i, 1)])),
                     "largest_step": float(jumps.max()), "final_loss": float(values[-1]),
                     "final_params": ps[-1].tolist()}
    return out, traces


# ---------------------------------------------------------------------------------------------
# figures

_COLORS = dict(zip(studies.ESCAPE_METHODS, plots.PALETTE))
_LABELS = {"gd": "GD", "sgd": "SGD (1 sample)", "gd_noise": "GD + noise"}


def escape_figure(tables: dict, numbers: dict, settings: Settings):
    fig, axes = plots.figure(1, len(tables) + 1, width=3.6, height=3.1, layout="constrained")
    bins = np.arange(0, settings.steps + 2, max(1, settings.steps // 100))
    for ax, (label, table) in zip(axes[0], tables.items()):
        for m in studies.ESCAPE_METHODS:
            e = table.columns[f"escape_{m}"]
            frac = numbers[label][m]["fraction_escaped"]
            ax.hist(e[e <= settings.steps], bins=bins, histtype="step", lw=1.4,
                    color=_COLORS[m], label=f"{_LABELS[m]} ({frac:.0%})")
        ax.set(title=f"start {label} the saddle" if label == "at" else
               f"start {label} from the saddle", xlabel="escape step", ylabel="seeds")
        ax.set_xlim(0, min(settings.steps, 4 * max(
            (numbers[label][m]["steps_p90"] or 0) for m in studies.ESCAPE_METHODS) + 10))
        ax.legend(fontsize=7)
    ax = axes[0, -1]
    table = tables["1e-6"]
    every = numbers["1e-6"]["config"]["record_every"]
    for m in studies.ESCAPE_METHODS:
        g = table.columns[f"grad_norm_{m}"]
        steps = every * np.arange(1, g.shape[1] + 1)
        lo, mid, hi = np.percentile(g, [10, 50, 90], axis=0)
        ax.semilogy(steps, np.maximum(mid, 1e-12), color=_COLORS[m], label=_LABELS[m])
        ax.fill_between(steps, np.maximum(lo, 1e-12), np.maximum(hi, 1e-12),
                        color=_COLORS[m], alpha=0.2)
    ax.set(title="|grad| from 1e-6 away (median, 10-90%)", xlabel="step",
           ylabel="full-gradient norm")
    ax.set_xlim(0, min(settings.steps, 300))
    ax.legend(fontsize=7)
    return fig


def cliff_figure(traces: dict, settings: Settings):
    fig, axes = plots.figure(1, 2, width=4.6, height=3.5, layout="constrained")
    ax = axes[0, 0]
    every = [np.asarray(tr[0]) for tr in traces.values()]
    pts = np.vstack(every)
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.15 * (hi - lo) + 0.5
    ws = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160)
    bs = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160)
    with jax.enable_x64(True):
        grid = jnp.stack(np.meshgrid(ws, bs), -1).reshape(-1, 2)
        z = np.asarray(jax.jit(jax.vmap(lambda p: cliff_loss(p, settings.cliff_depth)))(grid))
    z = z.reshape(len(bs), len(ws))
    levels = np.geomspace(1e-6, max(z.max(), 1e-5), 30)
    cs = ax.contourf(ws, bs, np.maximum(z, 1e-6), levels=levels, norm=plots.LogNorm(),
                     cmap="viridis")
    plots.log_colorbar(cs, ax)
    for (name, (ps, _, _)), color in zip(traces.items(), ("w", "#ff7f0e")):
        ax.plot(ps[:, 0], ps[:, 1], ".-", ms=2, lw=0.8, color=color, label=name)
    ax.set(title=f"Cliff: x_t = w s(x_t-1) + b, T = {settings.cliff_depth}", xlabel="w",
           ylabel="b")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for (name, (_, _, g)), color in zip(traces.items(), (plots.PALETTE[0], plots.PALETTE[1])):
        ax.semilogy(np.maximum(g, 1e-16), color=color, label=name)
    ax.axhline(settings.clip, color="k", ls=":", lw=1, label=f"clip {settings.clip:g}")
    ax.set(title="Gradient norm along descent", xlabel="step", ylabel="|grad|")
    ax.legend(fontsize=7)
    return fig


def run(settings: Settings, key: jax.Array, workdir=None, progress: bool = True) -> Result:
    root = int(jax.random.randint(key, (), 0, 2 ** 31 - 1))
    saddle = classify_saddle()
    tables, escape = run_escape(settings, root, workdir, progress)
    cliff, traces = cliff_numbers(settings)
    numbers = {"saddle": saddle, "escape": escape, "cliff": cliff, "root_seed": root}
    at, near = escape["at"], escape["1e-6"]
    p, c = cliff["plain"], cliff["clipped"]
    summary = (
        f"The two-sample network's loss-0.25 point is a {saddle['verdict']} (index "
        f"{saddle['index']}, nullity {saddle['nullity']}). Started exactly there, GD never "
        f"leaves ({at['gd']['fraction_escaped']:.0%} of {settings.seeds} seeds escape) while SGD "
        f"and noisy GD all do (median {at['sgd']['steps_median']:.0f} and "
        f"{at['gd_noise']['steps_median']:.0f} steps); from 1e-6 away GD escapes too, in a "
        f"median {near['gd']['steps_median']:.0f} steps against {near['sgd']['steps_median']:.0f}"
        f" and {near['gd_noise']['steps_median']:.0f}. Cliff: the gradient norm jumps from "
        f"{p['median_gradient_norm_before']:.2g} to {p['max_gradient_norm']:.3g} at step "
        f"{p['at_step']} and one step throws the weights {p['largest_step']:.3g} away; with the "
        f"norm clipped at {settings.clip:g}, no step exceeds {c['largest_step']:.2g} although "
        f"the gradient reaches {c['max_gradient_norm']:.3g} on the cliff face.")
    figures = {"saddle_escape": escape_figure(tables, escape, settings),
               "cliff": cliff_figure(traces, settings)}
    return Result({"saddles": numbers}, figures, [], summary)
