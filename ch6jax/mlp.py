"""Multilayer perceptrons of any depth and width as pure functions (C5, C6).

Parameters are a plain pytree::

    {"layers": [{"w": (D, M1), "b": (M1,)}, ..., {"w": (M_L, K), "b": (K,)}],
     "skip": {"w": (D, K)}}          # only with skip connections (Fig 6.6)

Weights are stored ``(fan_in, fan_out)`` so that a batch ``x`` of shape ``(N, D)`` maps as
``x @ w + b``; the chapter's ``w_ji`` (unit ``j`` from input ``i``) is ``w[i, j]`` here.

Hidden layer l computes ``h_l = sigma(h_{l-1} @ w_l + b_l)`` (6.11); the output layer's
pre-activation is ``a = h_L @ w + b (+ x @ w_skip)`` and the output ``y = g(a)`` (6.13), (6.33).

:class:`MLP` bundles the static choices (sizes, activation, output, loss) with ``init``,
``apply`` and ``loss`` methods; the module-level :func:`init` and :func:`apply` are the same
functions with the choices passed as arguments.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from . import _checks, losses
from .types import Batch, Key, Params


def heaviside(z: jax.Array) -> jax.Array:
    """The step activation H(z) = 1 for z >= 0, else 0 (its derivative is 0 almost everywhere)."""
    return jnp.where(z >= 0, 1.0, 0.0).astype(z.dtype)


def identity(z: jax.Array) -> jax.Array:
    return z


ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,  # (6.12)
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "identity": identity,
    "step": heaviside,
}

#: Output activations: identity for regression (6.16), sigmoid (6.13), softmax (6.34).
OUTPUTS = ("identity", "sigmoid", "softmax")


def output_activation(name: str, a: jax.Array, axis: int = -1) -> jax.Array:
    """The output ``y = g(a)``; softmax normalises over ``axis``, the output units."""
    if name == "softmax":
        return jax.nn.softmax(a, axis=axis)
    return jax.nn.sigmoid(a) if name == "sigmoid" else a

INITIALIZERS = ("normal", "lecun", "glorot", "he")

#: The loss the chapter pairs with each output when none is named.
DEFAULT_LOSS = {"identity": "squared_error", "sigmoid": "squared_error",
                "softmax": "cross_entropy"}


def _std(initializer: str, fan_in: int, fan_out: int, scale: float | None) -> float:
    if initializer == "normal":
        return 1.0 if scale is None else scale
    std = {"lecun": math.sqrt(1.0 / fan_in),
           "glorot": math.sqrt(2.0 / (fan_in + fan_out)),
           "he": math.sqrt(2.0 / fan_in)}[initializer]
    return std * (1.0 if scale is None else scale)


def init(key: Key, sizes, *, initializer: str = "glorot", scale: float | None = None,
         skip: bool = False, dtype=jnp.float32) -> Params:
    """Random parameters for an MLP with layer sizes ``(D, M_1, ..., M_L, K)``.

    Weights are drawn from a normal distribution with standard deviation
    ``normal``: ``scale`` (default 1); ``lecun``: ``sqrt(1/fan_in)``;
    ``glorot``: ``sqrt(2/(fan_in + fan_out))``; ``he``: ``sqrt(2/fan_in)``
    (the last three multiplied by ``scale`` when it is given). Biases start at 0.

    Args:
      key: a ``jax.random`` key (keyword ``key`` in :meth:`MLP.init`).
      sizes: at least two positive integers: inputs, hidden widths..., outputs.
      initializer: one of ``"normal", "lecun", "glorot", "he"``.
      scale: the standard deviation for ``"normal"``, a multiplier otherwise.
      skip: add direct input-to-output weights (Fig 6.6), initialised like the output layer.
      dtype: parameter dtype.
    """
    sizes = check_sizes(sizes)
    _checks.choice("initializer", initializer, INITIALIZERS)
    if scale is not None:
        _checks.positive("scale", scale)
    keys = jax.random.split(key, len(sizes))
    layers = []
    for k, fan_in, fan_out in zip(keys[:-1], sizes[:-1], sizes[1:]):
        std = _std(initializer, fan_in, fan_out, scale)
        layers.append({"w": std * jax.random.normal(k, (fan_in, fan_out), dtype),
                       "b": jnp.zeros((fan_out,), dtype)})
    params = {"layers": layers}
    if skip:
        std = _std(initializer, sizes[0], sizes[-1], scale)
        params["skip"] = {"w": std * jax.random.normal(keys[-1], (sizes[0], sizes[-1]), dtype)}
    return params


def check_sizes(sizes) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1
                             for s in sizes):
        raise ValueError(f"sizes must be at least two positive integers (inputs, ..., outputs), "
                         f"got {sizes!r}")
    return sizes


def _check_input(params: Params, x: jax.Array) -> None:
    # Shapes are static, so this check costs nothing under jit and names the mismatch before
    # XLA's matmul shape error would.
    d = params["layers"][0]["w"].shape[0]
    if getattr(x, "ndim", 0) < 1 or x.shape[-1] != d:
        raise ValueError(f"x must have {d} features on its last axis (the network's input "
                         f"size), got shape {tuple(getattr(x, 'shape', ()))}")


def hidden(params: Params, x: jax.Array, *, activation: str = "sigmoid") -> list[jax.Array]:
    """The hidden activations ``[h_1, ..., h_L]``, each of shape ``(N, M_l)`` (6.11)."""
    _check_input(params, x)
    act = ACTIVATIONS[activation]
    h, out = x, []
    for layer in params["layers"][:-1]:
        h = act(h @ layer["w"] + layer["b"])
        out.append(h)
    return out


def logits(params: Params, x: jax.Array, *, activation: str = "sigmoid") -> jax.Array:
    """The output layer's pre-activation ``a`` (6.33), shape ``(N, K)``."""
    hs = hidden(params, x, activation=activation)
    last = params["layers"][-1]
    a = (hs[-1] if hs else x) @ last["w"] + last["b"]
    if "skip" in params:
        a = a + x @ params["skip"]["w"]
    return a


