"""Second-order instruments for any ``loss(params, batch)`` over any pytree (C12).

* :func:`flatten` / :class:`Flat`: parameters as one vector, with each entry's name.
* :func:`hessian`: the full Hessian matrix (small models), symmetrised and labelled.
* :func:`make_hvp`: Hessian-vector products, forward-over-reverse: ``jvp`` of ``grad``; one costs
  a small multiple of one gradient and never forms the matrix.
* :func:`lanczos`: the k largest and smallest eigenpairs by Lanczos with full
  reorthogonalisation, each with its residual ``||H v - lambda v||``.
* :func:`hutchinson_trace`: a trace estimate with its standard error.
* :func:`spectral_density`: the eigenvalue density by stochastic Lanczos quadrature.

Data too large for one pass is given with ``batch_size``: the examples (the leading axis of every
leaf of ``batch``) are cut into chunks of that many and the chunk's loss, gradient, Hessian or
Hessian-vector product is accumulated in ``lax.scan``, weighted by the chunk's share of the
examples when ``reduction="mean"`` (the loss is a mean over examples, as the chapter's (6.7)) or
by 1 when ``reduction="sum"`` (as (6.53)). A last, shorter chunk is handled exactly, so the result
equals the one-pass value to rounding whatever the batch size; memory holds one chunk at a time.

Everything runs in float64 by default (the x64 flag is switched on inside each call and the
inputs are cast), because eigenvalues near zero decide whether a point is a minimum or a saddle
and float32 cannot tell them apart; the iterative estimators (Lanczos, trace, density) accept
``dtype=jnp.float32`` for speed on large models, where their residuals and standard errors say
what the precision cost. Iterations run inside ``lax.fori_loop``, so compile time does not grow
with the number of steps; each instrument is compiled once per loss function and shapes.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np


def as_float64(tree, dtype=jnp.float64):
    """Cast the floating leaves of a pytree to float64, or to ``dtype`` (inside an x64 context)."""
    return jax.tree.map(lambda a: jnp.asarray(a, dtype)
                        if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a, tree)


def _names(params) -> list[str]:
    """One name per scalar parameter, in ``ravel_pytree`` order: ``layers/0/w[1,2]``."""
    paths, _ = jax.tree_util.tree_flatten_with_path(params)
    names = []
    for path, leaf in paths:
        base = "/".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p))))
                        for p in path)
        shape = np.shape(leaf)
        if shape == ():
            names.append(base)
        else:
            names.extend(f"{base}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape))
    return names


REDUCTIONS = ("mean", "sum")


def _check_batching(batch, batch_size, reduction) -> int | None:
    """Validate ``batch_size``/``reduction``; return the number of examples (None: no batching)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    leaves = jax.tree.leaves(batch)
    if not leaves or any(np.ndim(a) == 0 for a in leaves):
        raise ValueError("batch_size needs a batch whose leaves all have a leading example "
                         "axis")
    sizes = {np.shape(a)[0] for a in leaves}
    if len(sizes) != 1:
        raise ValueError(f"batch leaves must share their leading (example) axis to be cut "
                         f"into chunks, got lengths {sorted(sizes)}")
    return sizes.pop()


def over_batches(fn: Callable, batch, batch_size: int | None, reduction: str = "mean"):
    """``fn(batch)`` computed chunk by chunk: sum over chunks c of ``weight(c) * fn(c)``.

    ``weight(c)`` is ``len(c) / N`` for ``reduction="mean"`` and 1 for ``"sum"``, so for a loss
    that is a mean (or sum) over examples, and anything linear in it (gradient, Hessian, HVP),
    the result is the full-batch value. Full chunks run in one ``lax.scan``; a shorter last
    chunk is one more call. Use inside ``jit``.
    """
    n = _check_batching(batch, batch_size, reduction)
    if n is None or batch_size >= n:
        return fn(batch)
    full, rest = divmod(n, batch_size)
    head = jax.tree.map(lambda a: a[:full * batch_size].reshape(full, batch_size,
                                                                *a.shape[1:]), batch)
    scale = (lambda m: m / n) if reduction == "mean" else (lambda m: 1.0)

    def add(total, chunk):
        return jax.tree.map(lambda t, x: t + scale(batch_size) * x, total, fn(chunk)), None

    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                         jax.eval_shape(fn, jax.tree.map(lambda a: a[0], head)))
    total, _ = jax.lax.scan(add, zeros, head)
    if rest:
        tail = jax.tree.map(lambda a: a[full * batch_size:], batch)
        total = jax.tree.map(lambda t, x: t + scale(rest) * x, total, fn(tail))
    return total


