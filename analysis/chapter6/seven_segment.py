"""Fig 6.9: a 7-18-10 network reads seven-segment digits, including ones it never saw (C10)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ch6jax import data, train
from ch6jax.mlp import MLP

from .. import plots
from ._base import Result

NAME = "seven_segment"
TITLE = "Seven-segment digits: a 7-18-10 network and irregular glyphs"
ITEMS = ("C10",)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Network 7-``hidden``-10 (sigmoid, softmax, cross-entropy) trained by full-batch gradient
    descent on the ten standard digits."""

    hidden: int = 18
    learning_rate: float = 0.5
    steps: int = 2000
    POSITIVE = ("hidden", "learning_rate", "steps")


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    x, labels = data.seven_segment()
    xi, li, why = data.seven_segment_irregular()
    net = MLP((7, settings.hidden, 10), activation="sigmoid", output="softmax")
    fit = train.gradient_descent(net.loss, net.init(key=key), (x, data.one_hot(labels)),
                                 learning_rate=settings.learning_rate, steps=settings.steps)
    p_std = np.asarray(net.apply(fit.params, x))
    p_irr = np.asarray(net.apply(fit.params, xi))
    pred_std, pred_irr = p_std.argmax(1), p_irr.argmax(1)
    irregular = [{"segments": np.asarray(v).astype(int).tolist(),
                  "lit": data.vector_to_segments(v), "label": int(lab),
                  "predicted": int(pr), "probabilities": np.round(p, 6).tolist(),
                  "description": d}
                 for v, lab, pr, p, d in zip(np.asarray(xi), np.asarray(li), pred_irr, p_irr, why)]
    numbers = {
        "standard_accuracy": float((pred_std == np.asarray(labels)).mean()),
        "standard_min_confidence": float(p_std[np.arange(10), np.asarray(labels)].min()),
        "irregular_accuracy": float((pred_irr == np.asarray(li)).mean()),
        "irregular": irregular,
        "final_loss": float(fit.final_loss),
        "settings": dataclasses.asdict(settings),
    }

    glyphs = [(v, lab, p) for v, lab, p in zip(np.asarray(x), np.asarray(labels), p_std)] + \
             [(v, lab, p) for v, lab, p in zip(np.asarray(xi), np.asarray(li), p_irr)]
    cols = 11
    rows = -(-(len(glyphs) + 1) // cols)  # +1: the standard row leaves one cell empty
    fig, axes = plots.figure(2 * rows, cols, width=1.05, height=1.15)
    for ax in axes.flat:
        ax.axis("off")
    for i, (v, lab, p) in enumerate(glyphs):
        r, c = divmod(i if i < 10 else i + 1, cols)  # standard digits on their own first row
        plots.seven_segment(axes[2 * r, c], v)
        ok = p.argmax() == lab
        axes[2 * r, c].set_title(f"{p.argmax()} ({p.max():.2f})", fontsize=8,
                                 color="k" if ok else "#d62728")
        bar = axes[2 * r + 1, c]
        bar.axis("on")
        bar.bar(np.arange(10), p, color=[plots.PALETTE[0] if k != lab else plots.PALETTE[2]
                                         for k in range(10)])
        bar.set_ylim(0, 1)
        bar.set_xticks(range(10))
        bar.tick_params(labelsize=5, length=0)
        bar.set_yticks([])
        bar.grid(False)
    fig.subplots_adjust(hspace=0.55)
    fig.suptitle("Fig 6.9: predicted digit (probability) and the distribution over 0-9; "
                 "green bar = human reading; row 1 standard, then irregular", fontsize=9)
    summary = (f"Standard digits: {numbers['standard_accuracy']:.0%} correct (lowest confidence "
               f"{numbers['standard_min_confidence']:.2f}); irregular glyphs read as a person "
               f"would: {int(round(numbers['irregular_accuracy'] * len(irregular)))}"
               f"/{len(irregular)}.")
    return Result({"seven_segment": numbers}, {"fig6_9_seven_segment": fig}, [], summary)
