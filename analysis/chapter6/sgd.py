"""Algorithm 6.1 at work: mini-batch SGD, reshuffling and early stopping (C9)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import train
from ch6jax.mlp import MLP

from .. import plots
from ._base import Result

NAME = "sgd"
TITLE = "Algorithm 6.1: mini-batch SGD with early stopping"
ITEMS = ("C9",)


@dataclasses.dataclass(frozen=True)
class Settings:
    """A 1-``hidden``-1 tanh network fitted to ``n_train`` noisy samples of sin(3x) with a
    validation set of ``n_val``; Algorithm 6.1 with batch size ``batch_size``, rate
    ``learning_rate``, at most ``epochs`` epochs and early-stopping ``patience``; ``seeds``
    runs at once (vmapped) to show the spread of stopping epochs."""

    hidden: int = 40
    n_train: int = 30
    n_val: int = 30
    noise: float = 0.3
    batch_size: int = 8
    learning_rate: float = 0.1
    epochs: int = 3000
    patience: int = 200
    seeds: int = 16
    POSITIVE = ("hidden", "n_train", "n_val", "noise", "batch_size", "learning_rate",
                "epochs", "patience", "seeds")
    QUICK = {"epochs": 800, "patience": 100, "seeds": 4}


def make_data(key, n, noise):
    kx, kn = jax.random.split(key)
    x = jax.random.uniform(kx, (n, 1), minval=-1.0, maxval=1.0)
    return x, jnp.sin(3 * x) + noise * jax.random.normal(kn, (n, 1))


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    if settings.batch_size > settings.n_train:
        raise ValueError(f"batch_size must be at most n_train ({settings.n_train}), "
                         f"got {settings.batch_size}")
    k_train, k_val, k_seeds = jax.random.split(key, 3)
    train_set = make_data(k_train, settings.n_train, settings.noise)
    val_set = make_data(k_val, settings.n_val, settings.noise)
    net = MLP((1, settings.hidden, 1), activation="tanh", output="identity")

    def one(k):
        k_init, k_order = jax.random.split(k)
        return train.sgd(net.loss, net.init(key=k_init), train_set, key=k_order,
                         learning_rate=settings.learning_rate, batch_size=settings.batch_size,
                         epochs=settings.epochs, validation=val_set, patience=settings.patience)

    results = jax.jit(jax.vmap(one))(jax.random.split(k_seeds, settings.seeds))
    best_epoch = np.asarray(results.best_epoch)
    epochs_run = np.asarray(results.epochs_run)
    best_val = np.array([np.nanmin(v) for v in np.asarray(results.history.val_loss)])
    final_train = np.array([v[r - 1] for v, r in zip(np.asarray(results.history.train_loss),
                                                    epochs_run)])
    numbers = {
        "batches_per_epoch": -(-settings.n_train // settings.batch_size),
        "last_batch_size": settings.n_train % settings.batch_size or settings.batch_size,
        "stopped_early": int(np.asarray(results.stopped_early).sum()),
        "seeds": settings.seeds,
        "best_epoch": best_epoch.tolist(),
        "epochs_run": epochs_run.tolist(),
        "best_val_loss": best_val.tolist(),
        "train_loss_at_stop": final_train.tolist(),
        "settings": dataclasses.asdict(settings),
    }

    fig, axes = plots.figure(1, 2, width=4.2, height=3.3)
    ax = axes[0, 0]
    hist = jax.tree.map(lambda a: np.asarray(a[0]), results.history)
    epochs = np.arange(1, settings.epochs + 1)
    ax.semilogy(epochs, hist.train_loss, label="training loss", color=plots.PALETTE[0])
    ax.semilogy(epochs, hist.val_loss, label="validation loss", color=plots.PALETTE[1])
    ax.axvline(best_epoch[0], color=plots.PALETTE[2], ls="--", lw=1,
               label=f"best epoch {best_epoch[0]} (restored)")
    ax.axvline(epochs_run[0], color="gray", ls=":", lw=1, label=f"stopped at {epochs_run[0]}")
    ax.set(title="Seed 0: losses per epoch", xlabel="epoch", ylabel="mean loss")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    xs = jnp.linspace(-1, 1, 200)[:, None]
    ax.scatter(np.asarray(train_set[0]), np.asarray(train_set[1]), s=12, label="train",
               color=plots.PALETTE[0])
    ax.scatter(np.asarray(val_set[0]), np.asarray(val_set[1]), s=12, marker="x",
               label="validation", color=plots.PALETTE[1])
    first = jax.tree.map(lambda a: a[0], results.params)
    ax.plot(np.asarray(xs), np.asarray(net.apply(first, xs)), color="k", lw=1.2,
            label="restored best network")
    ax.plot(np.asarray(xs), np.sin(3 * np.asarray(xs)), color=plots.PALETTE[2], lw=1, ls="--",
            label="sin(3x)")
    ax.set(title="Fit at the restored epoch", xlabel="x")
    ax.legend(fontsize=7)
    summary = (f"{numbers['stopped_early']}/{settings.seeds} seeds stopped early; best epochs "
               f"range {best_epoch.min()}-{best_epoch.max()} (median {int(np.median(best_epoch))})"
               f"; each epoch makes {numbers['batches_per_epoch']} updates, the last on "
               f"{numbers['last_batch_size']} samples.")
    return Result({"sgd": numbers}, {"algorithm_6_1_sgd": fig}, [], summary)
