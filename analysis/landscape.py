"""Loss landscapes: straight paths with their barriers, and 2-D slices (C13, C14).

Works on any ``loss(params, batch)`` and any pytree. Grids are evaluated by ``vmap`` in chunks
(``lax.map`` with a batch size), so memory stays bounded and the whole grid is one compiled call.

Directions for slices follow Li et al. (2018), "Visualizing the loss landscape of neural nets",
with the rules stated here because the results depend on them:

* a random direction draws each weight from N(0, 1);
* filter normalisation rescales each *filter* of a weight matrix (each output unit: a column
  of ``w`` of shape (fan_in, fan_out)) to the norm of the same filter in the parameters;
  one-dimensional leaves (biases) are set to zero in the direction (Li et al. treat biases and
  batch-norm parameters this way);
* the second direction is then made orthogonal to the first (Gram-Schmidt in the flattened
  space) and rescaled to its filter-normalised norm, so the plane's axes are perpendicular
  and of comparable scale. Peers skip this step, and their axes can be far from orthogonal.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np


class Path(NamedTuple):
    """Loss at ``t`` along ``(1 - t) a + t b``; ``barrier`` = the path's maximum over
    ``0 <= t <= 1`` minus the larger end loss (>= 0 when the path rises above both ends)."""

    t: np.ndarray
    loss: np.ndarray
    barrier: float


def _chunked(fn, xs, chunk: int):
    """``vmap(fn)`` over the leading axis of ``xs`` in chunks of ``chunk`` (one compiled call)."""
    return jax.lax.map(fn, xs, batch_size=chunk)


def path(loss: Callable, a, b, batch, *, points: int = 101, chunk: int = 256,
         extend: float = 0.0) -> Path:
    """The loss along the straight line from parameters ``a`` to ``b`` (and ``extend`` beyond)."""
    va, unravel = jax.flatten_util.ravel_pytree(a)
    vb, _ = jax.flatten_util.ravel_pytree(b)
    ts = jnp.linspace(-extend, 1 + extend, points, dtype=va.dtype)
    values = jax.jit(lambda ts: _chunked(lambda t: loss(unravel(va + t * (vb - va)), batch),
                                         ts, chunk))(ts)
    ts, values = np.asarray(ts), np.asarray(values)
    inside = (ts >= 0) & (ts <= 1)
    barrier = float(values[inside].max() - max(values[inside][0], values[inside][-1]))
    return Path(ts, values, barrier)


def filter_normalize(direction, params):
    """Li et al.'s filter normalisation; biases (1-D leaves) are zeroed (see module docs)."""
    def one(d, p):
        if p.ndim < 2:
            return jnp.zeros_like(d)
        axes = tuple(range(p.ndim - 1))  # each output unit's incoming weights
        scale = jnp.linalg.norm(p, axis=axes, keepdims=True) / (
            jnp.linalg.norm(d, axis=axes, keepdims=True) + 1e-12)
        return d * scale

    return jax.tree.map(one, direction, params)


def random_directions(key: jax.Array, params, *, filter_normalized: bool = True):
    """Two directions for a 2-D slice: random Gaussian, filter-normalised, then orthogonalised."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    k1, k2 = jax.random.split(key)
    dirs = [unravel(jax.random.normal(k, flat.shape, flat.dtype)) for k in (k1, k2)]
    if filter_normalized:
        dirs = [filter_normalize(d, params) for d in dirs]
    d1, _ = jax.flatten_util.ravel_pytree(dirs[0])
    d2, _ = jax.flatten_util.ravel_pytree(dirs[1])
    norm2 = jnp.linalg.norm(d2)
    d2 = d2 - (d2 @ d1) / (d1 @ d1) * d1
    d2 = d2 * norm2 / jnp.linalg.norm(d2)
    return unravel(d1), unravel(d2)


class Slice(NamedTuple):
    """``loss[i, j]`` at ``params + alpha[j] d1 + beta[i] d2``."""

    alpha: np.ndarray
    beta: np.ndarray
    loss: np.ndarray


def slice_2d(loss: Callable, params, batch, d1, d2, *, span: float = 1.0, grid: int = 51,
             chunk: int = 1024) -> Slice:
    """The loss on a ``grid x grid`` plane through ``params`` spanned by ``d1`` and ``d2``."""
    v0, unravel = jax.flatten_util.ravel_pytree(params)
    u, _ = jax.flatten_util.ravel_pytree(d1)
    w, _ = jax.flatten_util.ravel_pytree(d2)
    s = jnp.linspace(-span, span, grid, dtype=v0.dtype)
    aa, bb = jnp.meshgrid(s, s)
    coords = jnp.stack([aa.ravel(), bb.ravel()], axis=1)
    values = jax.jit(lambda c: _chunked(
        lambda ab: loss(unravel(v0 + ab[0] * u + ab[1] * w), batch), c, chunk))(coords)
    return Slice(np.asarray(s), np.asarray(s), np.asarray(values).reshape(grid, grid))


def project(trajectory, params, d1, d2) -> np.ndarray:
    """Coordinates (alpha, beta) of each point of a trajectory (stacked pytree, leading axis T)
    in the plane through ``params`` spanned by ``d1``, ``d2`` (least squares, so non-orthogonal
    directions are handled too)."""
    v0, _ = jax.flatten_util.ravel_pytree(params)
    basis = np.stack([np.asarray(jax.flatten_util.ravel_pytree(d)[0]) for d in (d1, d2)], 1)
    pts = np.asarray(jax.vmap(lambda p: jax.flatten_util.ravel_pytree(p)[0])(trajectory))
    coef, *_ = np.linalg.lstsq(basis, (pts - np.asarray(v0)).T, rcond=None)
    return coef.T
