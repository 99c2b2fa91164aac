"""The Hopfield network (C15, C16): storage rules, energy, and exact dynamics.

States are in {-1, 1} (``encoding="pm1"``, the chapter's choice, bias 0) or {0, 1}
(``encoding="binary"``). Neuron i updates to sigma(sum_j w_ij s_j + b_i) (6.60), with
sigma(z) = +1 for z >= 0, else -1 (6.61) (0 instead of -1 in the binary encoding).

The two encodings are the same network when the biases are converted: with s = (sigma + 1) / 2,
sum_j w_ij sigma_j + b_i = 2 (sum_j w_ij s_j + b'_i) for b'_i = (b_i - sum_j w_ij) / 2, so every
decision agrees, and E(sigma) = 4 E'(s) + constant (:func:`binary_bias`, :func:`pm1_bias`).
The chapter's "bias -0.5" for {0, 1} states is this b' only when a row of W sums to 1.

Storage: Hebb's rule (6.68) (:func:`hebb`, incrementally :func:`add_pattern`), Storkey's rule
(:func:`storkey`) and the pseudo-inverse (projection) rule (:func:`pseudo_inverse`), all with
zero diagonal (w_ii = 0, as the energy argument (6.66)-(6.67) needs).

Dynamics (:func:`relax`): asynchronous, one neuron at a time in a random order (from a key,
a fresh permutation per sweep and per probe) or a fixed order, exactly as (6.60) says; or
synchronous, all at once, with 2-cycle detection. Many probes relax together. Asynchronous
updates keep each probe's local fields h = W s + b and change them only when a neuron flips
(h += 2 s_j W[:, j] for the flipped neuron j), so a sweep over a probe that does not change costs
O(N), not O(N^2).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _relaxation

ENCODINGS = ("pm1", "binary")
MODES = ("async", "sync")
#: Probes relaxed side by side in :func:`relax_many` (at N = 1,000, 384 to 768 run alike).
LANES = 512


# ---------------------------------------------------------------------------------------------
# checks and encodings

def _check_states(name: str, s, encoding: str, n: int | None = None, *, nonempty=True,
                  ndim=(1, 2)):
    _checks.choice("encoding", encoding, ENCODINGS)
    s = _checks.array(name, s, ndim=ndim, nonempty=nonempty)
    if n is not None and s.shape[-1] != n:
        raise ValueError(f"{name} must have {n} neurons on its last axis (the size of W), "
                         f"got shape {tuple(s.shape)}")
    allowed = (-1, 1) if encoding == "pm1" else (0, 1)
    if not _checks.is_traced(s) and not _checks.only_values(s, allowed):
        values = set(np.unique(np.asarray(s)).tolist())
        if not values <= set(allowed):
            raise ValueError(f"{name} must hold only {sorted(allowed)} ({encoding} encoding), "
                             f"got values {sorted(values - set(allowed))[:5]}")
    return s


def _check_weights(W, *, symmetric: bool = False):
    W = _checks.array("W", W, ndim=2)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square (N x N), got shape {tuple(W.shape)}")
    if symmetric and not _checks.is_traced(W):
        w = np.asarray(W)
        if not np.allclose(w, w.T, rtol=0, atol=1e-12 * max(1.0, float(np.abs(w).max()))):
            raise ValueError("W must be symmetric (w_ij = w_ji) for the energy (6.65) to "
                             "decrease under the dynamics; got max |W - W^T| = "
                             f"{float(np.abs(w - w.T).max()):.3g}")
    return W


def to_pm1(s):
    """{0, 1} states to {-1, 1}."""
    return 2 * jnp.asarray(s) - 1


def to_binary(s):
    """{-1, 1} states to {0, 1}."""
    return (jnp.asarray(s) + 1) // 2


def binary_bias(W, b=None):
    """The bias that makes {0, 1} states with the same W decide exactly as {-1, 1} states with
    bias ``b`` (default 0): b'_i = (b_i - sum_j w_ij) / 2."""
    W = jnp.asarray(W)
    b = jnp.zeros(W.shape[0], W.dtype) if b is None else jnp.asarray(b, W.dtype)
    return (b - W.sum(axis=1)) / 2


