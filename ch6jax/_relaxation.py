"""Exact asynchronous Hopfield dynamics, fast: the kernels behind :func:`ch6jax.hopfield.relax`
and :func:`ch6jax.hopfield.relax_many`.

Asynchronous dynamics (6.60) visit the neurons one at a time in a sweep's order; a neuron
changes only when it is *unstable*, its state disagreeing with the sign of its local field
h = W s + b. Visiting a stable neuron changes nothing, so a sweep is exactly: find the first
unstable neuron at or after the current position in the order, flip it, add its column of W to
the fields (h += ds W[:, j]), and go on from the next position; the sweep ends when no unstable
neuron is left after the position. A flip costs O(N) and a sweep without one costs one O(N)
check, instead of N single-neuron steps: most probes settle in a few sweeps with a few flips.

Two schedules run this on many probes at once (probes are "lanes" of vectorised arrays):

* :func:`relax_by_sweeps`: all probes go through sweep 0, then sweep 1, ...; a sweep's
  inner loop runs until the probe with the most flips in it is done. Any order: per-probe
  random permutations (drawn once per sweep for all probes), or one fixed order; energy traces.
* :func:`relax_queued`: a work queue. A fixed number of lanes each relax one probe at their own
  pace (own sweep, own position); when an eighth of the lanes have finished, their results are
  written out and the next probes from the queue take their places. Lanes then stay busy
  although relaxation times differ by 100x between probes: at N = 1,000 and loads 0.05-0.25
  (2.6 million flips), sweep-synchronous batches of 256 probes spend only 23% of their lane
  steps on flips, and the queue runs 3.4x faster than they do. Orders
  come from a table shared by all probes (row ``sweep % rows``).

Both give bitwise the results of the plain one-neuron-at-a-time loop with the same orders.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _positions(order):
    """Inverse permutations: ``pos[..., order[..., k]] = k``."""
    n = order.shape[-1]
    ranks = jnp.broadcast_to(jnp.arange(n, dtype=order.dtype), order.shape)
    return jnp.put_along_axis(jnp.zeros_like(order), order, ranks, axis=-1, inplace=False)


def _next_unstable(s, h, pos, after):
    """Per lane, the first position > ``after`` whose neuron is unstable (N if none).
    (6.61): a neuron's new state is +1 when h >= 0, so it is unstable when that differs.

    The minimum is taken over floats, float16 up to N = 2,048 (whose integers to 2^11 are
    exact), float32 above (exact to 2^24): XLA:CPU hands a float minimum over rows to a
    vectorised library kernel, 2.3x faster here than its own int32 loop, and float16 halves
    what the kernel reads (1.5x faster again at N = 1,000)."""
    n = s.shape[-1]
    exact = jnp.float16 if n <= 2 ** 11 else jnp.float32
    unstable = (h >= 0) != (s > 0)
    first = jnp.min(jnp.where(unstable & (pos > after[:, None]), pos, n).astype(exact), axis=-1)
    return first.astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("max_sweeps", "record"))
def relax_by_sweeps(W, b, s0, key, fixed, *, max_sweeps: int, record: str | None):
    """Asynchronous dynamics of P probes ``s0`` (P, N) in {-1, 1} on one network (W, b).

    ``key`` None: every sweep visits the neurons in the order ``fixed`` (N,); otherwise probe p
    uses ``permutation(split(fold_in(key, sweep), P)[p], N)`` in sweep ``sweep``.
    ``record``: None, ``"sweep"`` (energy after each sweep) or ``"update"`` (after each of the
    N single-neuron updates of each sweep; a visit that changes nothing leaves it unchanged).
    Returns (states, sweeps that changed something, converged, largest energy change of one
    update, energies or None).
    """
    p, n = s0.shape
    lanes = jnp.arange(p)
    Wt = W.T                          # Wt[j] = W[:, j], the fields a flip of neuron j changes
    diag = jnp.diagonal(W)
    h0 = s0 @ W.T + b
    energy0 = -0.5 * jnp.sum(s0 * (h0 - b), axis=1) - s0 @ b

    def order_of(sweep):              # (P, N) per probe, or the shared (N,) order
        if key is None:
            return jnp.broadcast_to(fixed, (p, n))
        keys = jax.random.split(jax.random.fold_in(key, sweep), p)
        return jax.vmap(lambda k: jax.random.permutation(k, n))(keys)

    def sweep_body(carry):
        sweep, s, h, sweeps, converged, worst, energy, trace = carry
        order = order_of(sweep).astype(jnp.int32)
        pos = _positions(order)
        nxt = _next_unstable(s, h, pos, jnp.full(p, -1, jnp.int32))
        changed = nxt < n

        def flip(c):
            s, h, nxt, worst, energy, trace = c
            active = nxt < n
            j = order[lanes, jnp.minimum(nxt, n - 1)]
            old = s[lanes, j]
            ds = jnp.where(active, -2.0 * old, 0.0)
            # the exact energy change of this update (symmetric W): -h_j ds - w_jj ds^2 / 2
            d_energy = -h[lanes, j] * ds - 0.5 * diag[j] * ds ** 2
            worst = jnp.where(active, jnp.maximum(worst, d_energy), worst)
            energy = energy + d_energy
            if record == "update":        # a change at update number 1 + sweep N + position
                at = jnp.where(active, 1 + sweep * n + nxt, trace.shape[1])
                trace = trace.at[lanes, at].add(d_energy, mode="drop")
            s = s.at[lanes, j].add(ds)
            h = h + ds[:, None] * Wt[j]
            nxt = jnp.where(active, _next_unstable(s, h, pos, nxt), n)
            return s, h, nxt, worst, energy, trace

        s, h, _, worst, energy, trace = jax.lax.while_loop(
            lambda c: jnp.any(c[2] < n), flip, (s, h, nxt, worst, energy, trace))
        if record == "sweep":
            trace = trace.at[:, sweep + 1].set(energy)
        return sweep + 1, s, h, sweeps + changed, converged | ~changed, worst, energy, trace

    length = {None: 1, "sweep": max_sweeps + 1, "update": max_sweeps * n + 1}[record]
    # "update" accumulates changes (summed at the end); "sweep" holds energies
    trace = jnp.zeros((p, length), s0.dtype).at[:, 0].set(energy0)
    zeros = jnp.zeros(p, jnp.int32)
    # every relaxation makes at least one sweep of updates, and a visit that changes nothing
    # changes the energy by 0: the largest change starts there
    init = (0, s0, h0, zeros, jnp.zeros(p, bool), jnp.zeros(p, s0.dtype), energy0, trace)
    ran, s, _, sweeps, converged, worst, energy, trace = jax.lax.while_loop(
        lambda c: (c[0] < max_sweeps) & ~jnp.all(c[4]), sweep_body, init)
    energies = None
    if record == "update":
        energies = jnp.cumsum(trace, axis=1)
    elif record == "sweep":           # entries after the last sweep run repeat the final energy
        energies = jnp.where(jnp.arange(length)[None, :] <= ran, trace, energy[:, None])
    return s, sweeps, converged, worst, energies


# lane status in relax_queued
_IDLE, _BUSY, _CONVERGED, _STOPPED = 0, 1, 2, 3


@functools.partial(jax.jit, static_argnames=("max_sweeps", "lanes", "field_type"))
def relax_queued(Wt, net, s0, h0, order, queue, count, *, max_sweeps: int, lanes: int,
                 field_type=None):
    """Asynchronous dynamics of the probes ``queue[:count]`` of ``s0`` (P, N), {-1, 1}, probe q
    on network ``net[q]`` with fields ``h0[q]`` = W s0[q] + b to start, ``Wt[r, j]`` = column j
    of network r's W (any numeric type, int8 or int16 for small integer weights); sweep ``t``
    visits the neurons in the order ``order[t % rows]``. The lanes hold their fields as
    ``field_type`` (default h0's type), which must hold every field and every step of one
    exactly (int16 for small integer weights).

    Returns (states (P, N), sweeps that changed something (P,), converged (P,)); probes not in
    the queue come back as they went in, with 0 sweeps, not converged.
    """
    p, n = s0.shape
    rows = order.shape[0]
    order = order.astype(jnp.int32)
    queue, count = queue.astype(jnp.int32), jnp.asarray(count, jnp.int32)
    pos_table = _positions(order)
    lane = jnp.arange(lanes)
    # refill once an eighth of the lanes are free: often enough to keep lanes busy, rarely
    # enough that the refill's gathers cost little next to the steps (a quarter and a
    # sixteenth were 5-10% slower at N = 1,000)
    keep_busy = max(1, (7 * lanes) // 8)

    def step(st):
        probe, status, s, h, sweep, position, changed, sweeps = st
        busy = status == _BUSY
        row = sweep % rows
        nxt = _next_unstable(s, h, pos_table[row], position - 1)
        flips = busy & (nxt < n)
        j = order[row, jnp.minimum(nxt, n - 1)]
        old = s[lane, j]
        s = s.at[lane, j].set(jnp.where(flips, -old, old))
        ds = jnp.where(flips, -2 * old.astype(h.dtype), 0).astype(h.dtype)
        h = h + ds[:, None] * Wt[net[jnp.minimum(probe, p - 1)], j].astype(h.dtype)
        # a busy lane with nothing left to flip in this sweep ends it: converged when the sweep
        # changed nothing, stopped at the sweep limit, or on to the next sweep
        ends = busy & ~flips
        goes_on = ends & changed & (sweep + 1 < max_sweeps)
        status = jnp.where(ends & ~changed, _CONVERGED,
                           jnp.where(ends & changed & ~goes_on, _STOPPED, status))
        sweeps = sweeps + (ends & changed).astype(jnp.int32)
        sweep = sweep + goes_on.astype(jnp.int32)
        position = jnp.where(flips, nxt + 1, jnp.where(goes_on, jnp.int32(0), position))
        changed = jnp.where(flips, True, jnp.where(ends, False, changed))
        return probe, status, s, h, sweep, position, changed, sweeps

    def refill(carry):
        st, head, out_s, out_sweeps, out_converged = carry
        probe, status, s, h, sweep, position, changed, sweeps = st
        done = status >= _CONVERGED
        dest = jnp.where(done, probe, p)                                  # p: dropped
        out_s = out_s.at[dest].set(s.astype(out_s.dtype), mode="drop")
        out_sweeps = out_sweeps.at[dest].set(sweeps, mode="drop")
        out_converged = out_converged.at[dest].set(status == _CONVERGED, mode="drop")
        free = done | (status == _IDLE)
        slot = head + jnp.cumsum(free) - 1
        takes = free & (slot < count)
        new = queue[jnp.clip(slot, 0, p - 1)]
        probe = jnp.where(takes, new, jnp.where(free, jnp.int32(p), probe))
        status = jnp.where(takes, _BUSY, jnp.where(free, _IDLE, status))
        s = jnp.where(takes[:, None], s0[new].astype(s.dtype), s)
        h = jnp.where(takes[:, None], h0[new].astype(h.dtype), h)
        sweep, position, sweeps = (jnp.where(takes, jnp.int32(0), a)
                                   for a in (sweep, position, sweeps))
        changed = changed & ~takes
        head = jnp.minimum(head + jnp.sum(free, dtype=jnp.int32), count)
        st = (probe, status, s, h, sweep, position, changed, sweeps)
        floor = jnp.where(head < count, keep_busy - 1, 0)   # queue empty: run all to the end
        st = jax.lax.while_loop(lambda st: jnp.sum(st[1] == _BUSY) > floor, step, st)
        return st, head, out_s, out_sweeps, out_converged

    zeros = jnp.zeros(lanes, jnp.int32)
    # the lanes hold states as int8, fields as field_type, and read W in its own (possibly
    # narrow) type: what every step reads is smaller
    st = (jnp.full(lanes, p, jnp.int32), zeros, jnp.zeros((lanes, n), jnp.int8),
          jnp.zeros((lanes, n), field_type or h0.dtype), zeros, zeros, jnp.zeros(lanes, bool),
          zeros)
    init = (st, jnp.int32(0), s0, jnp.zeros(p, jnp.int32), jnp.zeros(p, bool))
    _, _, out_s, out_sweeps, out_converged = jax.lax.while_loop(
        lambda c: (c[1] < count) | jnp.any(c[0][1] != _IDLE), refill, init)
    return out_s, out_sweeps, out_converged
