"""Loss landscapes: straight paths with their barriers, and 2-D slices (C13, C14).

Works on any ``loss(params, batch)`` and any pytree. Grids are evaluated by ``vmap`` in chunks
(``lax.map`` with a batch size), so memory stays bounded and the whole grid is one compiled call.

For the chapter's MLPs, :func:`mlp_slice_2d` is the fast path. On a plane every weight matrix
is ``W0 + a U + b V``. The input is shared by every point, so the first layer's pre-activation
at ``(a, b)`` is ``c + a p + b q`` with three products ``c, p, q`` computed once for the whole
grid; a sigmoid's exponential of it then factorises over the grid's two axes (see
:func:`_tile_losses`). Each later layer, for a block of points, is one batch of products with
the weights mixed point by point. ``vmap`` over the generic loss instead issues every layer's
products point by point, the first layer's included.

Planes are spanned by random filter-normalised directions (:func:`random_directions`), by the
Hessian's eigenvectors (:func:`hessian_directions`), or by any two directions the user gives.

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

import functools
from typing import Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ch6jax import _checks
from ch6jax import mlp as mlp_lib

from . import hessian as hessian_lib


class Path(NamedTuple):
    """Loss at ``t`` along ``(1 - t) a + t b``; ``barrier`` = the path's maximum over
    ``0 <= t <= 1`` minus the larger end loss (>= 0 when the path rises above both ends)."""

    t: np.ndarray
    loss: np.ndarray
    barrier: float


def _chunked(fn, xs, chunk: int):
    """``vmap(fn)`` over the leading axis of ``xs`` in chunks of ``chunk`` (one compiled call)."""
    return jax.lax.map(fn, xs, batch_size=chunk)


@functools.partial(jax.jit, static_argnames=("loss", "chunk"))
def _line_losses(loss, a, b, batch, ts, chunk):
    va, unravel = jax.flatten_util.ravel_pytree(a)
    vb, _ = jax.flatten_util.ravel_pytree(b)
    return _chunked(lambda t: loss(unravel(va + t * (vb - va)), batch), ts, chunk)


def path(loss: Callable, a, b, batch, *, points: int = 101, chunk: int = 256,
         extend: float = 0.0) -> Path:
    """The loss along the straight line from parameters ``a`` to ``b`` (and ``extend`` beyond).

    Compiled once per ``loss`` (pass the same function object to reuse it)."""
    va, _ = jax.flatten_util.ravel_pytree(a)
    vb, _ = jax.flatten_util.ravel_pytree(b)
    if va.shape != vb.shape:
        raise ValueError(f"b must have the structure and shapes of a ({va.shape[0]} numbers), "
                         f"got {vb.shape[0]}")
    ts = jnp.linspace(-extend, 1 + extend, points, dtype=va.dtype)
    ts, values = np.asarray(ts), np.asarray(_line_losses(loss, a, b, batch, ts, chunk))
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


def _check_grid(span, grid, chunk) -> None:
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ValueError(f"grid must be an integer >= 2 (points a side), got {grid!r}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer))
                              or chunk < 1):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"span must be a positive finite number, got {span!r}")


def _plane(params, d1, d2, span, grid):
    """Flattened centre and directions (checked to match), the axis, and the (grid^2, 2)
    coordinates in the order of ``Slice.loss.ravel()``."""
    v0, unravel = jax.flatten_util.ravel_pytree(params)
    u, _ = jax.flatten_util.ravel_pytree(d1)
    w, _ = jax.flatten_util.ravel_pytree(d2)
    for name, d in (("d1", u), ("d2", w)):
        if d.shape != v0.shape:
            raise ValueError(f"{name} must have the structure and shapes of params "
                             f"({v0.shape[0]} numbers), got {d.shape[0]}")
    s = jnp.linspace(-span, span, grid, dtype=v0.dtype)
    aa, bb = jnp.meshgrid(s, s)
    return v0, unravel, u.astype(v0.dtype), w.astype(v0.dtype), s, jnp.stack(
        [aa.ravel(), bb.ravel()], axis=1)


def slice_2d(loss: Callable, params, batch, d1, d2, *, span: float = 1.0, grid: int = 51,
             chunk: int = 1024) -> Slice:
    """The loss on a ``grid x grid`` plane through ``params`` spanned by ``d1`` and ``d2``.

    Any loss and pytree (compiled once per ``loss`` function object); for an :class:`ch6jax.mlp.MLP`, :func:`mlp_slice_2d` gives the same
    numbers many times faster.
    """
    _check_grid(span, grid, chunk)
    _, _, _, _, s, coords = _plane(params, d1, d2, span, grid)
    values = _grid_losses(loss, params, d1, d2, batch, coords, chunk)
    return Slice(np.asarray(s), np.asarray(s), np.asarray(values).reshape(grid, grid))


@functools.partial(jax.jit, static_argnames=("loss", "chunk"))
def _grid_losses(loss, params, d1, d2, batch, coords, chunk):
    v0, unravel = jax.flatten_util.ravel_pytree(params)
    u, _ = jax.flatten_util.ravel_pytree(d1)
    w, _ = jax.flatten_util.ravel_pytree(d2)
    u, w = u.astype(v0.dtype), w.astype(v0.dtype)
    return _chunked(lambda ab: loss(unravel(v0 + ab[0] * u + ab[1] * w), batch), coords, chunk)


def _exp_bound(dtype) -> float:
    """A bound L on |A| and |B| under which exp(-A) exp(-B) is safe in ``dtype``: each factor
    within e^{+-L} and the product within e^{+-2L} stay finite and normal (0.45 rather than
    0.5 of the range, so that flushing subnormals to zero never changes a product)."""
    info = np.finfo(dtype)
    return 0.45 * float(min(np.log(info.max), -np.log(info.tiny)))


def _first_layer(p0, pu, pv, x):
    """``(c, p, q)``, each (width, N): the first layer's pre-activation at the plane's point
    ``(a, b)`` is ``c + a p + b q`` (biases included). The input is shared by every point, so
    these three products are all the first layer's matrix work for the whole grid."""
    return tuple((x @ p["layers"][0]["w"] + p["layers"][0]["b"]).T for p in (p0, pu, pv))