def pm1_bias(W, b_binary):
    """The inverse of :func:`binary_bias`: b_i = 2 b'_i + sum_j w_ij."""
    W = jnp.asarray(W)
    return 2 * jnp.asarray(b_binary, W.dtype) + W.sum(axis=1)


# ---------------------------------------------------------------------------------------------
# storage rules

def _patterns(patterns, encoding: str = "pm1"):
    p = _check_states("patterns", patterns, encoding, nonempty=False)
    if p.ndim == 1:
        p = p[None]
    if p.shape[0] == 0:
        raise ValueError("patterns must hold at least one pattern (K >= 1), got K = 0")
    p = jnp.asarray(p, jnp.result_type(float))
    return to_pm1(p) if encoding == "binary" else p


def hebb(patterns, *, encoding: str = "pm1"):
    """Hebb's rule (6.68): W = (1/N) sum_k xi^k (xi^k)^T with w_ii = 0. ``patterns``: (K, N)."""
    xi = _patterns(patterns, encoding)
    n = xi.shape[1]
    w = xi.T @ xi / n
    return w - jnp.diag(jnp.diag(w))


def add_pattern(W, pattern, *, encoding: str = "pm1"):
    """Store one more pattern in Hebbian weights: W + (1/N) xi xi^T, diagonal kept at 0."""
    W = _check_weights(W)
    xi = _patterns(pattern, encoding)[0]
    if xi.shape[0] != W.shape[0]:
        raise ValueError(f"pattern must have {W.shape[0]} neurons, got {xi.shape[0]}")
    w = W + jnp.outer(xi, xi) / W.shape[0]
    return w - jnp.diag(jnp.diag(w))


def storkey(patterns, *, encoding: str = "pm1"):
    """Storkey's (1997) incremental rule: for each pattern xi, with local fields
    h_ij = sum_{k != i, j} w_ik xi_k,
    w_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / N. Zero diagonal. Capacity about 0.25 N for
    random patterns in the limit."""
    xi = _patterns(patterns, encoding)
    return storkey_pm1(xi, jnp.ones(xi.shape[0], xi.dtype))


def storkey_pm1(xi, mask):
    """Storkey's rule on {-1, 1} patterns (K, N), pattern k stored only where ``mask[k]`` is 1
    (so stacks of pattern sets of different sizes can be vmapped). Unchecked; jittable."""
    n = xi.shape[1]

    def add(w, x_m):
        x, m = x_m
        field = w @ x                                              # sum_k w_ik x_k
        # h_ij = field_i - w_ii x_i - w_ij x_j  (w_ii = 0)
        h = field[:, None] - w * x[None, :]
        dw = (jnp.outer(x, x) - x[:, None] * h.T - h * x[None, :]) / n
        w = w + m * dw
        return w - jnp.diag(jnp.diag(w)), None

    w, _ = jax.lax.scan(add, jnp.zeros((n, n), xi.dtype), (xi, mask))
    return w


def pseudo_inverse(patterns, *, encoding: str = "pm1"):
    """The projection rule (Personnaz, Guyon and Dreyfus 1985): W = Xi^T (Xi Xi^T)^+ Xi, the
    orthogonal projector onto the patterns' span, with its diagonal then set to 0. Every
    linearly independent pattern set (K < N) is stored as fixed points."""
    return pseudo_inverse_pm1(_patterns(patterns, encoding))


def pseudo_inverse_pm1(xi):
    """The projection rule on {-1, 1} patterns (K, N); zero rows add nothing, so a masked
    stack of pattern sets can be vmapped. Unchecked; jittable."""
    w = xi.T @ jnp.linalg.pinv(xi @ xi.T, hermitian=True) @ xi
    return w - jnp.diag(jnp.diag(w))


