"""The seed studies: pure functions ``study(key, **config) -> dict of arrays`` for the runner.

Each trains one network from the initialisation that ``key`` draws and reports what varies
from seed to seed (C14: training is sensitive to its initialisation and ends in different
minima). ``STUDIES`` maps a name to the function and its default config; ``run_study`` in
:mod:`analysis.seeds` runs any of them over thousands of seeds.
"""

from __future__ import annotations

import jax.numpy as jnp

from ch6jax import data, train
from ch6jax.mlp import MLP

#: Fig 6.11's network: 1-2-1, sigmoid hidden units, identity output, loss (6.53) summed.
TWO_SAMPLE_NET = MLP((1, 2, 1), activation="sigmoid", output="identity", reduction="sum")
#: Fig 6.9's network: 7-18-10, sigmoid hidden, softmax output, cross-entropy.
SEVEN_SEGMENT_NET = MLP((7, 18, 10), activation="sigmoid", output="softmax")
#: XOR with two hidden units: 2-2-1, sigmoid hidden and output, squared error.
XOR_NET = MLP((2, 2, 1), activation="sigmoid", output="sigmoid")

#: A two-sample run "converges" when its loss falls below this (the global infimum is 0).
NEAR_ZERO_LOSS = 1e-3


def two_sample(key, *, learning_rate: float = 0.5, steps: int = 5000, init_scale: float = 1.0):
    """Fig 6.11's network on its two samples, full-batch GD from N(0, init_scale^2) weights."""
    x, t = data.two_sample()
    params = TWO_SAMPLE_NET.init(key=key, initializer="normal", scale=init_scale)
    fit = train.gradient_descent(TWO_SAMPLE_NET.loss, params, (x, t),
                                 learning_rate=learning_rate, steps=steps)
    return {"final_loss": fit.final_loss, "converged": fit.final_loss < NEAR_ZERO_LOSS,
            "params": fit.params}


def seven_segment(key, *, learning_rate: float = 0.5, steps: int = 2000, hidden: int = 18):
    """Fig 6.9's network trained on the ten standard digits; accuracy on the irregular ones."""
    net = SEVEN_SEGMENT_NET if hidden == 18 else MLP((7, hidden, 10), output="softmax")
    x, labels = data.seven_segment()
    xi, li, _ = data.seven_segment_irregular()
    fit = train.gradient_descent(net.loss, net.init(key=key), (x, data.one_hot(labels)),
                                 learning_rate=learning_rate, steps=steps)
    predicted = jnp.argmax(net.logits(fit.params, xi), axis=-1)
    return {"final_loss": fit.final_loss,
            "standard_accuracy": net.accuracy(fit.params, x, labels),
            "irregular_accuracy": jnp.mean(predicted == li),
            "irregular_predicted": predicted}


def xor(key, *, learning_rate: float = 2.0, steps: int = 5000, init_scale: float = 1.0):
    """XOR with a 2-2-1 sigmoid network by full-batch GD; ``failed``: not all four outputs on
    the right side of 0.5 after ``steps`` steps (stuck in a plateau or a local minimum)."""
    x, t = data.logic("XOR")
    t = t[:, None]
    params = XOR_NET.init(key=key, initializer="normal", scale=init_scale)
    fit = train.gradient_descent(XOR_NET.loss, params, (x, t), learning_rate=learning_rate,
                                 steps=steps)
    correct = jnp.sum((XOR_NET.apply(fit.params, x) >= 0.5) == (t >= 0.5))
    return {"final_loss": fit.final_loss, "correct": correct, "failed": correct < 4}


STUDIES = {
    "two_sample": (two_sample, {"learning_rate": 0.5, "steps": 5000, "init_scale": 1.0}),
    "seven_segment": (seven_segment, {"learning_rate": 0.5, "steps": 2000, "hidden": 18}),
    "xor": (xor, {"learning_rate": 2.0, "steps": 5000, "init_scale": 1.0}),
}