def _rest_of_network(model: mlp_lib.MLP, p0, pu, pv, skip, h, a, b):
    """Output pre-activations (P, K, N) at the P points ``(a[g], b[g])``, given the first
    layer's output ``h`` (P, width, N): each later layer is one batch of P products
    (out, in) @ (in, N) with the weights mixed point by point (module docstring)."""
    act = mlp_lib.ACTIVATIONS[model.activation]
    a3, b3 = a[:, None, None], b[:, None, None]

    def mix(m0, mu, mv):  # elementwise, so XLA fuses it with what follows
        return m0 + a3 * mu + b3 * mv

    z = h
    for i in range(1, len(p0["layers"])):
        if i > 1:
            h = act(z)
        w = mix(*(p["layers"][i]["w"] for p in (p0, pu, pv)))  # (P, in, out)
        z = jnp.einsum("gio,gin->gon", w, h) + mix(*(p["layers"][i]["b"][:, None]
                                                     for p in (p0, pu, pv)))
    if skip is not None:
        z = z + mix(*skip)
    return z


#: Cross-entropy over at most this many classes is spelt out class by class
#: (:func:`_loss_features_major`); beyond, the unrolled graph would grow with the classes.
UNROLLED_CLASSES = 16


def _unrolled_cross_entropy(model: mlp_lib.MLP) -> bool:
    return model.loss_name == "cross_entropy" and model.sizes[-1] <= UNROLLED_CLASSES