class Flat(NamedTuple):
    """Parameters as one float64 vector: ``vector`` (P,), ``unravel`` (vector -> pytree) and
    ``names`` (P strings naming each entry)."""

    vector: jax.Array
    unravel: Callable
    names: list[str]


def flatten(params) -> Flat:
    """Flatten a pytree of parameters to a float64 vector, keeping each entry's name."""
    with jax.enable_x64(True):
        vector, unravel = jax.flatten_util.ravel_pytree(as_float64(params))
    return Flat(vector, unravel, _names(params))


_STATIC = ("loss", "batch_size", "reduction")


def _ravel(params):
    return jax.flatten_util.ravel_pytree(params)


#: Hessian columns computed together: one vmapped block of Hessian-vector products. Blocks
#: keep the tangents' intermediates in cache; all P at once (``jax.hessian``) is about twice as
#: slow at P = 2,410 on a CPU, and one at a time wastes the vector units.
HESSIAN_BLOCK = 64


@functools.partial(jax.jit, static_argnames=_STATIC)
def _hessian(loss, params, batch, batch_size, reduction):
    v, unravel = _ravel(params)
    p = v.shape[0]

    def columns(chunk):  # H e_i for every i, forward-over-reverse, in blocks
        grad = jax.grad(lambda u: loss(unravel(u), chunk))
        # e_i built inside the map: no (P, P) identity held beside the Hessian
        return jax.lax.map(lambda i: jax.jvp(grad, (v,), (jax.nn.one_hot(i, p, dtype=v.dtype),))[1],
                           jnp.arange(p), batch_size=min(p, HESSIAN_BLOCK))

    return over_batches(columns, batch, batch_size, reduction)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _gradient(loss, params, batch, batch_size, reduction):
    v, unravel = _ravel(params)
    return over_batches(lambda chunk: jax.grad(lambda u: loss(unravel(u), chunk))(v),
                        batch, batch_size, reduction)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _value(loss, params, batch, batch_size, reduction):
    return over_batches(lambda chunk: loss(params, chunk), batch, batch_size, reduction)


_DTYPES = (jnp.float64, jnp.float32)


def _prepare(params, batch, batch_size, reduction, dtype=jnp.float64):
    """Cast to ``dtype`` and check the batching (call inside an x64 context)."""
    if not any(np.dtype(dtype) == np.dtype(d) for d in _DTYPES):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    params, batch = as_float64(params, dtype), as_float64(batch, dtype)
    _check_batching(batch, batch_size, reduction)
    return params, batch


def hessian(loss: Callable, params, batch, *, batch_size: int | None = None,
            reduction: str = "mean") -> tuple[np.ndarray, list[str]]:
    """The full Hessian of ``loss`` at ``params`` (float64), and the parameter names.

    Args:
      loss: ``loss(params, batch) -> scalar``.
      params: any pytree of arrays.
      batch: the data, passed to ``loss`` unchanged (cast to float64).
      batch_size, reduction: accumulate over chunks of the data (see the module docstring).

    Returns:
      ``(H, names)``: ``H`` of shape (P, P), made exactly symmetric by ``(H + H^T) / 2`` (the two
      halves agree to rounding), and the P names in ``ravel_pytree`` order.

    Every instrument here is compiled once per ``loss`` function and shapes: pass the same
    function object again (a bound method of an equal frozen model counts) to reuse it.
    """
    with jax.enable_x64(True):
        params, batch = _prepare(params, batch, batch_size, reduction)
        h = np.asarray(_hessian(loss, params, batch, batch_size, reduction))
    return (h + h.T) / 2, _names(params)