RULES = {"hebb": hebb, "storkey": storkey, "pseudo_inverse": pseudo_inverse}


# ---------------------------------------------------------------------------------------------
# energy

def energy(W, s, b=None, *, encoding: str = "pm1"):
    """(6.65): E = -1/2 sum_ij w_ij s_i s_j - sum_i b_i s_i, for one state (N,) or many (P, N).
    W must be symmetric (the energy is defined for the symmetric network)."""
    W = _check_weights(W, symmetric=True)
    s = _check_states("s", s, encoding, W.shape[0]).astype(W.dtype)
    b = jnp.zeros(W.shape[0], W.dtype) if b is None else jnp.asarray(b, W.dtype)
    return -0.5 * jnp.einsum("...i,ij,...j->...", s, W, s) - s @ b


# ---------------------------------------------------------------------------------------------
# dynamics

class Relaxation(NamedTuple):
    """``states`` (P, N) at the end (in the probes' encoding); ``sweeps`` (P,): sweeps (or
    synchronous steps) that changed the state; ``converged`` (P,): a fixed point was reached;
    ``cycle`` (P,): synchronous dynamics entered a 2-cycle; ``max_energy_increase`` (P,):
    the largest energy increase of any single update (<= 0 up to rounding when W is symmetric
    and updates are asynchronous); ``energies`` (P, T) when asked for: the energy after each
    sweep (``"sweep"``, T = max_sweeps + 1) or after each single update (``"update"``,
    T = max_sweeps N + 1), the start included; later entries repeat the final energy."""

    states: jax.Array
    sweeps: jax.Array
    converged: jax.Array
    cycle: jax.Array
    max_energy_increase: jax.Array
    energies: jax.Array | None


def relax(W, probes, b=None, *, mode: str = "async", key: jax.Array | None = None,
          order=None, max_sweeps: int = 100, encoding: str = "pm1",
          record_energy: str | None = None) -> Relaxation:
    """Run the dynamics (6.60) from each probe until a fixed point or ``max_sweeps``.

    Args:
      W: (N, N) weights (symmetric for the energy statements to hold; not required to run).
      probes: (N,) or (P, N) starting states in the ``encoding``.
      b: (N,) biases in the same encoding (default 0).
      mode: ``"async"`` (one neuron at a time) or ``"sync"`` (all at once).
      key: with ``mode="async"``, a key for random orders (a new permutation each sweep for
        each probe); without one, ``order`` (default 0..N-1) is used every sweep.
      max_sweeps: the limit on sweeps (synchronous steps).
      record_energy: None, ``"sweep"`` or ``"update"`` (asynchronous only).
    """
    _checks.choice("mode", mode, MODES)
    _checks.positive("max_sweeps", max_sweeps, integer=True)
    if record_energy not in (None, "sweep", "update"):
        raise ValueError(f"record_energy must be None, 'sweep' or 'update', got "
                         f"{record_energy!r}")
    W = _check_weights(W)
    n = W.shape[0]
    probes = _check_states("probes", probes, encoding, n)
    single = probes.ndim == 1
    W = jnp.asarray(W, jnp.result_type(float))
    s0 = jnp.asarray(probes, W.dtype)[None] if single else jnp.asarray(probes, W.dtype)
    if b is None:
        b = jnp.zeros(n, W.dtype)
    b = _checks.array("b", b, ndim=1)
    if b.shape[0] != n:
        raise ValueError(f"b must have {n} entries (the size of W), got {b.shape[0]}")
    b = jnp.asarray(b, W.dtype)
    if encoding == "binary":   # run the equivalent {-1, 1} network
        s0, b = to_pm1(s0), pm1_bias(W, b)
    W, b, scale = _exact_scale(W, b)
    if mode == "sync":
        if record_energy == "update":
            raise ValueError("record_energy='update' needs mode='async'")
        out = _relax_sync(W, b, s0, max_sweeps, record_energy == "sweep")
    else:
        if order is not None and key is not None:
            raise ValueError("give key (random orders) or order (a fixed order), not both")
        if order is not None:
            order = np.asarray(order)
            if sorted(order.tolist()) != list(range(n)):
                raise ValueError(f"order must be a permutation of 0..{n - 1}")
        fixed = jnp.arange(n) if order is None else jnp.asarray(order)
        states, sweeps, converged, worst, energies = _relaxation.relax_by_sweeps(
            W, b, s0, key, fixed, max_sweeps=max_sweeps, record=record_energy)
        out = Relaxation(states, sweeps, converged, jnp.zeros(s0.shape[0], bool), worst,
                         energies)
    out = out._replace(max_energy_increase=out.max_energy_increase / scale,
                       energies=None if out.energies is None else out.energies / scale)
    states = to_binary(out.states) if encoding == "binary" else out.states
    states = states.astype(jnp.asarray(probes).dtype)
    out = out._replace(states=states)
    if single:
        out = Relaxation(*(None if a is None else a[0] for a in out))
    return out