def _loss_features_major(model: mlp_lib.MLP, z, targets, labels: bool):
    """The reduced loss of each of P points from its output pre-activations ``z`` (P, K, N).

    Softmax cross-entropy (6.35) is written for this layout, every reduction over the K
    classes spelt out slice by slice so that it runs along the samples (a reduction over the
    middle axis is many times slower on XLA:CPU); ``targets`` is then (K, N), one-hot for
    integer ``labels``. With labels the per-sample loss is ``ln sum_k exp(z_k - z_t)``: the
    label's own logit is the shift, so no maximum is needed and the sum, holding exp(0) = 1,
    is never below 1. Where a sample's loss is so large that a term overflows (above ~88 nats
    in float32) the tile takes the general form, ``lse(z) sum_k t_k - sum_k t_k z_k`` shifted
    by the maximum.
    Other losses, and cross-entropy over more than :data:`UNROLLED_CLASSES` classes, go
    through the model's own code.
    """
    if not _unrolled_cross_entropy(model):
        return jax.vmap(model.loss_from_logits, in_axes=(0, None))(jnp.swapaxes(z, 1, 2),
                                                                   targets)
    rows = [z[:, k] for k in range(z.shape[1])]  # each (P, N)
    dot_targets = sum(r * tk for r, tk in zip(rows, targets))
    reduce = (lambda v: v.mean(1)) if model.reduction == "mean" else (lambda v: v.sum(1))

    def shifted_by_maximum():
        top = functools.reduce(jnp.maximum, rows)
        lse = jnp.log(sum(jnp.exp(r - top) for r in rows)) + top
        return reduce(lse * targets.sum(0) - dot_targets)

    if not labels:
        return shifted_by_maximum()
    # an overflowing term makes its sample's loss, and so the reduced loss, +inf; checking
    # the P reduced losses keeps the per-sample pass in one library fusion
    losses = reduce(jnp.log(sum(jnp.exp(r - dot_targets) for r in rows)))
    return jax.lax.cond(jnp.isfinite(losses).all(), lambda: losses, shifted_by_maximum)


def _tile_losses(model: mlp_lib.MLP, p0, pu, pv, q, skip, targets, labels, block, b):
    """Losses (R, C) at the points ``(a[j], b[i])`` of a tile: R rows of a column block.

    ``q`` is the first layer's product with the second direction (:func:`_first_layer`).
    ``block`` holds what the column block shares over all rows: its coefficients ``a`` (C,),
    the first layer's ``A = c + a p`` (C, width, N), and for sigmoid networks ``exp(-A)``,
    ``max |A|``, ``max |q|`` and the bound. A sigmoid's exponential then factorises over the
    plane's two axes,

        sigmoid(A + b q) = 1 / (1 + exp(-A) exp(-b q)),        (6.12)

    so a tile costs R x width x N exponentials instead of R x C x width x N, and each point's
    hidden unit is one product and one division. Where ``|A|`` or ``|b q|`` could overflow
    the product (beyond :func:`_exp_bound`), the tile is computed directly instead.
    """
    a, first = block["a"], block["A"]
    rows, cols = b.shape[0], a.shape[0]
    bq = b[:, None, None] * q[None]  # (R, width, N)

    def direct(activation):  # (R * C, width, N)
        return activation(first[None] + bq[:, None]).reshape(rows * cols, *first.shape[1:])

    if len(p0["layers"]) == 1:  # no hidden layer: the first layer is the output layer
        h = direct(lambda z: z)
    elif model.activation == "sigmoid":
        h = jax.lax.cond(
            (block["max_abs_A"] <= block["bound"])
            & (jnp.abs(b).max() * block["max_abs_q"] <= block["bound"]),
            lambda: (1.0 / (1.0 + block["exp_minus_A"][None] * jnp.exp(-bq)[:, None])
                     ).reshape(rows * cols, *first.shape[1:]),
            lambda: direct(jax.nn.sigmoid))
    else:
        h = direct(mlp_lib.ACTIVATIONS[model.activation])
    z = _rest_of_network(model, p0, pu, pv, skip, h, jnp.tile(a, rows), jnp.repeat(b, cols))
    return _loss_features_major(model, z, targets, labels).reshape(rows, cols)


