"""The seed studies: pure functions ``study(key, **config) -> dict of arrays`` for the runner.

Each trains one network from the initialisation that ``key`` draws and reports what varies
from seed to seed (C14: training is sensitive to its initialisation and ends in different
minima). ``STUDIES`` maps a name to the function and its default config; ``run_study`` in
:mod:`analysis.seeds` runs any of them over thousands of seeds.
"""

from __future__ import annotations

import jax
import jax.flatten_util
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


def network_batch(name: str, dtype=jnp.float32):
    """The training data of the chapter network ``name`` (two_sample, xor, seven_segment)."""
    if name == "two_sample":
        return data.two_sample(dtype)
    if name == "xor":
        x, t = data.logic("XOR", dtype)
        return x, t[:, None]
    if name == "seven_segment":
        x, labels = data.seven_segment(dtype)
        return x, data.one_hot(labels, dtype=dtype)
    raise ValueError(f"network must be one of two_sample, xor, seven_segment, got {name!r}")


#: The chapter networks trained by the studies: name -> (network, initializer, learning rate,
#: steps), the settings of the seed studies above.
NETWORKS = {
    "two_sample": (TWO_SAMPLE_NET, "normal", 0.5, 5000),
    "xor": (XOR_NET, "normal", 2.0, 5000),
    "seven_segment": (SEVEN_SEGMENT_NET, "glorot", 0.5, 2000),
}


def endpoint(key, *, network: str = "xor", steps: int = 0, learning_rate: float = 0.0):
    """Where full-batch GD takes the chapter network ``network`` from the initialisation
    ``key`` draws (``steps``, ``learning_rate`` of 0: its own): ``final_loss`` and ``params``.
    The symmetry study canonicalises and counts these end points."""
    net, initializer, lr, n = NETWORKS[network]
    x, t = network_batch(network)
    params = net.init(key=key, initializer=initializer)
    fit = train.gradient_descent(net.loss, params, (x, t), learning_rate=learning_rate or lr,
                                 steps=steps or n)
    return {"final_loss": fit.final_loss, "params": fit.params}


def two_sample_saddle(dtype=jnp.float32):
    """The two-sample network's saddle at loss 0.25 (the chapter's configuration (d)): every
    weight 0 and the output bias 0.5, so the network outputs 0.5 for both samples. The hidden
    biases are free (a flat direction each, nullity 2); each pair (w_jx, wy_j) couples into one
    negative curvature (index 2). :mod:`analysis.chapter6.saddles` checks this with the full
    Hessian."""
    params = jax.tree.map(jnp.zeros_like, TWO_SAMPLE_NET.init(key=jax.random.key(0),
                                                              dtype=dtype))
    params["layers"][-1]["b"] = jnp.full_like(params["layers"][-1]["b"], 0.5)
    return params


#: The escape methods of :func:`saddle_escape`, in the order of its outputs.
ESCAPE_METHODS = ("gd", "sgd", "gd_noise")


def saddle_escape(key, *, learning_rate: float = 0.5, steps: int = 1000,
                  start_noise: float = 1e-3, noise: float = 0.01, drop: float = 0.05,
                  record_every: int = 10):
    """Escape from the two-sample saddle (C14): GD, SGD and GD with small Gaussian noise.

    Each method starts from the saddle plus ``start_noise`` times a N(0, I) vector (the same
    start for all three; ``start_noise = 0`` starts exactly at the saddle) and makes ``steps``
    updates with ``learning_rate``:

    * ``gd``: the full gradient of the loss (6.53);
    * ``sgd``: one sample drawn at random each step, its gradient times 2 (an unbiased
      estimate of the full gradient of the summed loss): Algorithm 6.1 with batch size 1;
    * ``gd_noise``: the full gradient plus ``noise`` times fresh N(0, I) noise (perturbed GD).

    A run has escaped at the first step whose loss is below ``0.25 - drop``.

    Returns, per method m: ``escape_<m>`` (the step, or ``steps + 1`` if it never escaped),
    ``final_loss_<m>``, and ``grad_norm_<m>`` (the full gradient's norm every ``record_every``
    steps, a trace of ``steps // record_every`` values).
    """
    x, t = data.two_sample()
    loss = TWO_SAMPLE_NET.loss
    grad = jax.grad(loss)
    saddle = two_sample_saddle()
    k_start, k_run = jax.random.split(key)
    flat, unravel = jax.flatten_util.ravel_pytree(saddle)
    start = unravel(flat + start_noise * jax.random.normal(k_start, flat.shape, flat.dtype))

    def direction(method, params, k):
        if method == "gd":
            return grad(params, (x, t))
        if method == "sgd":
            i = jax.random.randint(k, (1,), 0, 2)
            return jax.tree.map(lambda g: 2.0 * g, grad(params, (x[i], t[i])))
        g = grad(params, (x, t))
        leaves, tree = jax.tree.flatten(g)
        ks = jax.random.split(k, len(leaves))
        return jax.tree.unflatten(tree, [a + noise * jax.random.normal(kk, a.shape, a.dtype)
                                         for a, kk in zip(leaves, ks)])

    out = {}
    for m, method in enumerate(ESCAPE_METHODS):
        def body(carry, i, method=method, m=m):
            params, escaped = carry
            d = direction(method, params, jax.random.fold_in(jax.random.fold_in(k_run, m), i))
            params = jax.tree.map(lambda p, g: p - learning_rate * g, params, d)
            value = loss(params, (x, t))
            escaped = jnp.where((escaped > steps) & (value < 0.25 - drop), i + 1, escaped)
            gnorm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grad(params, (x, t)))))
            return (params, escaped), gnorm

        (params, escaped), gnorms = jax.lax.scan(body, (start, jnp.int32(steps + 1)),
                                                 jnp.arange(steps, dtype=jnp.int32))
        out[f"escape_{method}"] = escaped
        out[f"final_loss_{method}"] = loss(params, (x, t))
        out[f"grad_norm_{method}"] = gnorms[record_every - 1::record_every]
    return out


STUDIES = {
    "two_sample": (two_sample, {"learning_rate": 0.5, "steps": 5000, "init_scale": 1.0}),
    "seven_segment": (seven_segment, {"learning_rate": 0.5, "steps": 2000, "hidden": 18}),
    "xor": (xor, {"learning_rate": 2.0, "steps": 5000, "init_scale": 1.0}),
    "endpoint": (endpoint, {"network": "xor", "steps": 0, "learning_rate": 0.0}),
    "saddle_escape": (saddle_escape, {"learning_rate": 0.5, "steps": 1000, "start_noise": 1e-3,
                                      "noise": 0.01, "drop": 0.05, "record_every": 10}),
}
