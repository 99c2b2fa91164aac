"""Table 6.1 and Fig 6.3: the perceptron's exact run on the chapter's data (C3)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import data, perceptron

from .. import plots
from ._base import Erratum, Result

NAME = "perceptron"
TITLE = "The perceptron on Table 6.1"
ITEMS = ("C3",)

# The chapter's worked example and its claim about the end point.
CHAPTER_W0, CHAPTER_B0, CHAPTER_ETA = (0.75, 0.5), -0.6, 0.2
CHAPTER_FINAL = {"w": (-1.3, -1.1), "b": 10.9, "epochs": 500}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The chapter's run: initial ``w1, w2, b``, rate ``eta``; ``shuffle_seed`` < 0 keeps the
    samples in table order."""

    w1: float = CHAPTER_W0[0]
    w2: float = CHAPTER_W0[1]
    b: float = CHAPTER_B0
    eta: float = CHAPTER_ETA
    max_epochs: int = 1000
    shuffle_seed: int = -1
    POSITIVE = ("eta", "max_epochs")


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    # float64: the trace is compared with hand arithmetic, so keep it free of rounding.
    with jax.enable_x64(True):
        x, t = data.table_6_1(jnp.float64)
        order_key = None if settings.shuffle_seed < 0 else jax.random.key(settings.shuffle_seed)
        r = perceptron.train(x, t, jnp.array([settings.w1, settings.w2]), settings.b,
                             eta=settings.eta, max_epochs=settings.max_epochs, key=order_key)
        ups = perceptron.updates(r)
        sep = perceptron.separability(x, t)
        x, t = np.asarray(x), np.asarray(t)
    w, b = np.asarray(r.w), float(r.b)
    same_setup = (settings.w1, settings.w2, settings.b, settings.eta) == (
        *CHAPTER_W0, CHAPTER_B0, CHAPTER_ETA) and settings.shuffle_seed < 0
    margins = t * (x @ w + b)
    chapter_margins = t * (x @ np.array(CHAPTER_FINAL["w"]) + CHAPTER_FINAL["b"])
    numbers = {
        "w": w.round(12).tolist(), "b": round(b, 12),
        "converged": bool(r.converged),
        "epochs_to_converge": int(r.epochs_to_converge),
        "n_updates": int(r.n_updates),
        "first_update": {"epoch": int(ups["epoch"][0]), "sample": int(ups["sample"][0]) + 1,
                         "w": ups["w"][0].round(12).tolist(), "b": round(float(ups["b"][0]), 12)},
        "geometric_margin": float(margins.min() / np.linalg.norm(w)),
        "training_errors": int((margins < 0).sum() + ((x @ w + b == 0) & (t < 0)).sum()),
        "chapter_final_separates": bool((chapter_margins > 0).all()),
        "lp_margin": sep.margin,
        "settings": dataclasses.asdict(settings),
    }
    if same_setup:  # the worked example's arithmetic, checked
        w0 = np.array(CHAPTER_W0)
        checks = [
            ("sample 1 net input w.x + b", 0.65, float(x[0] @ w0 + CHAPTER_B0)),
            ("sample 2 net input w.x + b", 9.65, float(x[1] @ w0 + CHAPTER_B0)),
            ("w after sample 2", [-1.13, -0.78], ups["w"][0].round(12).tolist()),
            ("b after sample 2", -0.8, round(float(ups["b"][0]), 12)),
        ]
        numbers["chapter_checks"] = [
            {"claim": c, "chapter": book, "exact": exact,
             "agrees": bool(np.allclose(book, exact, rtol=0, atol=1e-9))}
            for c, book, exact in checks]

    fig, axes = plots.figure(1, 2, width=4.2, height=3.6)
    ax = axes[0, 0]
    plots.scatter_classes(ax, x, t, labels=("t = +1", "t = -1"))
    plots.decision_line(ax, w, b, (0, 10), color="k", lw=1.5,
                        label=f"learned: {w[0]:.2f} x1 + {w[1]:.2f} x2 + {b:.2f} = 0")
    plots.decision_line(ax, CHAPTER_FINAL["w"], CHAPTER_FINAL["b"], (0, 10), color="gray",
                        ls="--", lw=1, label="chapter's claimed end point")
    ax.set(title="Fig 6.3: Table 6.1, learned boundary", xlabel="x1", ylabel="x2",
           xlim=(0, 10), ylim=(0, 10))
    ax.legend(fontsize=7, loc="center right")
    ax = axes[0, 1]
    steps = np.arange(1, len(ups["b"]) + 1)
    ax.plot(steps, ups["w"][:, 0], marker=".", label="w1")
    ax.plot(steps, ups["w"][:, 1], marker=".", label="w2")
    ax.plot(steps, ups["b"], marker=".", label="b")
    for e in np.unique(ups["epoch"])[1:]:
        ax.axvline(np.argmax(ups["epoch"] == e) + 0.5, color="gray", lw=0.5, alpha=0.5)
    ax.set(title=f"After each update (no update in epoch {numbers['epochs_to_converge']})",
           xlabel="update", ylabel="value")
    ax.legend(fontsize=7)

    errata = []
    if same_setup and r.converged:
        errata.append(Erratum(
            "C3, Table 6.1 worked example",
            f"after about {CHAPTER_FINAL['epochs']} epochs the parameters converge to "
            f"w = {CHAPTER_FINAL['w']}, b = {CHAPTER_FINAL['b']}",
            f"the rule makes {numbers['n_updates']} updates in the first "
            f"{numbers['epochs_to_converge'] - 1} epochs, and epoch "
            f"{numbers['epochs_to_converge']} has none: w = ({w[0]:.2f}, {w[1]:.2f}), "
            f"b = {b:.2f}",
            "Table 6.1 is separable with a wide margin, so the rule stops after a handful of "
            "epochs; once an epoch makes no update the parameters never change again. The "
            "chapter's end point also separates the data"
            f" ({'yes' if numbers['chapter_final_separates'] else 'no'}), but the rule from "
            "the stated start never reaches it."))
    summary = (f"From the chapter's start the rule converges at epoch "
               f"{numbers['epochs_to_converge']} ({numbers['n_updates']} updates) to "
               f"w = ({w[0]:.2f}, {w[1]:.2f}), b = {b:.2f}; the first update reproduces the "
               f"chapter's (-1.13, -0.78), -0.8.")
    return Result({"perceptron": {"table_6_1": numbers}}, {"fig6_3_perceptron": fig}, errata,
                  summary)
