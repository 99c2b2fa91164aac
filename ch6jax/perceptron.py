"""Rosenblatt's perceptron with its exact online rule, and linear separability (C3, C4).

The rule (6.5)-(6.6) visits the samples one at a time; a sample that the current parameters
misclassify updates them at once, so the next sample already sees the new ``w`` and ``b``.
:func:`train` reproduces this exactly inside one ``lax.scan`` (epochs) over another (samples),
records every visit, and is ``vmap``-able over initial parameters.

:func:`separability` answers the question behind C4 for any data set: either a separating
hyperplane exists (and one is returned with its margin) or a certificate of infeasibility does
(a convex combination of the signed samples that sums to zero, which is the chapter's argument
(6.7)-(6.10) for XOR, generalised by Gordan's theorem of the alternative).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .types import Key


class Trace(NamedTuple):
    """One row per visit of a sample (``epochs * N`` rows), in visiting order.

    ``epoch`` is 1-based, ``sample`` the 0-based index into the data, ``updated`` whether this
    visit changed the parameters, and ``w``, ``b`` the parameters *after* the visit.
    """

    epoch: jax.Array
    sample: jax.Array
    updated: jax.Array
    w: jax.Array
    b: jax.Array


class PerceptronResult(NamedTuple):
    """The outcome of :func:`train`.

    ``epochs_to_converge`` is the 1-based index of the first epoch with no update (0 if none
    within the limit); ``converged`` says whether there was one. ``trace`` holds every visit;
    :func:`updates` filters it to the visits that changed the parameters.
    """

    w: jax.Array
    b: jax.Array
    converged: jax.Array
    epochs_to_converge: jax.Array
    n_updates: jax.Array
    trace: Trace


def predict(w: jax.Array, b: jax.Array, x: jax.Array) -> jax.Array:
    """The perceptron (6.4): ``sigma(w^T x + b)`` with sigma(z) = +1 for z >= 0, else -1."""
    return jnp.where(x @ w + b >= 0, 1, -1)


def _validate(x, t, w0, b0, eta, max_epochs):
    x = _checks.array("x", x, ndim=2)
    t = _checks.array("t", t, ndim=1)
    _checks.same_length(("x", "t"), x, t)
    _checks.labels_pm1("t", t)
    w0 = _checks.array("w0", w0, ndim=1)
    if w0.shape[0] != x.shape[1]:
        raise ValueError(f"w0 must have one weight per input feature ({x.shape[1]}), "
                         f"got shape {tuple(w0.shape)}")
    b0 = _checks.array("b0", b0, ndim=0)
    _checks.positive("eta", eta)
    _checks.positive("max_epochs", max_epochs, integer=True)


@partial(jax.jit, static_argnames=("max_epochs",))
def _train(x, t, w0, b0, eta, key, max_epochs):
    n = x.shape[0]
    dtype = jnp.result_type(x.dtype, w0.dtype, jnp.float32)
    x, t = x.astype(dtype), t.astype(dtype)

    def visit(carry, i):
        w, b = carry
        # A sample is misclassified when the prediction sigma(w.x + b) differs from t; with
        # sigma(0) = +1 this is the chapter's (w.x + b) t < 0, plus z = 0 for t = -1.
        wrong = predict(w, b, x[i]) != t[i]
        w = jnp.where(wrong, w + eta * t[i] * x[i], w)   # (6.5)
        b = jnp.where(wrong, b + eta * t[i], b)          # (6.6)
        return (w, b), (i, wrong, w, b)

    def epoch(carry, e):
        order = jnp.arange(n) if key is None else jax.random.permutation(
            jax.random.fold_in(key, e), n)
        carry, (sample, updated, w, b) = jax.lax.scan(visit, carry, order)
        return carry, (jnp.full((n,), e + 1), sample, updated, w, b)

    carry = (w0.astype(dtype), b0.astype(dtype))
    (w, b), rows = jax.lax.scan(epoch, carry, jnp.arange(max_epochs))
    epoch_no, sample, updated, ws, bs = (r.reshape((-1,) + r.shape[2:]) for r in rows)
    clean = ~updated.reshape(max_epochs, n).any(axis=1)
    converged = clean.any()
    # Once an epoch passes without an update every sample is classified correctly, so all later
    # epochs are clean too: the first clean epoch is the convergence epoch.
    first_clean = jnp.where(converged, jnp.argmax(clean) + 1, 0)
    trace = Trace(epoch_no, sample, updated, ws, bs)
    return PerceptronResult(w, b, converged, first_clean, updated.sum(), trace)


def train(x: jax.Array, t: jax.Array, w0: jax.Array, b0: float | jax.Array, *,
          eta: float = 1.0, max_epochs: int = 1000, key: Key | None = None) -> PerceptronResult:
    """Train a perceptron by the online rule (6.5)-(6.6), samples in order or shuffled.

    Args:
      x: samples, shape ``(N, D)``.
      t: labels in {-1, +1}, shape ``(N,)``.
      w0: initial weights, shape ``(D,)``.
      b0: initial bias, a scalar.
      eta: the learning rate, > 0.
      max_epochs: the epoch limit (static: the trace has ``max_epochs * N`` rows).
      key: if given, each epoch visits the samples in the order
        ``jax.random.permutation(fold_in(key, epoch), N)``; if None, in the data's order.

    Returns:
      A :class:`PerceptronResult`. ``vmap`` over ``w0``/``b0`` trains many perceptrons at once.

    Example:
      >>> from ch6jax import data, perceptron
      >>> x, t = data.table_6_1()
      >>> r = perceptron.train(x, t, jnp.array([0.75, 0.5]), -0.6, eta=0.2)
    """
    _validate(x, t, w0, b0, eta, max_epochs)
    return _train(jnp.asarray(x), jnp.asarray(t), jnp.asarray(w0), jnp.asarray(b0), eta, key,
                  max_epochs)


def updates(result: PerceptronResult) -> dict[str, np.ndarray]:
    """The visits that changed the parameters, as NumPy arrays (epoch, sample, w, b)."""
    tr = jax.tree.map(np.asarray, result.trace)
    keep = tr.updated
    return {"epoch": tr.epoch[keep], "sample": tr.sample[keep], "w": tr.w[keep], "b": tr.b[keep]}


class Separability(NamedTuple):
    """Result of :func:`separability`.

    If ``separable``: ``w``, ``b`` separate the classes (``t_i (w.x_i + b) > 0`` for all i) and
    ``margin`` is their Euclidean geometric margin ``min_i t_i (w.x_i + b) / ||w||``.
    If not: ``certificate`` is ``y >= 0`` with ``sum(y) = 1`` and
    ``sum_i y_i t_i (x_i, 1) = 0``; then for every ``(w, b)``,
    ``sum_i y_i t_i (w.x_i + b) = 0``, so the samples with ``y_i > 0`` cannot all be on their
    correct side. ``residual`` is ``||sum_i y_i t_i (x_i, 1)||_inf`` as computed.
    """

    separable: bool
    w: np.ndarray | None
    b: float | None
    margin: float | None
    certificate: np.ndarray | None
    residual: float | None


def separability(x, t) -> Separability:
    """Decide whether two classes are linearly separable, with a witness either way (C4).

    Solves the linear programme ``max gamma`` subject to ``t_i (w.x_i + b) >= gamma``,
    ``|w_j| <= 1``, ``gamma <= 1``. Its optimum is positive exactly when a separating hyperplane
    exists. Otherwise Gordan's alternative holds and a second LP finds the certificate ``y``.

    Args:
      x: samples, shape ``(N, D)``.
      t: labels in {-1, +1}, shape ``(N,)``.
    """
    from scipy.optimize import linprog  # imported here: only this function needs scipy

    x = np.asarray(_checks.array("x", x, ndim=2), dtype=np.float64)
    t = np.asarray(_checks.array("t", t, ndim=1), dtype=np.float64)
    _checks.same_length(("x", "t"), x, t)
    _checks.labels_pm1("t", t)
    n, d = x.shape
    signed = t[:, None] * np.hstack([x, np.ones((n, 1))])  # rows t_i (x_i, 1)

    # Variables (w, b, gamma); minimise -gamma; -t_i (w.x_i + b) + gamma <= 0.
    primal = linprog(
        c=np.r_[np.zeros(d + 1), -1.0],
        A_ub=np.hstack([-signed, np.ones((n, 1))]), b_ub=np.zeros(n),
        bounds=[(-1, 1)] * d + [(None, None), (None, 1)], method="highs")
    if not primal.success:
        raise RuntimeError(f"separability LP failed: {primal.message}")
    gamma = -primal.fun
    scale = np.abs(signed).max()
    if gamma > 1e-9 * max(scale, 1.0):
        w, b = primal.x[:d], float(primal.x[d])
        norm = np.linalg.norm(w)
        margin = float(np.min(signed @ primal.x[: d + 1]) / norm) if norm > 0 else float("inf")
        return Separability(True, w, b, margin, None, None)

    # Gordan: find y >= 0, sum y = 1, signed^T y = 0.
    dual = linprog(c=np.zeros(n), A_eq=np.vstack([signed.T, np.ones((1, n))]),
                   b_eq=np.r_[np.zeros(d + 1), 1.0], bounds=[(0, None)] * n, method="highs")
    if not dual.success:
        raise RuntimeError(f"certificate LP failed: {dual.message}")
    y = dual.x
    return Separability(False, None, None, None, y, float(np.abs(signed.T @ y).max()))
