"""Many networks of one architecture trained in lockstep: the fast path for seed studies.

``jax.vmap`` over :func:`ch6jax.train.gradient_descent` trains any model over many seeds, but
for small layers it turns every matrix product into thousands of tiny batched products, which
XLA's CPU backend runs one after another. Here the *member* (seed) axis is the last axis of
every parameter and activation::

    {"layers": [{"w": (fan_in, fan_out, S), "b": (fan_out, S)}, ...], "skip": {"w": (D, K, S)}}

so each layer's product is a short sum of multiply-adds over contiguous vectors of S members,
which XLA fuses into one vectorised loop; a product with the shared input ``x`` is one large
matrix product. The learning rule is the chapter's backpropagation (:mod:`ch6jax.backprop`)
with the :data:`MEMBERS` layout, so member ``s`` follows exactly the trajectory that
``train.gradient_descent`` gives for ``member(params, s)`` (the tests check this).

Example:
  >>> net = MLP((7, 18, 10), activation="sigmoid", output="softmax")
  >>> params = ensemble.init(net, jax.random.split(jax.random.key(0), 1000))
  >>> fit = ensemble.gradient_descent(net, params, (x, t), learning_rate=0.5, steps=2000)
  >>> fit.final_loss.shape
  (1000,)
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, backprop
from .mlp import MLP
from .types import Batch, Key, Params

#: Contractions longer than this use ``einsum`` instead of unrolled multiply-adds (which grow
#: the program linearly in the contracted length).
UNROLL_LIMIT = 64


def _dense(a, w):
    """``a @ w`` per member: ``a`` (N, i, S) or shared (N, i); ``w`` (i, o, S) -> (N, o, S)."""
    if a.ndim == 2:
        a = a[..., None]  # the shared input broadcasts over members
    if w.shape[0] > UNROLL_LIMIT:
        return jnp.einsum("nis,ios->nos", jnp.broadcast_to(a, a.shape[:2] + w.shape[-1:]), w)
    out = a[:, 0, None, :] * w[0][None]
    for i in range(1, w.shape[0]):
        out = out + a[:, i, None, :] * w[i][None]
    return out


def _back(d, w):
    """``d @ w^T`` per member: ``d`` (N, o, S), ``w`` (i, o, S) -> (N, i, S)."""
    if w.shape[1] > UNROLL_LIMIT:
        return jnp.einsum("nos,ios->nis", d, w)
    out = d[:, None, 0, :] * w[None, :, 0, :]
    for o in range(1, w.shape[1]):
        out = out + d[:, None, o, :] * w[None, :, o, :]
    return out


def _weight_grad(a, d):
    """``a^T @ d`` per member, summed over samples -> (i, o, S)."""
    if a.ndim == 2:
        a = a[..., None]  # the shared input broadcasts over members
    if a.shape[0] > UNROLL_LIMIT:
        return jnp.einsum("nis,nos->ios", jnp.broadcast_to(a, a.shape[:2] + d.shape[-1:]), d)
    out = a[0, :, None, :] * d[0, None, :, :]
    for n in range(1, a.shape[0]):
        out = out + a[n, :, None, :] * d[n, None, :, :]
    return out


#: Activations (N, units, S), weights (fan_in, fan_out, S); x (N, D) is shared by all members.
MEMBERS = backprop.Layout(dense=_dense, back=_back, weight_grad=_weight_grad, class_axis=1,
                          targets=lambda t: t[..., None])


def stack(params_list_or_leading: Params) -> Params:
    """Parameters with a *leading* member axis (e.g. from ``jax.vmap(net.init)``) -> ensemble."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), params_list_or_leading)


def unstack(params: Params) -> Params:
    """Ensemble parameters -> a leading member axis, as ``jax.vmap`` produces and consumes."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), params)


def member(params: Params, s: int) -> Params:
    """The parameters of member ``s`` as an ordinary network's pytree."""
    return jax.tree.map(lambda a: a[..., s], params)


