"""Fig 6.10: a 1-3-1 network approximating four functions (C11), and the linear collapse (C5)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ch6jax import data, train
from ch6jax.mlp import MLP

from .. import plots
from ._base import Result

NAME = "approximation"
TITLE = "Universal approximation with three hidden units"
ITEMS = ("C5", "C11")


@dataclasses.dataclass(frozen=True)
class Settings:
    """A 1-``hidden``-1 network (sigmoid hidden, identity output, squared error) trained by Adam
    on 30 points of [-1, 1] from ``restarts`` random starts at once; the start with the lowest
    training loss is kept (the chapter gives no optimiser; a 3-unit fit of a step needs one that
    copes with badly scaled curvature)."""

    hidden: int = 3
    learning_rate: float = 0.05
    steps: int = 6000
    restarts: int = 16
    POSITIVE = ("hidden", "learning_rate", "steps", "restarts")
    QUICK = {"steps": 1500, "restarts": 4}


def fit_best(net: MLP, batch, key, settings: Settings):
    """Train ``restarts`` networks in one vmapped call; return the best parameters and loss."""
    optimizer = optax.adam(settings.learning_rate)

    def one(k):
        params = net.init(key=k, initializer="normal", scale=2.0)
        result = train.gradient_descent(net.loss, params, batch, optimizer=optimizer,
                                        steps=settings.steps)
        return result.params, result.final_loss

    params, losses = jax.jit(jax.vmap(one))(jax.random.split(key, settings.restarts))
    best = int(jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf)))
    return jax.tree.map(lambda a: a[best], params), losses


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    net = MLP((1, settings.hidden, 1), activation="sigmoid", output="identity")
    numbers, fig_data = {}, {}
    for i, name in enumerate(data.TARGETS):
        d = data.approximation(name)
        params, losses = fit_best(net, (d.x_train, d.t_train), jax.random.fold_in(key, i),
                                  settings)
        y_test = net.apply(params, d.x_test)
        hidden = net.hidden(params, d.x_test)[0]                   # (50, M)
        w_out = params["layers"][-1]["w"][:, 0]
        contributions = np.asarray(hidden * w_out)                 # w_j h_j(x)
        b_out = float(params["layers"][-1]["b"][0])
        numbers[name] = {
            "test_mse": float(jnp.mean((y_test - d.t_test) ** 2)),
            "train_mse": float(jnp.mean((net.apply(params, d.x_train) - d.t_train) ** 2)),
            "max_abs_error": float(jnp.max(jnp.abs(y_test - d.t_test))),
            "output_bias": b_out,
            "restart_train_losses": np.asarray(losses).tolist(),
        }
        fig_data[name] = (d, np.asarray(y_test), contributions, b_out)

    # C5: without a hidden nonlinearity the network is a linear model. Its best fit of x^2
    # equals least squares on (1, x), whatever the width.
    d = data.approximation("x2")
    linear_net = MLP((1, settings.hidden, 1), activation="identity", output="identity")
    lin_params, _ = fit_best(linear_net, (d.x_train, d.t_train), jax.random.fold_in(key, 99),
                             settings)
    design = np.hstack([np.ones((30, 1)), np.asarray(d.x_train)])
    coef, *_ = np.linalg.lstsq(design, np.asarray(d.t_train), rcond=None)
    numbers["linear_collapse"] = {
        "identity_network_train_mse": float(jnp.mean(
            (linear_net.apply(lin_params, d.x_train) - d.t_train) ** 2)),
        "least_squares_train_mse": float(np.mean((design @ coef - np.asarray(d.t_train)) ** 2)),
    }

    fig, axes = plots.figure(1, 4, width=3.3, height=3.0)
    titles = {"x2": "(a) x^2", "abs": "(b) |x|", "tanh": "(c) tanh(x)", "step": "(d) H(x)"}
    for ax, (name, (d, y_test, contrib, b_out)) in zip(axes[0], fig_data.items()):
        xs = np.asarray(d.x_test[:, 0])
        fine = np.linspace(-1, 1, 400)
        ax.plot(fine, np.asarray(data.TARGETS[name](jnp.asarray(fine))), color=plots.PALETTE[2],
                lw=2, label="target")
        ax.scatter(xs, y_test[:, 0], s=10, color=plots.PALETTE[0], zorder=3,
                   label="network (50 test points)")
        for j in range(contrib.shape[1]):
            ax.plot(xs, contrib[:, j], ls="--", lw=1, color=plots.PALETTE[(1, 3, 4)[j % 3]],
                    label=f"w_{j + 1} h_{j + 1}(x)")
        ax.set(title=f"{titles[name]}: test MSE {numbers[name]['test_mse']:.1e}", xlabel="x")
        ax.text(0.02, 0.02, f"output bias {b_out:.2f}", transform=ax.transAxes, fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="upper center")
    summary = ("Test MSE on 50 points: " + ", ".join(
        f"{n} {numbers[n]['test_mse']:.1e}" for n in data.TARGETS) +
        f". With identity hidden units the best fit of x^2 has MSE "
        f"{numbers['linear_collapse']['identity_network_train_mse']:.4f}, the least-squares "
        f"line's {numbers['linear_collapse']['least_squares_train_mse']:.4f}.")
    return Result({"uat": numbers}, {"fig6_10_approximation": fig}, [], summary)
