"""Backpropagation written out: the chapter's delta equations for any depth (C7, C8).

The forward pass keeps a cache of every layer's input and activation; the backward pass runs
the chapter's recursion from the output to the input:

* output error ``delta_k = dL/da_k``: ``y_k - t_k`` for identity + squared error (6.24)-(6.25),
  for softmax + cross-entropy (6.40), and for sigmoid + binary cross-entropy; other pairings
  multiply ``y - t`` by the output's Jacobian (sigmoid ``y (1 - y)``, softmax (6.38)-(6.39));
* weight gradient = the error of the unit it feeds times its input: ``dL/dw_kj = delta_k h_j``
  (6.26), ``dL/db_k = delta_k`` (6.27), and the same one layer down (6.31)-(6.32);
* error sent back: ``dL/dh_j = sum_k delta_k w_kj`` (6.28), then
  ``delta_j = dL/dh_j * sigma'(z_j)``, with ``sigma' = h (1 - h)`` for the sigmoid (6.29)-(6.30),
  ``1 - h^2`` for tanh, ``[z > 0]`` for relu, 1 for identity and 0 for the step.

The equations are written once. A :class:`Layout` says how a layer's three products are
computed: :data:`SINGLE` for one network (``x @ w``), and ``ch6jax.ensemble.MEMBERS`` for many
networks trained in lockstep with the member axis last. Everything is checked against
``jax.grad`` and finite differences in the tests.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .mlp import ACTIVATIONS, MLP, output_activation
from .types import Batch, Params


class Layout(NamedTuple):
    """How one layer's products are computed, for activations ``a`` and weights ``w``.

    ``dense(a, w)`` is ``a @ w`` (the net input, (6.11)); ``back(delta, w)`` is
    ``delta @ w^T`` (6.28); ``weight_grad(a, delta)`` is ``a^T @ delta``, summed over samples
    ((6.26), (6.31)). ``class_axis`` is the axis of output units, and ``targets(t)`` brings
    targets ``(N, K)`` to the layout's shape of outputs.
    """

    dense: Callable
    back: Callable
    weight_grad: Callable
    class_axis: int
    targets: Callable


#: One network: activations ``(N, units)``, weights ``(fan_in, fan_out)``.
SINGLE = Layout(dense=lambda a, w: a @ w, back=lambda d, w: d @ w.T,
                weight_grad=lambda a, d: a.T @ d, class_axis=-1, targets=lambda t: t)


class Cache(NamedTuple):
    """What the forward pass keeps: ``inputs[l]`` feeds layer ``l`` (``inputs[0]`` is ``x``),
    ``inputs[1:]`` are the hidden activations; ``logits`` is ``a`` and ``y = g(a)``."""

    inputs: list
    logits: jax.Array
    y: jax.Array


def forward(net: MLP, params: Params, x: jax.Array, layout: Layout = SINGLE) -> Cache:
    """The forward pass (6.22) with its cache. ``x``: shape ``(N, D)``."""
    act = ACTIVATIONS[net.activation]
    inputs = [x]
    for layer in params["layers"][:-1]:
        inputs.append(act(layout.dense(inputs[-1], layer["w"]) + layer["b"]))   # (6.11)
    last = params["layers"][-1]
    a = layout.dense(inputs[-1], last["w"]) + last["b"]                          # (6.33)
    if "skip" in params:
        a = a + layout.dense(x, params["skip"]["w"])
    return Cache(inputs, a, output_activation(net.output, a, layout.class_axis))


def _activation_derivative(activation: str, h: jax.Array) -> jax.Array:
    """sigma'(z) expressed through h = sigma(z), as the chapter does in (6.30)."""
    if activation == "sigmoid":
        return h * (1 - h)
    if activation == "tanh":
        return 1 - h ** 2
    if activation == "relu":
        return (h > 0).astype(h.dtype)
    if activation == "identity":
        return jnp.ones_like(h)
    return jnp.zeros_like(h)  # step: flat almost everywhere


def output_error(net: MLP, cache: Cache, t: jax.Array, layout: Layout = SINGLE) -> jax.Array:
    """``delta = dL/da`` per sample, shaped like the outputs, for the unreduced loss."""
    y = cache.y
    if t.ndim == 1:  # integer class labels
        t = jax.nn.one_hot(t, y.shape[layout.class_axis], dtype=y.dtype)
    diff = y - layout.targets(t)
    if net.loss_name in ("cross_entropy", "binary_cross_entropy") or net.output == "identity":
        return diff  # (6.24), (6.40): the same form for regression and classification
    if net.output == "sigmoid":
        return diff * y * (1 - y)
    # softmax + squared error: J^T (y - t) with J = diag(y) - y y^T (6.38)-(6.39)
    return y * (diff - jnp.sum(y * diff, axis=layout.class_axis, keepdims=True))


def backward(net: MLP, params: Params, cache: Cache, t: jax.Array,
             layout: Layout = SINGLE) -> Params:
    """The backward pass: gradients of ``net.loss`` for every parameter, same pytree as ``params``."""
    delta = output_error(net, cache, t, layout)
    if net.reduction == "mean":
        delta = delta / delta.shape[0]
    delta_out = delta
    layers = params["layers"]
    grads = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):  # from the output layer down
        a_in = cache.inputs[i]
        grads[i] = {"w": layout.weight_grad(a_in, delta),   # (6.26), (6.31): error times input
                    "b": delta.sum(axis=0)}                  # (6.27), (6.32)
        if i > 0:
            back = layout.back(delta, layers[i]["w"])                     # (6.28)
            delta = back * _activation_derivative(net.activation, a_in)   # (6.29)-(6.30)
    out = {"layers": grads}
    if "skip" in params:  # the skip weights feed the output directly from x
        out["skip"] = {"w": layout.weight_grad(cache.inputs[0], delta_out)}
    return out


def gradients(net: MLP, params: Params, batch: Batch) -> Params:
    """``dL/dtheta`` by the chapter's backpropagation; equal to ``jax.grad(net.loss)``.

    Args:
      net: the network's description (activation, output, loss, reduction).
      params: its parameters.
      batch: ``(x (N, D), t)`` with ``t`` of shape ``(N, K)`` (or integer labels ``(N,)``).
    """
    x, t = batch
    return backward(net, params, forward(net, params, x), t)


def value_and_gradients(net: MLP, params: Params, batch: Batch):
    """The loss and its gradients from one forward and one backward pass."""
    x, t = batch
    cache = forward(net, params, x)
    return net.loss_from_logits(cache.logits, t), backward(net, params, cache, t)