def init(net: MLP, keys: Key, **init_kwargs) -> Params:
    """One member per key, each exactly ``net.init(key=keys[s], **init_kwargs)``."""
    return stack(jax.vmap(lambda k: net.init(key=k, **init_kwargs))(keys))


def apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    """Every member's outputs for inputs ``x`` (N, D): shape (N, K, S)."""
    return backprop.forward(net, params, x, MEMBERS).y


def _loss_from_cache(net: MLP, cache: backprop.Cache, t: jax.Array) -> jax.Array:
    # per member: move the member axis to the front and use the network's own loss
    logits = jnp.moveaxis(cache.logits, -1, 0)                    # (S, N, K)
    return jax.vmap(net.loss_from_logits, in_axes=(0, None))(logits, t)


def loss(net: MLP, params: Params, batch: Batch) -> jax.Array:
    """Each member's loss on ``batch``: shape (S,)."""
    x, t = batch
    return _loss_from_cache(net, backprop.forward(net, params, x, MEMBERS), t)


class EnsembleGDResult(NamedTuple):
    """``params`` after the last step (member axis last); ``loss`` (steps, S): each member's
    loss before each step (None unless recorded); ``final_loss`` (S,): after the last step."""

    params: Params
    loss: jax.Array
    final_loss: jax.Array


@partial(jax.jit, static_argnames=("net", "steps", "record_loss"))
def _gradient_descent(net, params, batch, learning_rate, steps, record_loss):
    x, t = batch

    def body(params, _):
        cache = backprop.forward(net, params, x, MEMBERS)
        grads = backprop.backward(net, params, cache, t, MEMBERS)
        params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)   # (6.18)
        # Backprop needs only y - t, not the loss itself; evaluating it costs about a third
        # of a step, so it is computed only when asked for.
        return params, _loss_from_cache(net, cache, t) if record_loss else None

    params, history = jax.lax.scan(body, params, None, length=steps)
    return EnsembleGDResult(params, history, loss(net, params, batch))


def gradient_descent(net: MLP, params: Params, batch: Batch, *, learning_rate: float,
                     steps: int, record_loss: bool = True) -> EnsembleGDResult:
    """Full-batch gradient descent (6.18) of every member at once, by backpropagation.

    Args:
      net: the architecture shared by all members.
      params: ensemble parameters (member axis last), e.g. from :func:`init`.
      batch: ``(x (N, D), t (N, K) or integer labels (N,))``, shared by all members.
      learning_rate: eta > 0 (a scalar, or an array of shape (S,) for one rate per member).
      steps: number of updates.
      record_loss: record every member's loss before each step (``loss``); False skips that
        work and returns ``loss=None`` (``final_loss`` is always computed).
    """
    net.check_batch(batch)
    _checks.positive("steps", steps, integer=True)
    if not _checks.is_traced(learning_rate):
        lr = np.asarray(learning_rate, dtype=float)
        if lr.size == 0 or not np.all(np.isfinite(lr)) or np.any(lr <= 0):
            raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    return _gradient_descent(net, params, batch, jnp.asarray(learning_rate), steps,
                             bool(record_loss))


def shard(params: Params, devices=None) -> Params:
    """Spread the member axis over ``devices`` (default: all), one block of members each.

    On a CPU with ``XLA_FLAGS=--xla_force_host_platform_device_count=K`` this runs the members
    on K cores in parallel; on accelerators, on every chip. The number of members must be a
    multiple of the number of devices.
    """
    devices = jax.devices() if devices is None else list(devices)
    mesh = jax.sharding.Mesh(np.array(devices), ("members",))
    n = jax.tree.leaves(params)[0].shape[-1]
    if n % len(devices):
        raise ValueError(f"the number of members ({n}) must be a multiple of the number of "
                         f"devices ({len(devices)})")

    def place(a):
        spec = jax.sharding.PartitionSpec(*([None] * (a.ndim - 1)), "members")
        return jax.device_put(a, jax.sharding.NamedSharding(mesh, spec))

    return jax.tree.map(place, params)
