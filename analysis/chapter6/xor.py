"""Fig 6.4 and 6.6: XOR defeats one perceptron but not a two-layer network with skips (C4, C6)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import data, mlp, perceptron

from .. import plots
from ._base import Result

NAME = "xor"
TITLE = "XOR: not linearly separable; solved by one hidden unit with skip connections"
ITEMS = ("C4", "C6")

# Fig 6.6 with step units: h = AND(x1, x2) = H(x1 + x2 - 1.5); y = H(x1 + x2 - 2h - 0.5).
SKIP_NETWORK = {
    "layers": [{"w": np.array([[1.0], [1.0]]), "b": np.array([-1.5])},
               {"w": np.array([[-2.0]]), "b": np.array([-0.5])}],
    "skip": {"w": np.array([[1.0], [1.0]])},
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The perceptron's attempt at XOR: rate ``eta`` for ``max_epochs`` from zero weights."""

    eta: float = 1.0
    max_epochs: int = 1000
    POSITIVE = ("eta", "max_epochs")


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    x, t01 = data.logic("XOR")
    t = data.to_pm1(t01)
    r = perceptron.train(x, t, jnp.zeros(2), 0.0, eta=settings.eta,
                         max_epochs=settings.max_epochs)
    sep = perceptron.separability(x, t)
    updates_per_epoch = np.asarray(r.trace.updated).reshape(settings.max_epochs, 4).sum(1)
    # After the transient the rule cycles: the last epochs repeat the same parameters.
    last = np.asarray(r.trace.w).reshape(settings.max_epochs, 4, 2)[:, -1]
    period = next((p for p in range(1, 50) if np.allclose(last[-1], last[-1 - p])), None)

    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), SKIP_NETWORK)
    h = np.asarray(mlp.hidden(params, x, activation="step")[0][:, 0])
    y = np.asarray(mlp.heaviside(mlp.logits(params, x, activation="step"))[:, 0])
    correct = int((y == np.asarray(t01)).sum())

    numbers = {
        "perceptron": {"separable": bool(sep.separable), "converged": bool(r.converged),
                       "epochs": settings.max_epochs,
                       "updates_in_last_epoch": int(updates_per_epoch[-1]),
                       "cycle_period_epochs": period,
                       "certificate": np.asarray(sep.certificate).round(12).tolist(),
                       "certificate_residual": sep.residual},
        "two_layer_skip": {"correct": correct, "hidden": h.tolist(), "output": y.tolist(),
                           "weights": jax.tree.map(lambda a: a.tolist(), SKIP_NETWORK)},
    }

    fig, axes = plots.figure(1, 2, width=3.8, height=3.4)
    ax = axes[0, 0]
    plots.scatter_classes(ax, x, t, labels=("XOR = 1", "XOR = 0"))
    plots.decision_line(ax, np.asarray(r.w), float(r.b), (-0.5, 1.5), color="gray", ls="--",
                        label=f"perceptron after {settings.max_epochs} epochs")
    for xi, yi in zip(np.asarray(x), sep.certificate):
        ax.annotate(f"y={yi:.2f}", xi, textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.set(title="Fig 6.4: XOR (certificate weights y)", xlabel="x1", ylabel="x2",
           xlim=(-0.5, 1.5), ylim=(-0.5, 1.5))
    ax.legend(fontsize=7, loc="center")
    ax = axes[0, 1]
    grid = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(grid, grid)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1), jnp.float32)
    region = np.asarray(mlp.heaviside(mlp.logits(params, pts, activation="step")))
    ax.contourf(gx, gy, region.reshape(gx.shape), levels=[-0.5, 0.5, 1.5],
                colors=["#f4cccc", "#cfe2f3"], alpha=0.8)
    plots.scatter_classes(ax, x, t, labels=("XOR = 1", "XOR = 0"))
    rows = "\n".join(f"{int(a)} {int(b)} | h={int(hh)} y={int(yy)}"
                     for (a, b), hh, yy in zip(np.asarray(x), h, y))
    ax.text(1.55, 0.5, "x1 x2 | h  y\n" + rows, family="monospace", fontsize=7, va="center")
    ax.set(title=f"Fig 6.6: skip network, {correct}/4 correct", xlabel="x1", ylabel="x2",
           xlim=(-0.5, 1.5), ylim=(-0.5, 1.5))
    summary = (f"No hyperplane separates XOR: the LP returns the certificate y = "
               f"{np.round(sep.certificate, 3).tolist()} (residual {sep.residual:.1e}); the "
               f"perceptron still updates in epoch {settings.max_epochs}. One step unit "
               f"h = AND with skip connections gets {correct}/4.")
    return Result({"xor": numbers}, {"fig6_4_6_6_xor": fig}, [], summary)