def _exact_scale(W, b):
    """``(W, b, scale)``: Hebbian weights are multiples of 1/N, so N W is integral; then every
    local field is an exact integer in floating point (sums below 2^23), and a tie h = 0 is
    decided as (6.61) says rather than by rounding noise that could flip a neuron back and
    forth. Decisions do not change under a positive scale, so when W (or N W) and b are
    integral the dynamics run on the integers (and energies are divided back). Other weights
    run as given. ``W`` may be a stack (..., N, N)."""
    if _checks.is_traced(W) or _checks.is_traced(b):
        return W, b, 1.0
    W, b = jnp.asarray(W), jnp.asarray(b, jnp.asarray(W).dtype)
    facts = _integer_scale(W, b)
    if facts.scale is None:
        return W, b, 1.0
    if facts.exact:
        return W, b, facts.scale
    return _nearest_integer(W * facts.scale), _nearest_integer(b * facts.scale), facts.scale


class _Integers(NamedTuple):
    """What :func:`_integer_scale` found: ``scale`` (1, N, or None when neither makes W and b
    integers), the largest |scale W|, the largest row sum of |scale W| plus the largest
    |scale b| (a bound on every local field of any state), and ``exact`` (integers as given:
    scale 1, nothing to round)."""

    scale: float | None
    largest: float | None
    field_bound: float | None
    exact: bool


def _integer_scale(W, b) -> _Integers:
    """The first scale of 1 and N that makes W and b integers (up to the rounding of W's
    dtype: k/N is not exact in binary floating point) whose fields stay below 2^23."""
    eps = float(jnp.finfo(W.dtype).eps) if jnp.issubdtype(W.dtype, jnp.floating) else 0.0
    for scale in (1.0, float(W.shape[-1])):
        off_w, off_b, big_w, rows, big_b = (float(v) for v in _integer_facts(W, b, scale))
        tol = 100 * eps * max(1.0, big_w)
        if off_w <= tol and off_b <= tol and rows + big_b < 2 ** 23:
            return _Integers(scale, big_w, rows + big_b,
                             scale == 1.0 and off_w == 0 and off_b == 0)
    return _Integers(None, None, None, False)


@jax.jit
def _integer_facts(W, b, scale):
    """Distances of scale W and scale b to the nearest integers, the largest |scale W|, the
    largest row sum of |scale W|, the largest |scale b| (separate reductions: XLA runs them
    5x faster than one combined test)."""
    sw, sb = W * scale, b * scale

    def off(x):
        return jnp.max(jnp.abs(x - _nearest_integer(x)), initial=0)

    return (off(sw), off(sb), *_weight_bounds(sw), jnp.max(jnp.abs(sb), initial=0))