@functools.lru_cache(maxsize=32)
def _compiled_slice(model: mlp_lib.MLP, devices: tuple):
    """``(p0, pu, pv, x, t, a_blocks (blocks, C), b_tiles (devices, tiles, R)) -> losses
    (devices, blocks, tiles, R, C)``, jitted once per model and device set (the data and
    directions are arguments, so a new slice of the same network reuses the compiled code).

    Each device takes its rows; for each column block it computes the block's share of the
    first layer once, then runs its rows through the network R at a time."""
    def run(p0, pu, pv, x, t, a_blocks, b_tiles):  # b_tiles (tiles, R)
        c, p, q = _first_layer(p0, pu, pv, x)
        skip = tuple((x @ pp["skip"]["w"]).T for pp in (p0, pu, pv)) if "skip" in p0 else None
        labels = t.ndim == 1
        if not _unrolled_cross_entropy(model):
            targets = t
        elif labels:
            targets = jax.nn.one_hot(t, model.sizes[-1], dtype=c.dtype).T
        else:
            targets = t.T.astype(c.dtype)
        factorised = len(p0["layers"]) > 1 and model.activation == "sigmoid"
        max_abs_q = jnp.max(jnp.abs(q))

        def column_block(a):
            first = c[None] + a[:, None, None] * p[None]
            block = {"a": a, "A": first}
            if factorised:
                block.update(exp_minus_A=jnp.exp(-first), max_abs_A=jnp.max(jnp.abs(first)),
                             max_abs_q=max_abs_q, bound=_exp_bound(c.dtype))
            return jax.lax.map(lambda b: _tile_losses(model, p0, pu, pv, q, skip, targets,
                                                      labels, block, b), b_tiles)
        return jax.lax.map(column_block, a_blocks)

    per_device = lambda p0, pu, pv, x, t, a, b: run(p0, pu, pv, x, t, a, b[0])[None]  # noqa: E731
    if len(devices) == 1:
        return jax.jit(per_device)
    mesh = Mesh(np.array(devices), ("devices",))
    spec, rep = PartitionSpec("devices"), PartitionSpec()
    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=(rep,) * 6 + (spec,),
                                 out_specs=spec))


#: Numbers a tile should hold (per point: the widest layer's activations for the batch, plus
#: a mixed copy of the largest weight matrix after the first): tiles this large amortise
#: the fixed cost of each of XLA:CPU's library calls (the products and the loss run through
#: YNNPACK); on the benchmark's network larger ones gained nothing and smaller ones lost.
TILE_NUMBERS = 4_000_000


