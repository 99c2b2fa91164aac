"""The chapter's backpropagation equations checked on its own networks (C7, C8)."""

from __future__ import annotations

import dataclasses

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ch6jax import backprop, data
from ch6jax.mlp import MLP

from .. import plots
from ._base import Result

NAME = "backprop"
TITLE = "Backpropagation (6.24)-(6.40) against autodiff and finite differences"
ITEMS = ("C7", "C8")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Central differences with step ``fd_step`` (float64) at random parameters."""

    fd_step: float = 1e-6
    POSITIVE = ("fd_step",)


def _cases(key):
    k = jax.random.split(key, 3)
    x7, labels = data.seven_segment(jnp.float64)
    reg = data.approximation("x2", dtype=jnp.float64)
    deep_x = jax.random.normal(k[2], (16, 4), jnp.float64)
    return {
        "regression_1_3_1": (MLP((1, 3, 1), activation="sigmoid", output="identity",
                                 reduction="sum"), (reg.x_train, reg.t_train), k[0]),
        "classification_7_18_10": (MLP((7, 18, 10), activation="sigmoid", output="softmax",
                                       reduction="sum"), (x7, data.one_hot(labels, 10, jnp.float64)),
                                   k[1]),
        "deep_tanh_skip_4_8_8_3": (MLP((4, 8, 8, 3), activation="tanh", output="softmax",
                                       skip=True), (deep_x, jax.nn.softmax(deep_x[:, :3])), k[2]),
    }


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    numbers, pairs = {}, {}
    with jax.enable_x64(True):
        for name, (net, batch, k) in _cases(key).items():
            params = net.init(key=k, initializer="normal", scale=1.0, dtype=jnp.float64)
            # one compiled call for both (op-by-op dispatch would dominate at these sizes)
            ours, auto = jax.jit(lambda p, net=net, batch=batch: tuple(
                jax.flatten_util.ravel_pytree(g)[0] for g in (
                    backprop.gradients(net, p, batch), jax.grad(net.loss)(p, batch))))(params)
            flat, unravel = jax.flatten_util.ravel_pytree(params)
            f = jax.jit(jax.vmap(lambda v: net.loss(unravel(v), batch)))
            eye = settings.fd_step * jnp.eye(flat.size)
            fd = (f(flat + eye) - f(flat - eye)) / (2 * settings.fd_step)
            scale = float(jnp.abs(auto).max())
            numbers[name] = {
                "parameters": int(flat.size),
                "max_abs_vs_autodiff": float(jnp.abs(ours - auto).max()),
                "max_rel_vs_autodiff": float(jnp.abs(ours - auto).max() / scale),
                "max_abs_vs_finite_differences": float(jnp.abs(ours - fd).max()),
                "max_rel_vs_finite_differences": float(jnp.abs(ours - fd).max() / scale),
            }
            pairs[name] = (np.asarray(ours), np.asarray(auto), np.asarray(fd))

    fig, axes = plots.figure(1, 3, width=3.3, height=3.2)
    for ax, (name, (ours, auto, fd)) in zip(axes[0], pairs.items()):
        ax.scatter(auto, ours, s=8, label="autodiff", color=plots.PALETTE[0])
        ax.scatter(fd, ours, s=3, label="finite diff.", color=plots.PALETTE[1])
        lim = np.abs(auto).max() * 1.05
        ax.plot([-lim, lim], [-lim, lim], color="gray", lw=0.6)
        ax.set(title=f"{name}\nmax |diff| vs autodiff {numbers[name]['max_abs_vs_autodiff']:.0e}",
               xlabel="reference gradient", ylabel="backprop (6.24)-(6.40)")
        ax.title.set_fontsize(8)
    axes[0, 0].legend(fontsize=7)
    worst = max(v["max_rel_vs_autodiff"] for v in numbers.values())
    worst_fd = max(v["max_rel_vs_finite_differences"] for v in numbers.values())
    summary = (f"The written-out delta equations agree with jax.grad to {worst:.0e} (relative, "
               f"float64) and with central differences to {worst_fd:.0e} on the chapter's "
               f"networks.")
    return Result({"backprop": numbers}, {"backprop_check": fig}, [], summary)
