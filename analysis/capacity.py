"""Hopfield capacity (C16), measured: crosstalk, one-step errors, retrieval against the load
alpha = K / N, a finite-size-scaling estimate of the critical load, basins of attraction,
spurious states, and the modern Hopfield network.

* :func:`crosstalk`: the crosstalk term (6.72)/(6.74) of every bit of every stored random
  pattern, against its theory for random patterns: mean 0 and variance (K - 1)(N - 1) / N^2;
  the fraction of bits a single update flips (the crosstalk outweighs the signal
  (N - 1) / N, (6.73)) against the Gaussian estimate Phi(-((N - 1) / N) / sigma).
* :func:`retrieval`: K random patterns stored by a rule, each relaxed from itself by
  asynchronous dynamics to a fixed point; the overlap m = xi . s / N and whether the pattern
  was retrieved (m > 0.9), for every load and trial of one N in one call of
  :func:`ch6jax.hopfield.relax_many` (or a few, to bound memory).
* :func:`critical_load`: alpha_c for N -> infinity. The fraction retrieved falls from 1 to 0
  around alpha_c, more steeply as N grows, so the curves of successive sizes cross near the
  critical load; the crossings, extrapolated linearly in N^(-1/2) to N -> infinity, estimate
  alpha_c, and a bootstrap over trials gives its uncertainty. (The load where half the patterns
  are retrieved at one N is not alpha_c: at finite N it sits well above it.)

* :func:`basins`: the probability of returning to a stored pattern from a given Hamming
  distance; :func:`spurious_census`: where relaxation from random states ends (patterns, their
  reversals, symmetric mixtures of three, others); :func:`modern_retrieval`: Ramsauer et
  al.'s (2020) softmax update, which retrieves far more than 0.14 N patterns.

Theory: Amit, Gutfreund and Sompolinsky (1985): alpha_c = 0.138 with overlap m = 0.967 just
below it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import erfc

from ch6jax import _checks, hopfield

#: A pattern counts as retrieved when relaxing from it ends with overlap above this.
RETRIEVED = 0.9
#: Amit, Gutfreund and Sompolinsky (1985).
ALPHA_C_THEORY = 0.138
OVERLAP_AT_ALPHA_C_THEORY = 0.967


def random_patterns(key: jax.Array, shape) -> jax.Array:
    """Independent, equally likely +-1 bits (float32): each 32-bit random word gives 32 bits,
    10-30x faster than drawing one number per bit."""
    shape = tuple(shape)
    size = int(np.prod(shape))
    words = jax.random.bits(key, (-(-size // 32),), jnp.uint32)
    bits = (words[:, None] >> jnp.arange(32, dtype=jnp.uint32)) & 1
    return (2.0 * bits.reshape(-1)[:size].astype(jnp.float32) - 1.0).reshape(shape)


# ---------------------------------------------------------------------------------------------
# crosstalk and the one-step error

class Crosstalk(NamedTuple):
    n: int
    k: int
    mean: float
    variance: float
    variance_theory: float
    one_step_error: float
    one_step_error_gaussian: float
    values: np.ndarray    # a sample of the crosstalk terms, for a histogram


def crosstalk(key: jax.Array, n: int, k: int, trials: int = 20) -> Crosstalk:
    """Measure (6.74) on ``trials`` sets of K random patterns of N bits (Hebb's rule)."""
    if k < 2:
        raise ValueError(f"k must be at least 2 for a crosstalk term, got {k}")
    xi = random_patterns(key, (trials, k, n))
    c, xi = np.asarray(_crosstalk_terms(xi), np.float64), np.asarray(xi)
    variance_theory = (k - 1) * (n - 1) / n ** 2
    flips = (xi * c) < -(n - 1) / n      # the update turns the bit: crosstalk beats signal
    gaussian = 0.5 * erfc(((n - 1) / n) / np.sqrt(2 * variance_theory))
    sample = c.ravel()[: 200_000]
    return Crosstalk(n, k, float(c.mean()), float(c.var()), variance_theory,
                     float(flips.mean()), float(gaussian), sample)


@jax.jit
def _crosstalk_terms(xi):
    """v_i^k = (W xi^k)_i = signal + crosstalk (6.72)-(6.74): the crosstalk is v - (N - 1)/N xi.
    (N W is integral, so the terms are exact multiples of 1/N.)"""
    t, k, n = xi.shape
    w = _hebb_integers(xi, jnp.full(t, k, xi.dtype))
    return (hopfield._fields(xi, w) - (n - 1) * xi) / n


# ---------------------------------------------------------------------------------------------
# retrieval after full dynamics

class Retrieval(NamedTuple):
    """For one N: ``alphas`` (A,), ``ks`` (A,), per load and trial the mean overlap, the
    fraction of patterns retrieved, and the mean overlap of the retrieved ones (NaN if none),
    (A, T); ``sweeps_max`` the longest relaxation."""

    n: int
    alphas: np.ndarray
    ks: np.ndarray
    overlap: np.ndarray
    retrieved: np.ndarray
    sweeps_max: int
    overlap_retrieved: np.ndarray


@functools.partial(jax.jit, static_argnums=0)
def _weights(rule: str, xi, mask):
    """W for every network of a stack from its first K_r patterns (mask), zero diagonal."""
    if rule == "hebb":   # integer weights (N W), exact in float32
        return _hebb_integers(xi * mask[..., None], jnp.sum(mask, axis=1))
    if rule == "pseudo_inverse":  # masked patterns are zero rows: they add nothing
        return jax.vmap(hopfield.pseudo_inverse_pm1)(xi * mask[..., None])
    if rule == "storkey":
        return jax.vmap(hopfield.storkey_pm1)(xi, mask)
    raise ValueError(f"rule must be one of {sorted(hopfield.RULES)}, got {rule!r}")


def retrieval(key: jax.Array, n: int, alphas, trials: int, *, rule: str = "hebb",
              max_sweeps: int = 200, memory: float = 1.5e9, devices=None) -> Retrieval:
    """Store K = round(alpha N) random patterns (``trials`` independent sets per load), relax
    each from itself asynchronously, and measure overlaps.

    The networks go through the dynamics of :func:`ch6jax.hopfield.relax_many` together, in
    as few calls as keep their weights under ``memory`` bytes (all of them at N = 1,000; 7 at
    a time at N = 4,000, rounded up to a multiple of the devices). Network r (load
    ``r // trials``) stores ``store_random(key, ...)``'s patterns and sweeps in the orders
    ``hopfield.sweep_orders(fold_in(key, 1), ...)``, whatever the batching, so results do
    not depend on ``memory``, nor on ``devices`` (default: all local devices; the dynamics
    of each call are dealt over them, see ``relax_many``).
    """
    alphas = np.asarray(alphas, float)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all((alphas > 0) & (alphas < 1)):
        raise ValueError(f"alphas must be a non-empty list of loads K/N in (0, 1), got "
                         f"{alphas.tolist()}")
    _checks.positive("n", n, integer=True)
    _checks.positive("trials", trials, integer=True)
    if rule not in hopfield.RULES:
        raise ValueError(f"rule must be one of {sorted(hopfield.RULES)}, got {rule!r}")
    ks = np.maximum(1, np.round(alphas * n).astype(int))
    k_of = np.repeat(ks, trials)
    r, kmax = len(k_of), int(ks.max())
    devices = _checks.devices(devices)
    d = len(devices)
    per_call = int(max(1, min(r, memory // (3 * 4 * n * n))))   # W, its transpose, slack
    per_call = -(-per_call // d) * d    # every device a block (at most d - 1 over the budget)
    m = np.zeros((r, kmax))
    sweeps_max = 0
    for start in range(0, r, per_call):
        ids = np.arange(start, start + per_call)
        counts = np.where(ids < r, k_of[np.minimum(ids, r - 1)], 0)   # padding: no probes
        dealt = hopfield._deal(counts, d)          # made in the order the devices take them
        ids, counts = ids[dealt], counts[dealt]
        sweep_key = jax.random.fold_in(key, 1)
        if rule == "hebb":
            x = _patterns_of(key, jnp.asarray(ids), kmax, n)
            out = _relax_stored_hebb(x, counts, sweep_key, max_sweeps, devices)
        else:
            x, w = _networks(key, ids, counts, kmax, n, rule)
            out = hopfield.relax_many(w, x, key=sweep_key, max_sweeps=max_sweeps, counts=counts,
                                      devices=devices)
        keep = ids < r
        m[ids[keep]] = np.asarray(_overlaps(out.states, x), np.float64)[keep] / n
        sweeps_max = max(sweeps_max, int(np.asarray(out.sweeps).max()))
    stored = np.arange(m.shape[1])[None, :] < k_of[:, None]
    overlap = np.where(stored, m, 0).sum(1) / k_of
    good = stored & (m > RETRIEVED)
    got = good.sum(1) / k_of
    with np.errstate(invalid="ignore"):
        good_overlap = np.where(good, m, 0).sum(1) / good.sum(1)
    shape = (len(ks), trials)
    return Retrieval(n, alphas, ks, overlap.reshape(shape), got.reshape(shape), sweeps_max,
                     good_overlap.reshape(shape))


def _hebb_integers(stored, k):
    """N W by Hebb's rule (6.68) for a stack of networks, ``stored`` (R, K, N) the +-1
    patterns (zero rows for none), ``k`` (R,) how many: X^T X has K on its diagonal, so
    N W = X^T X - K I has the zero diagonal exactly."""
    n = stored.shape[-1]
    return jnp.einsum("rki,rkj->rij", stored, stored) - k[:, None, None] * jnp.eye(n)


def _relax_stored_hebb(xi, counts, key, max_sweeps: int, devices: tuple):
    """Relax each network's first ``counts[r]`` patterns of ``xi`` (R, K, N) from themselves on
    the Hebbian network that stores them, as :func:`ch6jax.hopfield.relax_many` would (the same
    orders and results), with what Hebb's rule makes known skipped: N W is integral and
    symmetric, so it needs no rounding and is its own transpose. The networks come in the
    order that :func:`ch6jax.hopfield._deal` gives for ``devices``."""
    mask = jnp.asarray(np.arange(xi.shape[1])[None] < counts[:, None], xi.dtype)
    w, fields, largest, bound = _hebb_network_and_fields(xi, mask)
    weight_type, field_type = hopfield._lane_types(float(largest), float(bound))
    return hopfield._relax_prepared(w if weight_type is None else w.astype(weight_type), xi,
                                    fields, counts, key=key, max_sweeps=max_sweeps,
                                    lanes=hopfield.LANES, field_type=field_type,
                                    devices=devices)


@jax.jit
def _hebb_network_and_fields(xi, mask):
    """N W, the fields N W xi^mu of every row of ``xi``, the largest |N w| and the largest row
    sum of |N W| (a bound on any field)."""
    w = _hebb_integers(xi * mask[..., None], jnp.sum(mask, axis=1))
    return (w, hopfield._fields(xi, w), *hopfield._weight_bounds(w))


def store_random(key: jax.Array, n: int, counts, *, rule: str | None = "hebb"):
    """``(xi, W)``: for each network r, ``counts[r]`` random patterns of N bits (rows of
    ``xi`` (R, max count, N) past them are random too, but not stored) and the weights W_r that
    ``rule`` makes of them. Hebbian weights come as N W, integers. These are the networks of
    :func:`retrieval` with ``counts`` = K of each load, repeated ``trials`` times."""
    counts = np.asarray(counts)
    return _networks(key, np.arange(len(counts)), counts, int(counts.max()), n, rule)


def _networks(key, ids, counts, kmax: int, n: int, rule: str):
    """Networks ``ids``: their patterns (len(ids), kmax, N) and the weights of the first
    ``counts[i]`` of each."""
    xi = _patterns_of(key, jnp.asarray(ids), kmax, n)
    mask = jnp.asarray(np.arange(kmax)[None] < np.asarray(counts)[:, None], xi.dtype)
    return xi, _weights(rule, xi, mask)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _patterns_of(key, networks, kmax: int, n: int):
    """Network r's patterns from its own key, so they do not depend on how networks are
    batched."""
    return jax.vmap(lambda r: random_patterns(jax.random.fold_in(key, r), (kmax, n)))(networks)


@jax.jit
def _overlaps(states, xi):
    return jnp.einsum("rki,rki->rk", states, xi)


# ---------------------------------------------------------------------------------------------
# finite-size scaling

def falls_through_half(x, y) -> float:
    """Where a falling curve y(x) first passes from >= 1/2 to below it (linear
    interpolation); NaN if it never does."""
    for i in range(len(y) - 1):
        if y[i] >= 0.5 > y[i + 1]:
            return float(x[i] + (y[i] - 0.5) / (y[i] - y[i + 1]) * (x[i + 1] - x[i]))
    return float("nan")


def _crossing(alphas, f1, f2) -> float:
    """The load where the curves f1 and f2 cross (f1 - f2 changes sign, linear interpolation),
    looked for only where at least one of them is strictly between 0 and 1: where both sit at
    1 (or both at 0) they touch without crossing. NaN if they do not cross."""
    f1, f2 = np.asarray(f1, float), np.asarray(f2, float)
    d = f1 - f2
    inside = ((f1 > 0) & (f1 < 1)) | ((f2 > 0) & (f2 < 1))
    for i in range(len(d) - 1):
        if not (inside[i] or inside[i + 1]):
            continue
        if d[i] == 0 and inside[i]:
            return float(alphas[i])
        if d[i] * d[i + 1] < 0:
            t = d[i] / (d[i] - d[i + 1])
            return float(alphas[i] + t * (alphas[i + 1] - alphas[i]))
    return float("nan")


class CriticalLoad(NamedTuple):
    crossings: list         # (N1, N2, alpha_x) for successive sizes
    alpha_c_inf: float
    alpha_c_inf_err: float
    bootstrap: np.ndarray


def critical_load(curves: list[Retrieval], *, key: jax.Array | None = None,
                  resamples: int = 500) -> CriticalLoad:
    """alpha_c for N -> infinity from the crossings of successive sizes' retrieval curves,
    extrapolated linearly in N^(-1/2) (geometric mean of each pair), with a bootstrap over
    trials (each size's trials resampled with replacement) for its standard error."""
    curves = sorted(curves, key=lambda c: c.n)
    if len(curves) < 3:
        raise ValueError(f"curves must hold at least 3 sizes for an extrapolation, got "
                         f"{len(curves)}")

    def estimate(fracs):
        xs, ys, crossings = [], [], []
        for (a, fa), (b, fb) in zip(zip(curves, fracs), zip(curves[1:], fracs[1:])):
            ax = _crossing(a.alphas, fa, fb)
            crossings.append((a.n, b.n, ax))
            if np.isfinite(ax):
                xs.append((a.n * b.n) ** -0.25)
                ys.append(ax)
        if len(xs) < 2:
            return float("nan"), crossings
        slope, intercept = np.polyfit(xs, ys, 1)
        return float(intercept), crossings

    means = [c.retrieved.mean(axis=1) for c in curves]
    alpha_inf, crossings = estimate(means)
    rng = np.random.default_rng(0 if key is None else int(jax.random.randint(
        key, (), 0, 2 ** 31 - 1)))
    boot = []
    for _ in range(resamples):
        fr = [c.retrieved[:, rng.integers(0, c.retrieved.shape[1], c.retrieved.shape[1])]
              .mean(axis=1) for c in curves]
        boot.append(estimate(fr)[0])
    boot = np.asarray(boot)
    boot = boot[np.isfinite(boot)]
    err = float(boot.std(ddof=1)) if len(boot) > 1 else float("nan")
    return CriticalLoad(crossings, alpha_inf, err, boot)


# ---------------------------------------------------------------------------------------------
# basins of attraction and spurious states

def flip_bits(key: jax.Array, patterns, flips: int):
    """Each row of ``patterns`` (..., N) with exactly ``flips`` of its bits reversed, chosen at
    random (independently per row)."""
    n = patterns.shape[-1]
    if not 0 <= flips <= n:
        raise ValueError(f"flips must be between 0 and N = {n}, got {flips}")
    rows = int(np.prod(patterns.shape[:-1]))
    keys = jax.random.split(key, rows)
    chosen = jax.vmap(lambda k: jax.random.permutation(k, n) < flips)(keys)
    return jnp.where(chosen.reshape(patterns.shape), -patterns, patterns)


class Basins(NamedTuple):
    """``retrieved`` (A, D): the fraction of probes at Hamming distance ``distances[d]`` from
    a stored pattern that relax to it (overlap > 0.9), for each load ``alphas[a]``."""

    n: int
    alphas: np.ndarray
    distances: np.ndarray
    retrieved: np.ndarray


def basins(key: jax.Array, n: int, alphas, distances, trials: int, *, probes: int = 50,
           rule: str = "hebb", max_sweeps: int = 200) -> Basins:
    """Retrieval probability against the initial Hamming distance: ``probes`` stored patterns
    per network, each started ``distances[d]`` flipped bits away, for ``trials`` networks at
    each load; all in one call of ``relax_many``."""
    alphas, distances = np.asarray(alphas, float), np.asarray(distances, int)
    ks = np.maximum(1, np.round(alphas * n).astype(int))
    k_of = np.repeat(ks, trials)
    xi, w = store_random(key, n, k_of, rule=rule)
    per = int(min(probes, ks.min()))
    targets = xi[:, :per]                                      # (R, per, N)
    starts = jnp.concatenate([flip_bits(jax.random.fold_in(key, 100 + i), targets, int(d))
                              for i, d in enumerate(distances)], axis=1)
    out = hopfield.relax_many(w, starts, key=jax.random.fold_in(key, 1), max_sweeps=max_sweeps)
    final = out.states.reshape(len(k_of), len(distances), per, n)
    m = np.asarray(jnp.einsum("rdpi,rpi->rdp", final, targets), np.float64) / n
    got = (m > RETRIEVED).mean(axis=2).reshape(len(ks), trials, len(distances)).mean(axis=1)
    return Basins(n, alphas, distances, got)


#: Kinds of fixed points found from random starts, in the census's order.
CENSUS_KINDS = ("stored pattern", "reversed pattern", "mixture of 3", "other")


def spurious_census(key: jax.Array, n: int, k: int, trials: int, *, probes: int = 200,
                    max_sweeps: int = 200) -> dict:
    """Where asynchronous dynamics from random states end, on ``trials`` Hebbian networks of
    K patterns: a stored pattern (overlap > 0.9 with one), a reversed one (< -0.9), a symmetric
    mixture of three (|overlap| with exactly three patterns within 0.5 +- 0.15, the overlaps
    of sign(+-xi1 +-xi2 +-xi3) being 1/2 each), or another spurious state. Returns the
    fraction of each kind, and of runs that reached a fixed point."""
    xi, w = store_random(key, n, np.full(trials, k))
    starts = random_patterns(jax.random.fold_in(key, 7), (trials, probes, n))
    out = hopfield.relax_many(w, starts, key=jax.random.fold_in(key, 1), max_sweeps=max_sweeps)
    m = np.asarray(jnp.einsum("rpi,rki->rpk", out.states, xi), np.float64) / n
    best = np.take_along_axis(m, np.abs(m).argmax(axis=2)[..., None], axis=2)[..., 0]
    near_half = (np.abs(np.abs(m) - 0.5) < 0.15).sum(axis=2)
    kinds = np.where(best > RETRIEVED, 0, np.where(best < -RETRIEVED, 1,
                     np.where(near_half == 3, 2, 3)))
    fractions = {kind: float((kinds == i).mean()) for i, kind in enumerate(CENSUS_KINDS)}
    return {"n": n, "k": k, "runs": int(kinds.size), "fractions": fractions,
            "converged": float(np.asarray(out.converged).mean())}


# ---------------------------------------------------------------------------------------------
# the modern (dense) Hopfield network

def modern_retrieval(key: jax.Array, n: int, loads, *, beta: float = 1.0, noise: float = 0.2,
                     trials: int = 4, probes: int = 100) -> np.ndarray:
    """The continuous modern Hopfield network (Ramsauer et al. 2020): K = load N patterns
    X (N, K), one update xi <- X softmax(beta X^T xi) from a stored pattern with a fraction
    ``noise`` of its bits flipped; retrieved when sign(xi) has overlap > 0.9 with it. Returns
    the fraction retrieved for each load (a mean over ``trials`` pattern sets)."""
    if not 0 <= noise < 0.5:
        raise ValueError(f"noise must be in [0, 0.5), got {noise}")
    out = []
    for i, load in enumerate(loads):
        k = max(1, int(round(load * n)))
        x = random_patterns(jax.random.fold_in(key, i), (trials, k, n))
        per = min(probes, k)
        start = flip_bits(jax.random.fold_in(key, 1000 + i), x[:, :per], int(round(noise * n)))
        out.append(float(_modern_once(x, start, beta)))
    return np.asarray(out)


@jax.jit
def _modern_once(x, start, beta):
    per = start.shape[1]
    new = jnp.einsum("tpk,tki->tpi", jax.nn.softmax(beta * jnp.einsum("tki,tpi->tpk", x, start),
                                                    axis=-1), x)
    m = jnp.einsum("tpi,tpi->tp", jnp.where(new >= 0, 1.0, -1.0), x[:, :per]) / x.shape[-1]
    return jnp.mean(m > RETRIEVED)