def gradient(loss: Callable, params, batch, *, batch_size: int | None = None,
             reduction: str = "mean") -> tuple[np.ndarray, list[str]]:
    """The gradient as a float64 vector with its names (the same order as :func:`hessian`)."""
    with jax.enable_x64(True):
        params, batch = _prepare(params, batch, batch_size, reduction)
        g = np.asarray(_gradient(loss, params, batch, batch_size, reduction))
    return g, _names(params)


def value(loss: Callable, params, batch, *, batch_size: int | None = None,
          reduction: str = "mean") -> float:
    """The loss in float64, accumulated over chunks of the data if ``batch_size`` is given."""
    with jax.enable_x64(True):
        params, batch = _prepare(params, batch, batch_size, reduction)
        return float(_value(loss, params, batch, batch_size, reduction))


def make_hvp(loss: Callable) -> Callable:
    """``hvp(params, batch, v) -> H v`` for pytrees ``params`` and ``v`` (forward-over-reverse).

    Example:
      >>> hvp = jax.jit(make_hvp(loss))
      >>> hv = hvp(params, batch, v)
    """
    def hvp(params, batch, v):
        grad = lambda p: jax.grad(loss)(p, batch)  # noqa: E731
        return jax.jvp(grad, (params,), (v,))[1]

    return hvp


def _flat_matvec(loss, params, batch, batch_size, reduction):
    """``v -> H v`` on flat vectors, accumulated over chunks (use inside ``jit``)."""
    v0, unravel = _ravel(params)
    hvp = make_hvp(loss)

    def matvec(v):
        def one(chunk):
            return _ravel(hvp(unravel(v0), chunk, unravel(v)))[0]
        return over_batches(one, batch, batch_size, reduction)

    return matvec


class Eigenpairs(NamedTuple):
    """Eigenvalues (ascending), eigenvectors (columns of a (P, k) array) and their residuals
    ``||H v - lambda v||``."""

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray


def _lanczos_basis(matvec, v0, steps: int, key):
    """``steps`` Lanczos steps with full reorthogonalisation; returns (Q (steps, P), alpha, beta).

    Every new vector is orthogonalised against all earlier ones twice ("twice is enough"), so
    the basis stays orthonormal to rounding and no spurious copies of converged eigenvalues
    appear. If the Krylov space closes (an invariant subspace is found, beta ~ 0), the next
    vector is a fresh random one orthogonal to the basis and beta is set to 0: the tridiagonal
    matrix then splits into blocks whose eigenvalues are all exact.

    The basis has one spare row so that every step writes row i + 1 in place; rows not yet
    written are zero, so orthogonalising against the whole array needs no mask.
    """
    p = v0.shape[0]
    basis = jnp.zeros((steps + 1, p), v0.dtype).at[0].set(v0 / jnp.linalg.norm(v0))

    def orthogonalise(w, basis):  # against the rows written so far (the rest are zero), twice
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        return w

    def body(i, carry):
        basis, alpha, beta = carry
        q = basis[i]
        hq = matvec(q)
        a = jnp.dot(hq, q)
        w = orthogonalise(hq, basis)
        b = jnp.linalg.norm(w)
        closed = b <= 1e-12 * jnp.maximum(jnp.linalg.norm(hq), 1e-300)

        def restart(_):
            f = orthogonalise(jax.random.normal(jax.random.fold_in(key, i), (p,), v0.dtype),
                              basis)
            return f / jnp.linalg.norm(f)

        nxt = jax.lax.cond(closed, restart, lambda _: w / b, None)
        return (basis.at[i + 1].set(nxt), alpha.at[i].set(a),
                beta.at[i].set(jnp.where(closed, 0.0, b)))

    alpha = jnp.zeros(steps, v0.dtype)
    beta = jnp.zeros(steps, v0.dtype)
    basis, alpha, beta = jax.lax.fori_loop(0, steps, body, (basis, alpha, beta))
    return basis[:steps], alpha, beta