def _weight_bounds(W):
    """The largest |w| of a stack (..., N, N) and its largest row sum of |w| (which bounds
    every field W s of a +-1 state). Maxima over rows first: 5x faster on XLA:CPU than one
    maximum over the stack."""
    abs_w = jnp.abs(W)
    return jnp.max(jnp.max(abs_w, axis=-1)), jnp.max(jnp.sum(abs_w, axis=-1))


def _fields(s0, Ws):
    """The local fields W_r s of every probe, ``s0`` (R, K, N) on ``Ws`` (R, N, N)."""
    return jnp.einsum("rkj,rij->rki", s0, Ws)


def _nearest_integer(x):
    """x rounded to the nearest integer (halves up), 10x faster on CPU than ``jnp.round``."""
    return jnp.floor(x + 0.5)


def _lane_types(largest, field_bound):
    """The narrowest integer types that hold the dynamics' numbers exactly, for integer
    weights: int8 or int16 for the weights (every |w| < 2^7 or 2^15); int16 for the fields
    when every field (|h| <= ``field_bound``, whatever the state) and every step of one
    (|h| + 2 |w|) stays below 2^15. None: as given. Each step of the dynamics reads a weight
    row and every field of its lanes, so narrow types make it faster (at N = 1,000, int16
    fields and int8 weights run 1.5x faster than float32)."""
    if largest is None:
        return None, None
    weights = jnp.int8 if largest < 2 ** 7 else jnp.int16 if largest < 2 ** 15 else None
    # (+ 1: the facts are taken before weights integral up to rounding are rounded)
    fields = jnp.int16 if field_bound + 2 * largest + 1 < 2 ** 15 else None
    return weights, fields


def _energy_pm1(W, b, s):
    return -0.5 * jnp.einsum("pi,ij,pj->p", s, W, s) - s @ b


@functools.partial(jax.jit, static_argnums=(3, 4))
def _relax_sync(W, b, s0, max_sweeps, record):
    def step(carry, _):
        s, prev, steps, done, cycle = carry
        new = jnp.where(s @ W.T + b >= 0, 1.0, -1.0).astype(s.dtype)
        same = jnp.all(new == s, axis=1)
        two = jnp.all(new == prev, axis=1) & ~same
        active = ~done
        steps = steps + (active & ~same)
        cycle = cycle | (active & two)
        done = done | same | two
        s_next = jnp.where(active[:, None], new, s)
        prev_next = jnp.where(active[:, None], s, prev)
        return (s_next, prev_next, steps, done, cycle), _energy_pm1(W, b, s_next)

    p = s0.shape[0]
    init = (s0, jnp.full_like(s0, 2.0), jnp.zeros(p, jnp.int32), jnp.zeros(p, bool),
            jnp.zeros(p, bool))
    (s, _, steps, done, cycle), trace = jax.lax.scan(step, init, None, length=max_sweeps)
    energies = jnp.concatenate([_energy_pm1(W, b, s0)[:, None], trace.T], axis=1) \
        if record else None
    converged = done & ~cycle
    return Relaxation(s, steps, converged, cycle, jnp.full(p, jnp.nan, s.dtype), energies)


