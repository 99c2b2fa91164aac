import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ch6jax import hopfield

XI1 = np.array([1, -1, 1, -1, 1])
XI2 = -XI1
XI3 = np.array([1, -1, -1, -1, 1])
XI4 = -XI3


def test_chapter_example_weights_and_recall():
    w = np.asarray(hopfield.hebb(np.stack([XI1, XI2])))
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)
    np.testing.assert_allclose(w, 0.4 * (np.outer(XI1, XI1) - np.eye(5)), atol=1e-15)
    np.testing.assert_allclose(w @ XI1, 1.6 * XI1, atol=1e-12)             # (6.63)
    for probe, target in ((XI1, XI1), (XI2, XI2), (XI3, XI1), (XI4, XI2)):
        r = hopfield.relax(w, probe)
        np.testing.assert_array_equal(r.states, target)
        assert bool(r.converged)


def test_incremental_storage_equals_the_batch_rule():
    rng = np.random.default_rng(0)
    xi = rng.choice([-1, 1], size=(4, 12))
    w = hopfield.hebb(xi[:1])
    for x in xi[1:]:
        w = hopfield.add_pattern(w, x)
    np.testing.assert_allclose(w, hopfield.hebb(xi), atol=1e-12)


@pytest.mark.parametrize("rule", sorted(hopfield.RULES))
def test_orthogonal_patterns_are_fixed_points(rule):
    h = np.array([[1, 1], [1, -1]])
    walsh = np.kron(np.kron(h, h), h)           # 8 mutually orthogonal +-1 patterns of length 8
    xi = np.kron(walsh[:3], np.ones((1, 2)))[:, :16].astype(int)   # still orthogonal, N = 16
    assert np.all((xi @ xi.T)[~np.eye(3, dtype=bool)] == 0)
    w = hopfield.RULES[rule](xi)
    r = hopfield.relax(w, xi)
    np.testing.assert_array_equal(r.states, xi)
    np.testing.assert_array_equal(r.sweeps, 0)


# a few shapes only: each new shape compiles the dynamics again
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([8, 16]), k=st.sampled_from([2, 5]),
       rule=st.sampled_from(sorted(hopfield.RULES)))
def test_asynchronous_updates_never_increase_the_energy(seed, n, k, rule):
    rng = np.random.default_rng(seed)
    w = hopfield.RULES[rule](rng.choice([-1, 1], size=(k, n)))
    b = 0.1 * rng.standard_normal(n)
    probes = rng.choice([-1, 1], size=(5, n))
    r = hopfield.relax(w, probes, b, key=jax.random.key(seed), record_energy="update")
    steps = np.diff(np.asarray(r.energies), axis=1)
    assert steps.max() <= 1e-9 and float(r.max_energy_increase.max()) <= 1e-9
    # the tracked energy is the energy (6.65) of the final state
    np.testing.assert_allclose(r.energies[:, -1], hopfield.energy(w, r.states, b), atol=1e-9)
    assert bool(r.converged.all())


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([5, 11]))
def test_the_two_encodings_give_the_same_dynamics(seed, n):
    rng = np.random.default_rng(seed)
    w = hopfield.hebb(rng.choice([-1, 1], size=(3, n)))
    b = 0.2 * rng.standard_normal(n)
    probes = rng.choice([-1, 1], size=(4, n))
    order = rng.permutation(n)
    pm = hopfield.relax(w, probes, b, order=order)
    bi = hopfield.relax(w, hopfield.to_binary(probes), hopfield.binary_bias(w, b), order=order,
                        encoding="binary")
    np.testing.assert_array_equal(hopfield.to_pm1(bi.states), pm.states)
    np.testing.assert_array_equal(bi.sweeps, pm.sweeps)
    sync_pm = hopfield.relax(w, probes, b, mode="sync")
    sync_bi = hopfield.relax(w, hopfield.to_binary(probes), hopfield.binary_bias(w, b),
                             mode="sync", encoding="binary")
    np.testing.assert_array_equal(hopfield.to_pm1(sync_bi.states), sync_pm.states)


def test_synchronous_two_cycle_is_detected():
    w = np.array([[0.0, -1.0], [-1.0, 0.0]])        # antiferromagnetic pair
    r = hopfield.relax(w, np.array([1, 1]), mode="sync", max_sweeps=10)
    assert bool(r.cycle) and not bool(r.converged)
    a = hopfield.relax(w, np.array([1, 1]), max_sweeps=10)
    assert bool(a.converged) and int(a.states.sum()) == 0           # one neuron flipped