def lanczos(loss: Callable, params, batch, *, k: int = 5, steps: int | None = None,
            which: str = "both", key: jax.Array | None = None, batch_size: int | None = None,
            reduction: str = "mean", dtype=jnp.float64,
            explicit_residuals: bool = False) -> Eigenpairs:
    """Extreme eigenpairs of the Hessian by Lanczos, from Hessian-vector products only.

    Args:
      loss, params, batch: as in :func:`hessian`.
      k: how many eigenpairs at each end asked for.
      steps: Lanczos steps (default ``min(P, max(4 k, 40))``); more steps, smaller residuals.
      which: ``"largest"``, ``"smallest"`` or ``"both"``.
      key: the starting vector's key (default ``key(0)``).
      batch_size, reduction: accumulate each product over chunks of the data (module docs).
      dtype: float64 (default) or float32, for speed when the extremes are well separated
        (the residuals say whether the pairs are still accurate).
      explicit_residuals: compute each residual with one more Hessian-vector product instead
        of the Lanczos identity (below); a check that costs ``k`` (or ``2 k``) products.

    Returns:
      :class:`Eigenpairs`, ascending, each with its residual ``||H v - lambda v||``, so a
      converged pair can be told from one that is not. By default the residual comes from the
      Lanczos relation ``H Q = Q T + beta_m q_{m+1} e_m^T``: for the Ritz pair
      ``(theta_j, Q s_j)`` it is ``|beta_m (s_j)_m|``, exact to rounding while the basis is
      kept orthogonal (as here), and free; ARPACK reports the same quantity.
    """
    if which not in ("largest", "smallest", "both"):
        raise ValueError(f"which must be 'largest', 'smallest' or 'both', got {which!r}")
    with jax.enable_x64(True):
        params, batch = _prepare(params, batch, batch_size, reduction, dtype)
        p = _ravel(params)[0].shape[0]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= p:
            raise ValueError(f"k must be an integer in 1..{p} (the number of parameters), "
                             f"got {k!r}")
        steps = min(p, max(4 * k, 40)) if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not k <= steps <= p:
            raise ValueError(f"steps must be an integer in {k}..{p}, got {steps!r}")
        key = jax.random.key(0) if key is None else key
        pick = {"largest": np.arange(steps - k, steps), "smallest": np.arange(k),
                "both": np.unique(np.r_[np.arange(k), np.arange(steps - k, steps)])}[which]
        values, vectors, residuals = _lanczos(loss, params, batch, key, steps, tuple(pick),
                                              batch_size, reduction, explicit_residuals)
        return Eigenpairs(np.asarray(values), np.asarray(vectors), np.asarray(residuals))


@functools.partial(jax.jit, static_argnames=(*_STATIC, "steps", "pick", "explicit"))
def _lanczos(loss, params, batch, key, steps, pick, batch_size, reduction, explicit):
    matvec = _flat_matvec(loss, params, batch, batch_size, reduction)
    p = _ravel(params)[0].shape[0]
    v0 = jax.random.normal(key, (p,), _ravel(params)[0].dtype)
    basis, alpha, beta = _lanczos_basis(matvec, v0, steps, jax.random.fold_in(key, 1))
    t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    theta, s = jnp.linalg.eigh(t)
    pick = jnp.asarray(pick)
    vectors = basis.T @ s[:, pick]                                 # Ritz vectors (P, k)
    if explicit:
        residual = jax.vmap(lambda v, lam: jnp.linalg.norm(matvec(v) - lam * v),
                            in_axes=(1, 0))(vectors, theta[pick])
    else:
        residual = jnp.abs(beta[-1] * s[-1, pick])
    return theta[pick], vectors, residual


class TraceEstimate(NamedTuple):
    """Hutchinson's estimate of tr(H): ``mean`` over ``samples`` Rademacher probes, with the
    standard error of that mean."""

    mean: float
    stderr: float
    samples: int