def relax_many(Ws, probes, *, key: jax.Array, max_sweeps: int = 100, counts=None,
               lanes: int = LANES, devices=None) -> Relaxation:
    """Asynchronous dynamics for many networks at once, {-1, 1} states, zero biases.

    ``Ws`` (R, N, N) and ``probes`` (R, K, N): the probes of network r relax on W_r; with
    ``counts`` (R,), only the first ``counts[r]`` of them (the others come back unchanged, 0
    sweeps, not converged), so networks storing different numbers of patterns share one call.
    Sweep t visits the neurons in the order ``sweep_orders(key, ...)[t]``, the same for every
    probe (each probe's orders are still uniformly random and independent from sweep to sweep;
    R K permutations a sweep would cost more than the dynamics). Hebbian weights (multiples
    of 1/N) run exactly, as in :func:`relax`.

    The probes go through a work queue of ``lanes`` probes at a time (``_relaxation``), those
    of the networks with the most probes first (at a higher load, they take longest). The
    networks are dealt over ``devices`` (default: all local devices; on a CPU, start with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` to have one per core), each
    with a queue and ``lanes / D`` lanes of its own; the results do not depend on how many.
    Returns a :class:`Relaxation` whose arrays have leading axes (R, K); energies are not
    tracked here (``max_energy_increase`` is NaN).
    """
    Ws = _checks.array("Ws", Ws, ndim=3)
    probes = _checks.array("probes", probes, ndim=3, finite=False)
    r, k, n = probes.shape
    if Ws.shape != (r, n, n):
        raise ValueError(f"Ws must have shape (R, N, N) = {(r, n, n)} to match probes "
                         f"(R, K, N) = {tuple(probes.shape)}, got {tuple(Ws.shape)}")
    _check_states("probes", probes, "pm1", n, ndim=3)
    _checks.positive("max_sweeps", max_sweeps, integer=True)
    _checks.positive("lanes", lanes, integer=True)
    if counts is None:
        counts = np.full(r, k)
    counts = np.asarray(counts)
    if counts.shape != (r,) or not np.issubdtype(counts.dtype, np.integer) \
            or counts.min(initial=0) < 0 or counts.max(initial=0) > k:
        raise ValueError(f"counts must hold R = {r} integers between 0 and K = {k}, got "
                         f"{counts.tolist() if counts.size <= 10 else counts.shape}")

    Ws = jnp.asarray(Ws, jnp.result_type(float))
    s0 = jnp.asarray(probes, Ws.dtype)
    # integers as given (Hebb's N W): used as they are; W or N W integral up to rounding:
    # rounded; otherwise run as given (see _exact_scale)
    facts = _integer_scale(Ws, jnp.zeros(n, Ws.dtype))
    weight_type, field_type = _lane_types(facts.largest, facts.field_bound)
    devices = _checks.devices(devices)
    if len(devices) > 1:      # every device a block of networks of every size
        order = _deal(counts, len(devices))
        take = jnp.asarray(np.maximum(order, 0))
        Ws, s0, counts = Ws[take], s0[take], np.where(order >= 0, counts[order], 0)
    Wt, fields = _prepare_many(Ws, s0, None if facts.exact else facts.scale, weight_type)
    out = _relax_prepared(Wt, s0, fields, counts, key=key, max_sweeps=max_sweeps, lanes=lanes,
                          field_type=field_type, devices=devices)
    if len(devices) > 1:      # back in the caller's order
        back = jnp.asarray(np.argsort(order)[-r:])    # the -1 paddings sort first
        out = Relaxation(*(None if a is None else a[back] for a in out))
    return out


