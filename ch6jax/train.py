"""Training: a jit-compiled step, full-batch gradient descent and Algorithm 6.1 (C9).

Everything here takes any ``loss(params, batch) -> scalar`` that averages over the batch's
samples (as Algorithm 6.1's line 9 does with its ``1/B``) and any pytree of parameters.
Loops run inside ``lax.scan``, so a whole training run is one compiled call, and every
function is pure: ``jax.vmap`` over initial parameters or keys trains many networks at once.

``learning_rate`` is an ordinary (traced) argument: changing it does not recompile, and it can
be vmapped too. An ``optimizer`` (any ``optax.GradientTransformation``) replaces the plain
update ``theta <- theta - eta g`` (6.18); it is static, so build it once and reuse it.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks
from .types import Batch, Key, LossFn, Params


def _update(loss: LossFn, optimizer, params, opt_state, batch, learning_rate):
    value, grads = jax.value_and_grad(loss)(params, batch)
    if optimizer is None:  # (6.18): theta <- theta - eta * grad L
        params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
    else:
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params, opt_state, value


def make_step(loss: LossFn, optimizer: optax.GradientTransformation):
    """A jit-compiled training step for ``loss`` and an optax ``optimizer``.

    Returns:
      ``step(params, opt_state, batch) -> (params, opt_state, loss_before_step)``; initialise
      ``opt_state = optimizer.init(params)``. The step compiles once per batch shape.

    Example:
      >>> opt = optax.sgd(0.5)
      >>> step = make_step(net.loss, opt)
      >>> state = opt.init(params)
      >>> params, state, value = step(params, state, (x, t))
    """
    @jax.jit
    def step(params, opt_state, batch):
        return _update(loss, optimizer, params, opt_state, batch, None)

    return step


# ---------------------------------------------------------------------------------------------
# Validation shared by the trainers

def _num_samples(batch: Batch, name: str) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError(f"{name} must hold at least one array, got {batch!r}")
    for i, leaf in enumerate(leaves):
        _checks.array(f"{name} (array {i})", leaf, ndim=tuple(range(1, 8)))
    lengths = {int(leaf.shape[0]) for leaf in leaves}
    if len(lengths) > 1:
        raise ValueError(f"every array in {name} must have the same number of samples, got "
                         f"lengths {sorted(lengths)}")
    return lengths.pop()


def _check_common(learning_rate, optimizer, count_name: str, count) -> None:
    if optimizer is None:
        if learning_rate is None:
            raise ValueError("learning_rate must be given when no optimizer is")
        _checks.positive("learning_rate", learning_rate)
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(f"optimizer must be an optax.GradientTransformation, "
                         f"got {type(optimizer).__name__}")
    _checks.positive(count_name, count, integer=True)


# ---------------------------------------------------------------------------------------------
# Full-batch gradient descent

class GDResult(NamedTuple):
    """``params`` after the last step; ``loss[s]`` is the loss before step ``s``, and
    ``final_loss`` the loss after the last step."""

    params: Params
    loss: jax.Array
    final_loss: jax.Array


@partial(jax.jit, static_argnames=("loss", "optimizer", "steps"))
def _gradient_descent(loss, optimizer, params, batch, learning_rate, steps):
    opt_state = None if optimizer is None else optimizer.init(params)

    def body(carry, _):
        params, opt_state = carry
        params, opt_state, value = _update(loss, optimizer, params, opt_state, batch,
                                           learning_rate)
        return (params, opt_state), value

    (params, _), history = jax.lax.scan(body, (params, opt_state), None, length=steps)
    return GDResult(params, history, loss(params, batch))


def gradient_descent(loss: LossFn, params: Params, batch: Batch, *,
                     learning_rate: float | jax.Array | None = None, steps: int,
                     optimizer: optax.GradientTransformation | None = None) -> GDResult:
    """Full-batch gradient descent (6.18): ``steps`` updates on the whole ``batch``.

    Args:
      loss: ``loss(params, batch) -> scalar``.
      params: initial parameters (any pytree).
      batch: the training data, a pytree of arrays with a shared leading sample axis.
      learning_rate: ``eta`` for the plain update; ignored when ``optimizer`` is given.
      steps: number of updates (static).
      optimizer: an optax optimizer to use instead of the plain update.

    Returns:
      A :class:`GDResult`. The call is pure: ``jax.vmap`` it over initial parameters.
    """
    _num_samples(batch, "batch")
    _check_common(learning_rate, optimizer, "steps", steps)
    return _gradient_descent(loss, optimizer, params, batch, learning_rate, steps)


# ---------------------------------------------------------------------------------------------
# Algorithm 6.1: mini-batch SGD with reshuffling and early stopping

class History(NamedTuple):
    """Per epoch (1-based epoch e at index e-1): the loss on the whole training set and on the
    validation set after that epoch; NaN for epochs not run because training had stopped."""

    train_loss: jax.Array
    val_loss: jax.Array


class SGDResult(NamedTuple):
    """``params``: the best parameters by validation loss when ``restore_best``, else the last.
    ``best_epoch``: 1-based epoch of the lowest validation loss (0 if none improved on the
    start). ``epochs_run``: epochs actually run; ``stopped_early``: whether patience ran out."""

    params: Params
    history: History
    best_epoch: jax.Array
    epochs_run: jax.Array
    stopped_early: jax.Array


@partial(jax.jit, static_argnames=("loss", "optimizer", "batch_size", "epochs", "patience",
                                   "restore_best"))
def _sgd(loss, optimizer, params, train, validation, key, learning_rate, batch_size, epochs,
         patience, restore_best):
    n = jax.tree.leaves(train)[0].shape[0]
    n_full, remainder = divmod(n, batch_size)
    opt_state = None if optimizer is None else optimizer.init(params)

    def update(state, batch):
        params, opt_state = state
        params, opt_state, _ = _update(loss, optimizer, params, opt_state, batch, learning_rate)
        return (params, opt_state), None

    def run_epoch(state, epoch):
        # Reshuffle every epoch from the key (C9), then cut into batches: the full ones in a
        # scan, then the last partial batch of `remainder` samples as one more update. Both
        # shapes are static, so the whole epoch is still one compiled loop.
        order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        shuffled = jax.tree.map(lambda a: a[order], train)
        if n_full:
            full = jax.tree.map(
                lambda a: a[: n_full * batch_size].reshape((n_full, batch_size) + a.shape[1:]),
                shuffled)
            state, _ = jax.lax.scan(update, state, full)
        if remainder:
            state, _ = update(state, jax.tree.map(lambda a: a[n_full * batch_size:], shuffled))
        return state

    check = validation if validation is not None else train
    start = loss(params, check)

    def epoch_body(carry, epoch):
        state, best, best_val, best_epoch, wait, stopped, ran = carry
        state = jax.lax.cond(stopped, lambda s: s, lambda s: run_epoch(s, epoch), state)
        train_loss = loss(state[0], train)
        val_loss = loss(state[0], validation) if validation is not None else train_loss
        improved = (val_loss < best_val) & ~stopped
        best = jax.tree.map(lambda b, p: jnp.where(improved, p, b), best, state[0])
        best_val = jnp.where(improved, val_loss, best_val)
        best_epoch = jnp.where(improved, epoch + 1, best_epoch)
        wait = jnp.where(improved, 0, wait + 1)
        nan = jnp.full_like(train_loss, jnp.nan)
        record = (jnp.where(stopped, nan, train_loss), jnp.where(stopped, nan, val_loss))
        ran = ran + (~stopped).astype(ran.dtype)
        if patience is not None:  # stop when the check loss has not decreased `patience` times
            stopped = stopped | (wait >= patience)
        return (state, best, best_val, best_epoch, wait, stopped, ran), record

    carry = ((params, opt_state), params, start, jnp.int32(0), jnp.int32(0), jnp.bool_(False),
             jnp.int32(0))
    carry, (train_hist, val_hist) = jax.lax.scan(epoch_body, carry, jnp.arange(epochs, dtype=jnp.int32))
    (last, _), best, _, best_epoch, _, stopped, ran = carry
    final = best if restore_best else last
    return SGDResult(final, History(train_hist, val_hist), best_epoch, ran,
                     stopped & (ran < epochs))


def sgd(loss: LossFn, params: Params, train: Batch, *, key: Key, batch_size: int, epochs: int,
        learning_rate: float | jax.Array | None = None, validation: Batch | None = None,
        patience: int | None = None, restore_best: bool = True,
        optimizer: optax.GradientTransformation | None = None) -> SGDResult:
    """Algorithm 6.1: mini-batch stochastic gradient descent with early stopping (C9).

    Each epoch reshuffles the training set with ``fold_in(key, epoch)``, splits it into
    ``ceil(N / batch_size)`` batches (the last one holds the ``N mod batch_size`` left over) and
    makes one update per batch, ``theta <- theta - eta * (1/B) g``. After each epoch the losses
    on the training and validation sets are recorded; when the validation loss has not
    decreased for ``patience`` consecutive epochs, training stops and, with ``restore_best``,
    the parameters of the best epoch are returned.

    Args:
      loss: ``loss(params, batch) -> scalar``, a mean over the batch's samples.
      params: initial parameters.
      train: training data, a pytree of arrays with a shared leading sample axis of length N.
      key: the key that orders the samples; the same key gives the same run.
      batch_size: B, in 1..N.
      epochs: the maximum number of epochs (H in Algorithm 6.1 counts updates; here epochs).
      learning_rate: eta, > 0 (unless ``optimizer`` is given).
      validation: held-out data for early stopping and for choosing the best epoch; without it
        the training loss is tracked instead and ``patience`` is not allowed.
      patience: stop after this many epochs without improvement; None runs all epochs.
      restore_best: return the best epoch's parameters rather than the last.
      optimizer: an optax optimizer in place of the plain update.

    Returns:
      An :class:`SGDResult`. Pure: ``jax.vmap`` over ``params`` and ``key`` trains many seeds.
    """
    n = _num_samples(train, "train")
    if validation is not None:
        _num_samples(validation, "validation")
    _check_common(learning_rate, optimizer, "epochs", epochs)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in 1..{n} (the number of training "
                         f"samples), got {batch_size!r}")
    if patience is not None:
        _checks.positive("patience", patience, integer=True)
        if validation is None:
            raise ValueError("patience needs validation data: pass validation=(x_val, t_val)")
    return _sgd(loss, optimizer, params, train, validation, key, learning_rate, int(batch_size),
                epochs, patience, restore_best)