def hutchinson_trace(loss: Callable, params, batch, *, samples: int = 100,
                     key: jax.Array | None = None, batch_size: int | None = None,
                     reduction: str = "mean", dtype=jnp.float64) -> TraceEstimate:
    """tr(H) = E[z^T H z] for Rademacher z, with its standard error (so repeated runs can be
    compared: peers report a bare number that changes from run to run)."""
    if not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2 (for a standard error), got "
                         f"{samples!r}")
    with jax.enable_x64(True):
        params, batch = _prepare(params, batch, batch_size, reduction, dtype)
        key = jax.random.key(0) if key is None else key
        quad = np.asarray(_quadratic_forms(loss, params, batch, key, samples, batch_size,
                                           reduction))
    return TraceEstimate(float(quad.mean()), float(quad.std(ddof=1) / np.sqrt(samples)), samples)


@functools.partial(jax.jit, static_argnames=(*_STATIC, "samples"))
def _quadratic_forms(loss, params, batch, key, samples, batch_size, reduction):
    """z^T H z for ``samples`` Rademacher vectors z."""
    matvec = _flat_matvec(loss, params, batch, batch_size, reduction)
    p = _ravel(params)[0].shape[0]
    z = jax.random.rademacher(key, (samples, p), _ravel(params)[0].dtype)
    return jax.lax.map(lambda v: jnp.dot(v, matvec(v)), z, batch_size=min(samples, 64))


class SpectralDensity(NamedTuple):
    """``density`` on ``grid`` (it integrates to 1), from stochastic Lanczos quadrature: the
    Gaussian-broadened average of the Ritz values of ``probes`` Lanczos runs weighted by the
    squared first components of their eigenvectors. ``nodes`` (probes, steps) and ``weights``
    are kept, so moments can be computed exactly from them."""

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray


def spectral_density(loss: Callable, params, batch, *, probes: int = 10, steps: int = 60,
                     sigma: float | None = None, grid_points: int = 400,
                     key: jax.Array | None = None, batch_size: int | None = None,
                     reduction: str = "mean", dtype=jnp.float64) -> SpectralDensity:
    """The Hessian's eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each probe runs ``steps`` Lanczos steps from a Rademacher vector; the eigenvalues theta of
    its tridiagonal matrix, with weights tau = (first component of each eigenvector)^2, are a
    Gauss quadrature of the spectral measure seen from that vector. Averaging over probes and
    smoothing with a Gaussian of width ``sigma`` (default: 1% of the spectrum's range) gives
    the density.
    """
    with jax.enable_x64(True):
        params, batch = _prepare(params, batch, batch_size, reduction, dtype)
        steps = min(steps, _ravel(params)[0].shape[0])
        key = jax.random.key(0) if key is None else key
        nodes, weights = _slq(loss, params, batch, key, probes, steps, batch_size, reduction)
        nodes, weights = np.asarray(nodes), np.asarray(weights)
    lo, hi = nodes.min(), nodes.max()
    width = max(hi - lo, 1e-12)
    sigma = 0.01 * width if sigma is None else sigma
    grid = np.linspace(lo - 0.05 * width, hi + 0.05 * width, grid_points)
    kernel = np.exp(-0.5 * ((grid[None, None, :] - nodes[..., None]) / sigma) ** 2)
    density = (weights[..., None] * kernel).sum(axis=(0, 1)) / (probes * sigma * np.sqrt(2 * np.pi))
    return SpectralDensity(grid, density, nodes, weights)


@functools.partial(jax.jit, static_argnames=(*_STATIC, "probes", "steps"))
def _slq(loss, params, batch, key, probes, steps, batch_size, reduction):
    """Ritz values and squared first components of ``probes`` Lanczos runs from Rademacher
    vectors."""
    matvec = _flat_matvec(loss, params, batch, batch_size, reduction)
    p = _ravel(params)[0].shape[0]
    vs = jax.random.rademacher(key, (probes, p), _ravel(params)[0].dtype)

    def one(v, k):
        _, alpha, beta = _lanczos_basis(matvec, v, steps, k)
        t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
        theta, s = jnp.linalg.eigh(t)
        return theta, s[0] ** 2

    return jax.vmap(one)(vs, jax.random.split(jax.random.fold_in(key, 1), probes))