def _relax_prepared(Wt, s0, fields, counts, *, key, max_sweeps, lanes, field_type,
                    devices=None):
    """:func:`relax_many` on checked input: ``Wt`` (R, N, N) the transposed weights (rows are
    W's columns), ``s0`` (R, K, N) the probes, ``fields`` (R, K, N) their fields W s0, the
    lanes' ``field_type`` (:func:`_lane_types`). With several ``devices``, R must be a
    multiple of their number: device d relaxes the d-th block of R / D networks, on
    ``lanes / D`` lanes of its own (:func:`_deal` makes blocks of equal work)."""
    r, k, n = s0.shape
    devices = tuple(jax.local_devices()[:1] if devices is None else devices)
    d = len(devices)
    if r % d:
        raise ValueError(f"the {r} networks must split evenly over the {d} devices")
    block, p = r // d, r * k
    # each block's queue: network by network, most probes first
    queues = np.zeros((d, block * k), np.int32)
    sizes = np.zeros(d, np.int32)
    for i in range(d):
        c = counts[i * block:(i + 1) * block]
        q = np.concatenate([nr * k + np.arange(c[nr], dtype=np.int32)
                            for nr in np.argsort(-c, kind="stable")])
        queues[i, :len(q)], sizes[i] = q, len(q)
    lanes = int(min(max(1, lanes // d), max(1, sizes.max(initial=1))))
    if d == 1:        # on that device (no copy when the arrays are there already)
        Wt, s0, fields = jax.device_put((Wt, s0, fields), devices[0])
    run = _relax_blocks(devices, block, max_sweeps, lanes,
                        None if field_type is None else jnp.dtype(field_type).name)
    states, sweeps, converged = run(Wt, s0.reshape(p, n), fields.reshape(p, n),
                                    sweep_orders(key, max_sweeps, n), queues, sizes)
    out = Relaxation(states, sweeps, converged, jnp.zeros(p, bool),
                     jnp.full(p, jnp.nan, s0.dtype), None)
    return Relaxation(*(None if a is None else a.reshape(r, k, *a.shape[1:]) for a in out))


@functools.lru_cache(maxsize=32)
def _relax_blocks(devices: tuple, block: int, max_sweeps: int, lanes: int, field_type):
    """The work queues of :func:`_relax_prepared`, one per device, compiled once per setting:
    ``(Wt, s0, fields, orders, queues (D, .), sizes (D,)) -> (states, sweeps, converged)``.
    On a CPU each device is a core (``--xla_force_host_platform_device_count``); XLA:CPU runs
    a queue's elementwise passes on one thread, so two queues on two cores run 1.7x faster
    than one on both (N = 1,000)."""
    def one(Wt, s0, fields, orders, queue, size):
        k = s0.shape[0] // block
        return _relaxation.relax_queued(
            Wt, jnp.repeat(jnp.arange(block, dtype=jnp.int32), k), s0, fields, orders,
            queue[0], size[0], max_sweeps=max_sweeps, lanes=lanes, field_type=field_type)

    if len(devices) == 1:
        return jax.jit(one)
    mesh = jax.sharding.Mesh(np.array(devices), ("devices",))
    split, whole = jax.sharding.PartitionSpec("devices"), jax.sharding.PartitionSpec()
    # the queues' loops carry per-device state: vma checking does not follow while_loop here
    return jax.jit(jax.shard_map(one, mesh=mesh, in_specs=(split,) * 3 + (whole,) + (split,) * 2,
                                 out_specs=split, check_vma=False))


def _deal(counts, devices: int) -> np.ndarray:
    """The networks in device order, for :func:`_relax_prepared`: sorted by ``counts`` (their
    probes) and dealt round-robin, so every device's block gets networks of every size; -1
    pads the last round to a multiple of ``devices``."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    order = np.pad(order, (0, -len(order) % devices), constant_values=-1)
    return order.reshape(-1, devices).T.reshape(-1)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _prepare_many(Ws, s0, scale, weight_type):
    """The stack as the dynamics use it: multiplied by ``scale`` and rounded (see
    :func:`_exact_scale`; None: as given, integers already or not to be rounded), transposed
    so that a flip of neuron j reads the contiguous row ``Wt[r, j]`` = W_r[:, j] (checking for
    symmetry to skip the copy costs as much as the copy), as ``weight_type`` (None: as it is);
    and the probes' fields W_r s."""
    if scale is not None:
        Ws = _nearest_integer(Ws * scale)
    Wt = jnp.swapaxes(Ws, 1, 2)
    return Wt if weight_type is None else Wt.astype(weight_type), _fields(s0, Ws)


@functools.partial(jax.jit, static_argnums=(1, 2))
def sweep_orders(key: jax.Array, sweeps: int, n: int) -> jax.Array:
    """(sweeps, N): the neuron order of each sweep in :func:`relax_many` (row t is
    ``permutation(fold_in(key, t), N)``), to replay its dynamics elsewhere."""
    return jax.vmap(lambda t: jax.random.permutation(jax.random.fold_in(key, t), n))(
        jnp.arange(sweeps)).astype(jnp.int32)