def apply(params: Params, x: jax.Array, *, activation: str = "sigmoid",
          output: str = "identity") -> jax.Array:
    """The network function (6.14): ``y = g(a)``, shape ``(N, K)`` for ``x`` of shape ``(N, D)``."""
    return output_activation(output, logits(params, x, activation=activation))


@dataclasses.dataclass(frozen=True)
class MLP:
    """An MLP's static description, with its pure functions as methods.

    Args:
      sizes: ``(D, M_1, ..., M_L, K)``.
      activation: hidden activation, one of ``sigmoid, tanh, relu, identity, step``.
      output: ``identity``, ``sigmoid`` or ``softmax``.
      skip: direct input-to-output connections (Fig 6.6).
      loss: ``squared_error``, ``cross_entropy`` (softmax) or ``binary_cross_entropy``
        (sigmoid); by default the chapter's pairing for the output.
      reduction: ``mean`` over samples (Algorithm 6.1's ``1/B``) or ``sum`` ((6.15), (6.53)).

    Example:
      >>> net = MLP((7, 18, 10), activation="sigmoid", output="softmax")
      >>> params = net.init(key=jax.random.key(0))
      >>> loss = net.loss(params, (x, one_hot_targets))
    """

    sizes: tuple[int, ...]
    activation: str = "sigmoid"
    output: str = "identity"
    skip: bool = False
    loss_name: str | None = None
    reduction: str = "mean"

    def __post_init__(self):
        object.__setattr__(self, "sizes", check_sizes(self.sizes))
        _checks.choice("activation", self.activation, ACTIVATIONS)
        _checks.choice("output", self.output, OUTPUTS)
        _checks.choice("reduction", self.reduction, ("mean", "sum"))
        if self.loss_name is None:
            object.__setattr__(self, "loss_name", DEFAULT_LOSS[self.output])
        _checks.choice("loss_name", self.loss_name, losses.LOSSES)
        pairs = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
        if self.loss_name in pairs and self.output != pairs[self.loss_name]:
            raise ValueError(f"loss_name {self.loss_name!r} needs output "
                             f"{pairs[self.loss_name]!r}, got {self.output!r}")

    def init(self, *, key: Key, initializer: str = "glorot", scale: float | None = None,
             dtype=jnp.float32) -> Params:
        return init(key, self.sizes, initializer=initializer, scale=scale, skip=self.skip,
                    dtype=dtype)

    def logits(self, params: Params, x: jax.Array) -> jax.Array:
        return logits(params, x, activation=self.activation)

    def apply(self, params: Params, x: jax.Array) -> jax.Array:
        return apply(params, x, activation=self.activation, output=self.output)

    def hidden(self, params: Params, x: jax.Array) -> list[jax.Array]:
        return hidden(params, x, activation=self.activation)

    def per_sample_loss(self, params: Params, batch: Batch) -> jax.Array:
        """The loss of each sample, shape ``(N,)``; ``batch = (x (N, D), t)``."""
        x, t = batch
        return self._per_sample_from_logits(self.logits(params, x), t)

    def _per_sample_from_logits(self, a: jax.Array, t: jax.Array) -> jax.Array:
        if self.loss_name == "squared_error":
            return losses.squared_error(output_activation(self.output, a), t)
        return losses.LOSSES[self.loss_name](a, t)

    def loss_from_logits(self, a: jax.Array, t: jax.Array) -> jax.Array:
        """The reduced loss given the output pre-activations ``a`` (N, K)."""
        per_sample = self._per_sample_from_logits(a, t)
        return per_sample.mean() if self.reduction == "mean" else per_sample.sum()

    def loss(self, params: Params, batch: Batch) -> jax.Array:
        """The loss over the batch: the mean (default) or sum of :meth:`per_sample_loss`."""
        x, t = batch
        return self.loss_from_logits(self.logits(params, x), t)

    def accuracy(self, params: Params, x: jax.Array, labels: jax.Array) -> jax.Array:
        """Fraction of samples whose arg-max output is the label (classification)."""
        return jnp.mean(jnp.argmax(self.logits(params, x), axis=-1) == labels)

    def check_batch(self, batch: Batch, name: str = "batch") -> None:
        """Raise a ``ValueError`` naming ``name`` if ``batch`` does not fit this network."""
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"{name} must be a pair (x, t), got {type(batch).__name__}")
        x = _checks.array(f"{name} x", batch[0], ndim=2)
        t = _checks.array(f"{name} t", batch[1], ndim=(1, 2))
        _checks.same_length((f"{name} x", f"{name} t"), x, t)
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} x must have {self.sizes[0]} features, got {x.shape[1]}")
        integer_labels = t.ndim == 1 and self.loss_name == "cross_entropy"
        if integer_labels:
            _checks.class_labels(f"{name} t", t, self.sizes[-1])
        elif t.ndim != 2 or t.shape[1] != self.sizes[-1]:
            raise ValueError(f"{name} t must have shape (N, {self.sizes[-1]}), "
                             f"got {tuple(t.shape)}")
