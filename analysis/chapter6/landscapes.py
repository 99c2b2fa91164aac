"""Loss landscapes of the chapter's trained networks (C12-C14, Fig 6.12).

A network is trained by gradient descent from its key, keeping snapshots of the parameters. Around
the end point, the loss is mapped on two planes:

* random directions, filter-normalised (Li et al. 2018; biases zeroed, the second direction made
  orthogonal to the first, see :mod:`analysis.landscape`), ``span`` times the filter norms;
* the Hessian's two top eigenvectors (the sharpest directions), rescaled to the norm of the
  random directions so that both planes share units and their curvature can be compared;
* the plane of the training trajectory: its two top principal directions (Li et al., section 7),
  spanning the trajectory's extent. On the other two planes the trajectory projects to almost a
  point (random directions are nearly orthogonal to any path in many dimensions).

The training trajectory is projected onto each plane, and the loss along the straight line from
the initial to the final parameters (with its barrier) shows whether training had to climb.
Grids are evaluated by the fast MLP path (:func:`analysis.landscape.mlp_slice_2d`).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from .. import landscape, plots
from . import _models
from ._base import Result

NAME = "landscape"
TITLE = "Loss landscapes: random and Hessian planes through a trained network"
ITEMS = ("C12", "C14")


@dataclasses.dataclass(frozen=True)
class Settings:
    """``model``: one of two_sample, xor, seven_segment. A ``grid`` x ``grid`` slice spanning
    ``span`` (in units of the filter-normalised directions) each way. ``steps`` and
    ``learning_rate`` of the training (0: the network's own), ``snapshots`` points of its
    trajectory."""

    model: str = "seven_segment"
    grid: int = 101
    span: float = 1.0
    steps: int = 0
    learning_rate: float = 0.0
    snapshots: int = 40
    POSITIVE = ("grid", "span", "snapshots")
    CHOICES = {"model": tuple(_models.MODELS)}
    QUICK = {"grid": 31, "steps": 500, "snapshots": 10}


def _scaled_like(direction, reference):
    """``direction`` rescaled to the Euclidean norm of ``reference`` (both pytrees)."""
    v, unravel = jax.flatten_util.ravel_pytree(direction)
    r, _ = jax.flatten_util.ravel_pytree(reference)
    return unravel(v * (jnp.linalg.norm(r) / jnp.linalg.norm(v)))


def _slice_numbers(sl: landscape.Slice, seconds: float) -> dict:
    z = np.asarray(sl.loss)
    centre = z[len(sl.beta) // 2, len(sl.alpha) // 2]
    i, j = np.unravel_index(np.argmin(z), z.shape)
    return {"grid": len(sl.alpha), "span": float(sl.alpha[-1]), "centre_loss": float(centre),
            "min_loss": float(z.min()), "min_at": [float(sl.alpha[j]), float(sl.beta[i])],
            "max_loss": float(z.max()), "seconds": seconds,
            "microseconds_per_point": 1e6 * seconds / z.size}


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    if settings.model not in _models.MODELS:
        raise ValueError(f"model must be one of {sorted(_models.MODELS)}, "
                         f"got {settings.model!r}")
    k_train, k_dirs, k_lanczos = jax.random.split(key, 3)
    net = _models.train_model(settings.model, k_train, steps=settings.steps,
                              learning_rate=settings.learning_rate,
                              snapshots=settings.snapshots)
    model, params, batch = net.model, net.params, net.batch
    numbers = {"model": settings.model, "description": _models.MODELS[settings.model].description,
               "parameters": _models.parameter_count(params), "steps": net.steps}
    slices, projections = {}, {}
    with jax.enable_x64(True):
        numbers["final_loss"] = float(model.loss(params, batch))
        d_random = landscape.random_directions(k_dirs, params)
        (h1, h2), eig = landscape.hessian_directions(model.loss, params, batch, pick="top",
                                                     key=k_lanczos)
        d_hessian = (_scaled_like(h1, d_random[0]), _scaled_like(h2, d_random[1]))
        d_path, explained = landscape.trajectory_directions(net.trajectory, params)
        on_path = landscape.project(net.trajectory, params, *d_path)
        planes = {"random": (d_random, settings.span), "hessian": (d_hessian, settings.span),
                  "trajectory": (d_path, 1.1 * float(np.abs(on_path).max()))}
        landscape.mlp_slice_2d(model, params, batch, *d_random, span=settings.span,
                               grid=settings.grid)  # compile outside the timing
        for name, ((d1, d2), span) in planes.items():
            start = time.perf_counter()
            slices[name] = landscape.mlp_slice_2d(model, params, batch, d1, d2, span=span,
                                                  grid=settings.grid)
            numbers[name] = _slice_numbers(slices[name], time.perf_counter() - start)
            projections[name] = landscape.project(net.trajectory, params, d1, d2)
        numbers["trajectory"]["explained"] = explained.tolist()
        losses = jax.vmap(model.loss, in_axes=(0, None))(net.trajectory, batch)
        numbers["snapshot_losses"] = np.asarray(losses).tolist()
        numbers["snapshot_steps"] = net.snapshot_steps
        numbers["hessian"]["eigenvalues"] = eig.tolist()
        first = jax.tree.map(lambda a: a[0], net.trajectory)
        line = landscape.path(model.loss, first, params, batch, points=201)
    numbers["path"] = {"barrier": line.barrier, "start_loss": float(line.loss[0]),
                       "end_loss": float(line.loss[-1]), "max_loss": float(line.loss.max())}
    figures = {f"landscape_{settings.model}": figure(slices, projections, line, numbers,
                                                     settings)}
    r, h, p = numbers["random"], numbers["hessian"], numbers["path"]
    summary = (f"{numbers['description']} ({numbers['parameters']} parameters), trained to loss "
               f"{numbers['final_loss']:.3g}. Along random filter-normalised directions the "
               f"loss at span {settings.span:g} reaches {r['max_loss']:.3g}; along the top "
               f"Hessian eigenvectors (lambda = {eig[0]:.3g}, {eig[1]:.3g}), scaled alike, "
               f"{h['max_loss']:.3g}. The training path's top two principal directions hold "
               f"{sum(numbers['trajectory']['explained']):.0%} of it. The straight line "
               f"from the start to the end has a barrier of {p['barrier']:.3g}. Each {settings.grid}x{settings.grid} slice took "
               f"{r['seconds']:.2f} s ({r['microseconds_per_point']:.1f} us a point).")
    return Result({"landscape": {settings.model: numbers}}, figures, [], summary)


def figure(slices: dict, projections: dict, line: landscape.Path, numbers: dict,
           settings: Settings):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 12.6), layout="constrained")
    explained = numbers["trajectory"]["explained"]
    titles = {"random": "random filter-normalised plane",
              "hessian": "plane of the top two Hessian eigenvectors",
              "trajectory": f"plane of the training path (PCA: {explained[0]:.0%} + "
                            f"{explained[1]:.0%})"}
    for row, name in enumerate(titles):
        ax = fig.add_subplot(3, 3, 3 * row + 1)
        plots.landscape_contour(ax, slices[name], trajectory=projections[name])
        ax.set_title(f"{titles[name]}\n(training path projected: o start, * end)", fontsize=9)
        ax = fig.add_subplot(3, 3, 3 * row + 2, projection="3d")
        plots.landscape_surface(ax, slices[name], log=True)
        ax.set_title(titles[name], fontsize=9)
    ax = fig.add_subplot(3, 3, 3)
    ax.semilogy(line.t, line.loss, color=plots.PALETTE[0])
    ax.set(title=f"Straight line from the initial to the trained parameters\n"
                 f"barrier {line.barrier:.3g}", xlabel="t in (1 - t) start + t end",
           ylabel="loss")
    ax = fig.add_subplot(3, 3, 6)
    for name, color in (("random", plots.PALETTE[0]), ("hessian", plots.PALETTE[1])):
        sl = slices[name]
        ax.semilogy(sl.alpha, sl.loss[len(sl.beta) // 2], color=color,
                    label=f"{name}: direction 1")
        ax.semilogy(sl.beta, sl.loss[:, len(sl.alpha) // 2], color=color, ls="--",
                    label=f"{name}: direction 2")
    ax.set(title="Cross-sections through the trained point (same units)",
           xlabel="step along the direction", ylabel="loss")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(3, 3, 9)
    ax.semilogy(numbers["snapshot_steps"], numbers["snapshot_losses"], "o-", ms=3,
                color=plots.PALETTE[2])
    ax.set(title="Loss at the trajectory's snapshots", xlabel="gradient-descent step",
           ylabel="loss")
    fig.suptitle(f"Loss landscape of {numbers['description']}", fontsize=11)
    return fig