def mlp_slice_2d(model: mlp_lib.MLP, params, batch, d1, d2, *, span: float = 1.0,
                 grid: int = 51, chunk: int | None = None, devices=None) -> Slice:
    """:func:`slice_2d` of ``model.loss`` for an :class:`ch6jax.mlp.MLP`, fast.

    The grid is run in tiles of R rows (fixed ``beta``) by C columns (fixed ``alpha``) whose
    points go through the network together (module docstring; for sigmoid networks the first
    layer's exponentials are shared along rows and columns, see :func:`_tile_losses`). By
    default C is a whole row and R as many rows as fit in :data:`TILE_NUMBERS` (numbers of
    activations and mixed weights); where one row does not fit, C is what does. ``chunk``
    sets C instead (one row a tile), evened out over the blocks (4 on a grid of 9 gives
    blocks of 3). The samples are never split: a tile holds at least one point's activations
    for the whole batch. The rows are spread over ``devices`` (default: all local devices; on
    a CPU, start with ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` to have
    one per core). Same conventions and results as :func:`slice_2d` (to rounding).
    """
    _check_grid(span, grid, chunk)
    if not isinstance(model, mlp_lib.MLP):
        raise ValueError(f"model must be a ch6jax.mlp.MLP, got {type(model).__name__}")
    model.check_batch(batch)
    devices = _checks.devices(devices)
    v0, unravel, u, w, s, _ = _plane(params, d1, d2, span, grid)
    # a point's share of a tile: its activations, and its mixed copy of the largest weights
    per_point = batch[0].shape[0] * max(model.sizes[1:]) + max(
        [m * n for m, n in zip(model.sizes[1:-1], model.sizes[2:])], default=0)
    if chunk is None:
        chunk = max(1, min(grid, TILE_NUMBERS // per_point))
        rows = max(1, TILE_NUMBERS // (chunk * per_point))
    else:
        rows = 1
    blocks = -(-grid // chunk)
    chunk = -(-grid // blocks)  # the same number of blocks, as even as they come
    k = len(devices)
    rows = min(rows, -(-grid // k))  # no tile larger than a device's share of rows
    tiles = -(-grid // (k * rows))
    rows = -(-grid // (k * tiles))  # the same number of tiles, as even as they come
    p0, pu, pv = unravel(v0), unravel(u), unravel(w)
    x, t = batch
    x = jnp.asarray(x, v0.dtype)
    t = jnp.asarray(t) if jnp.issubdtype(jnp.asarray(t).dtype, jnp.integer) else \
        jnp.asarray(t, v0.dtype)

    # padding repeats the last coordinate, so padded points stay inside the plane's range
    a = jnp.pad(s, (0, blocks * chunk - grid), mode="edge").reshape(blocks, chunk)
    b = jnp.pad(s, (0, k * tiles * rows - grid), mode="edge").reshape(k, tiles, rows)
    run = _compiled_slice(model, tuple(devices))
    if k > 1:
        b = jax.device_put(b, NamedSharding(Mesh(np.array(devices), ("devices",)),
                                            PartitionSpec("devices")))
    out = np.asarray(run(p0, pu, pv, x, t, a, b))  # (devices, blocks, tiles, R, C)
    values = out.transpose(0, 2, 3, 1, 4).reshape(k * tiles * rows, blocks * chunk)
    return Slice(np.asarray(s), np.asarray(s), values[:grid, :grid])


def hessian_directions(loss: Callable, params, batch, *, pick: str = "top",
                       steps: int | None = None, key: jax.Array | None = None,
                       batch_size: int | None = None):
    """Two Hessian eigenvectors as directions (pytrees like ``params``, unit norm), with their
    eigenvalues, by :func:`analysis.hessian.lanczos` (float64).

    ``pick="top"``: the two largest eigenvalues (the sharpest directions at a minimum);
    ``pick="extremes"``: the largest and the smallest (at a saddle, the way down).
    """
    if pick not in ("top", "extremes"):
        raise ValueError(f"pick must be 'top' or 'extremes', got {pick!r}")
    pairs = hessian_lib.lanczos(loss, params, batch, k=2, steps=steps, key=key,
                                which="largest" if pick == "top" else "both",
                                batch_size=batch_size)
    cols = (-1, -2) if pick == "top" else (-1, 0)
    _, unravel = jax.flatten_util.ravel_pytree(params)
    dtype = jax.flatten_util.ravel_pytree(params)[0].dtype
    dirs = tuple(unravel(jnp.asarray(pairs.vectors[:, c], dtype)) for c in cols)
    return dirs, np.array([pairs.values[c] for c in cols])


def trajectory_directions(trajectory, params):
    """The plane that best holds a training trajectory (Li et al. 2018, section 7): the two top
    principal directions of the snapshots' offsets from ``params`` (usually the end point).

    Random directions in a space of many dimensions are nearly orthogonal to any path, so a
    trajectory projected on a random plane collapses to a point; this plane shows it. Returns
    ``((d1, d2), explained)``: unit-norm directions as pytrees, and the fraction of the offsets'
    squared norm each captures.
    """
    v0, unravel = jax.flatten_util.ravel_pytree(params)
    pts = jax.vmap(lambda p: jax.flatten_util.ravel_pytree(p)[0])(trajectory)
    offsets = np.asarray(pts - v0)
    if offsets.shape[0] < 2:
        raise ValueError(f"trajectory must hold at least 2 snapshots, got {offsets.shape[0]}")
    _, sv, vt = np.linalg.svd(offsets, full_matrices=False)
    explained = sv ** 2 / max(float((sv ** 2).sum()), np.finfo(float).tiny)
    dirs = tuple(unravel(jnp.asarray(vt[i], v0.dtype)) for i in range(2))
    return dirs, explained[:2]


def project(trajectory, params, d1, d2) -> np.ndarray:
    """Coordinates (alpha, beta) of each point of a trajectory (stacked pytree, leading axis T)
    in the plane through ``params`` spanned by ``d1``, ``d2`` (least squares, so non-orthogonal
    directions are handled too)."""
    v0, _ = jax.flatten_util.ravel_pytree(params)
    basis = np.stack([np.asarray(jax.flatten_util.ravel_pytree(d)[0]) for d in (d1, d2)], 1)
    pts = np.asarray(jax.vmap(lambda p: jax.flatten_util.ravel_pytree(p)[0])(trajectory))
    coef, *_ = np.linalg.lstsq(basis, (pts - np.asarray(v0)).T, rcond=None)
    return coef.T