def test_async_with_fixed_order_matches_a_plain_python_loop():
    rng = np.random.default_rng(3)
    n = 20
    w = np.asarray(hopfield.hebb(rng.choice([-1, 1], size=(5, n))))
    probe = rng.choice([-1, 1], size=n)
    s = probe.astype(float).copy()
    for _ in range(100):
        changed = False
        for i in range(n):
            new = 1.0 if w[i] @ s >= 0 else -1.0
            changed |= new != s[i]
            s[i] = new
        if not changed:
            break
    np.testing.assert_array_equal(hopfield.relax(w, probe).states, s)


def test_bad_input_names_the_argument():
    w = hopfield.hebb(np.stack([XI1, XI2]))
    with pytest.raises(ValueError, match="patterns must hold only"):
        hopfield.hebb(np.array([[1, 0, 1]]))
    with pytest.raises(ValueError, match="K = 0"):
        hopfield.hebb(np.zeros((0, 5)))
    with pytest.raises(ValueError, match="probes must have 5 neurons"):
        hopfield.relax(w, np.array([1, -1, 1]))
    with pytest.raises(ValueError, match="W must be finite"):
        hopfield.relax(np.full((5, 5), np.nan), XI1)
    asym = np.asarray(w).copy()
    asym[4, 3] = 0.4                                  # the chapter's printed (6.62)
    with pytest.raises(ValueError, match="W must be symmetric"):
        hopfield.energy(asym, XI1)
    with pytest.raises(ValueError, match="probes must hold only"):
        hopfield.relax(w, np.array([1, 0, 1, 0, 1]))
    with pytest.raises(ValueError, match="mode"):
        hopfield.relax(w, XI1, mode="parallel")
    with pytest.raises(ValueError, match="order"):
        hopfield.relax(w, XI1, order=[0, 0, 1, 2, 3])


def _relax_by_hand(w, probe, key, sweeps=100):
    """The asynchronous dynamics one neuron at a time, in relax_many's orders
    (``sweep_orders``: the permutation of fold_in(key, sweep))."""
    s = np.asarray(probe, float).copy()
    n = len(s)
    for sweep in range(sweeps):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, sweep), n))
        changed = False
        for j in order:
            new = 1.0 if w[j] @ s >= 0 else -1.0
            changed |= new != s[j]
            s[j] = new
        if not changed:
            break
    return s


def test_many_networks_at_once_with_a_shared_random_order():
    rng = np.random.default_rng(5)
    n, r, k = 30, 3, 4
    xi = rng.choice([-1, 1], size=(r, k, n))
    ws = np.stack([np.asarray(hopfield.hebb(x)) for x in xi])
    # the last network asymmetric (its columns are not its rows), with zero diagonal
    ws[-1] = np.where(np.eye(n, dtype=bool), 0.0, rng.integers(-3, 4, (n, n)) / n)
    probes = np.where(rng.random((r, k, n)) < 0.15, -xi, xi)          # 15% of bits flipped
    out = hopfield.relax_many(ws, probes, key=jax.random.key(0))
    exact = np.round(ws * n)        # N W is integral: decide ties exactly, as relax_many does
    for i in range(r):
        for p in range(k):
            np.testing.assert_array_equal(
                out.states[i, p], _relax_by_hand(exact[i], probes[i, p], jax.random.key(0)))


@pytest.mark.parametrize("largest, types", [
    (30, ("int8", "int16")),        # weights and fields narrow
    (300, ("int16", "int16")),      # weights past int8
    (3000, ("int16", None)),        # fields can pass 2^15: they stay float
])
def test_integer_weights_of_any_size_run_exactly(largest, types):
    rng = np.random.default_rng(largest)
    n, k = 30, 6
    upper = np.triu(rng.integers(-largest, largest + 1, (n, n)), 1)
    w = (upper + upper.T).astype(float)
    facts = hopfield._integer_scale(jnp.asarray(w)[None], jnp.zeros(n))
    got = hopfield._lane_types(facts.largest, facts.field_bound)
    assert tuple(None if t is None else jnp.dtype(t).name for t in got) == types
    probes = rng.choice([-1, 1], size=(1, k, n))
    out = hopfield.relax_many(w[None], probes, key=jax.random.key(2))
    for p in range(k):
        np.testing.assert_array_equal(out.states[0, p],
                                      _relax_by_hand(w, probes[0, p], jax.random.key(2)))


def test_more_neurons_than_float16_counts_exactly():
    # past N = 2,048 the search for the next unstable neuron takes its minimum in float32
    rng = np.random.default_rng(6)
    n = 2100
    xi = rng.choice([-1, 1], size=(300, n))
    w = np.asarray(hopfield.hebb(xi))
    probes = np.where(rng.random((1, 2, n)) < 0.1, -xi[:2], xi[:2])[None, 0]
    out = hopfield.relax_many(w[None], probes, key=jax.random.key(3))
    exact = np.round(w * n)
    for p in range(2):
        s = _relax_by_hand(exact, probes[0, p], jax.random.key(3))
        np.testing.assert_array_equal(out.states[0, p], s)
