import jax
import numpy as np
import pytest

from analysis import capacity
from ch6jax import hopfield


def test_crosstalk_matches_its_theory():
    c = capacity.crosstalk(jax.random.key(0), 200, 20, trials=8)
    assert abs(c.mean) < 0.01
    assert c.variance == pytest.approx(c.variance_theory, rel=0.05)      # (K-1)(N-1)/N^2
    assert c.one_step_error == pytest.approx(c.one_step_error_gaussian, abs=0.002)


def test_random_patterns_are_balanced_bits():
    x = np.asarray(capacity.random_patterns(jax.random.key(1), (50, 333)))
    assert set(np.unique(x)) == {-1.0, 1.0} and abs(x.mean()) < 0.01


def test_retrieval_is_perfect_at_low_load_and_fails_far_above_capacity():
    r = capacity.retrieval(jax.random.key(2), 200, [0.03, 0.3], 2)
    assert r.ks.tolist() == [6, 60]
    np.testing.assert_array_equal(r.retrieved[0], 1.0)
    assert r.retrieved[1].mean() < 0.3 and r.overlap[1].mean() < r.overlap[0].mean()
    assert np.all(r.overlap_retrieved[0] > 0.99)


def test_retrieval_does_not_depend_on_how_networks_are_batched():
    whole = capacity.retrieval(jax.random.key(3), 60, [0.1, 0.15], 3)
    pieces = capacity.retrieval(jax.random.key(3), 60, [0.1, 0.15], 3, memory=2 * 12 * 60**2)
    np.testing.assert_array_equal(whole.retrieved, pieces.retrieved)
    np.testing.assert_array_equal(whole.overlap, pieces.overlap)


@pytest.mark.parametrize("rule", ["hebb", "storkey"])
def test_retrieval_relaxes_the_stored_patterns_as_relax_many_does(rule):
    # Hebb's rule has its own faster road through the dynamics: same networks, same orders,
    # so the same overlaps as the general relax_many, to the bit
    key, n, alphas, trials = jax.random.key(4), 80, np.array([0.1, 0.2, 0.3]), 2
    got = capacity.retrieval(key, n, alphas, trials, rule=rule, max_sweeps=50)
    counts = np.repeat(got.ks, trials)
    xi, w = capacity.store_random(key, n, counts, rule=rule)
    out = hopfield.relax_many(w, xi, key=jax.random.fold_in(key, 1), max_sweeps=50,
                              counts=counts)
    m = np.einsum("rki,rki->rk", np.asarray(out.states, float), np.asarray(xi, float)) / n
    mean = [m[i, :c].mean() for i, c in enumerate(counts)]
    np.testing.assert_array_equal(got.overlap.ravel(), mean)


TWO_DEVICES = """
import sys
import jax
import numpy as np
from analysis import capacity
from ch6jax import hopfield

jax.config.update("jax_enable_x64", True)
assert len(jax.local_devices()) == 2
hebb = capacity.retrieval(jax.random.key(4), 80, [0.1, 0.2, 0.3], 3, max_sweeps=50)
storkey = capacity.retrieval(jax.random.key(4), 80, [0.1, 0.3], 3, rule="storkey", max_sweeps=50)
rng = np.random.default_rng(1)
ws = np.where(np.eye(40, dtype=bool), 0, rng.integers(-5, 6, (5, 40, 40))).astype(float)
probes = rng.choice([-1, 1], size=(5, 6, 40))
counts = np.array([6, 1, 4, 0, 3])
two = hopfield.relax_many(ws, probes, key=jax.random.key(2), counts=counts)
one = hopfield.relax_many(ws, probes, key=jax.random.key(2), counts=counts,
                          devices=jax.local_devices()[:1])
np.savez(sys.argv[1], hebb=hebb.overlap, storkey=storkey.overlap, states_two=two.states,
         states_one=one.states, sweeps_two=two.sweeps, sweeps_one=one.sweeps)
"""


def test_results_do_not_depend_on_the_number_of_devices(on_two_devices):
    # networks dealt over two host devices (an odd number of them: one block is padded)
    two = on_two_devices(TWO_DEVICES)
    hebb = capacity.retrieval(jax.random.key(4), 80, [0.1, 0.2, 0.3], 3, max_sweeps=50)
    storkey = capacity.retrieval(jax.random.key(4), 80, [0.1, 0.3], 3, rule="storkey",
                                 max_sweeps=50)
    np.testing.assert_array_equal(two["hebb"], hebb.overlap)
    np.testing.assert_array_equal(two["storkey"], storkey.overlap)
    np.testing.assert_array_equal(two["states_two"], two["states_one"])
    np.testing.assert_array_equal(two["sweeps_two"], two["sweeps_one"])


def test_crossing_ignores_curves_that_only_touch():
    a = np.array([0.1, 0.2, 0.3, 0.4])
    assert capacity._crossing(a, [1, 1, 0.6, 0.1], [1, 1, 0.4, 0.2]) == pytest.approx(
        0.3 + 0.1 * 0.2 / 0.3)
    assert np.isnan(capacity._crossing(a, [1, 1, 0.5, 0.0], [1, 1, 0.4, 0.0]))
    assert np.isnan(capacity._crossing(a, [1, 0.9, 0.5, 0.2], [1, 0.8, 0.4, 0.1]))


def test_critical_load_recovers_a_planted_crossing_point():
    alphas = np.linspace(0.10, 0.18, 9)
    curves = []
    for n in (250, 1000, 4000):
        centre = 0.14 + 0.5 / np.sqrt(n)              # finite-size shift ~ N^-1/2
        width = 0.8 / np.sqrt(n)
        f = 1 / (1 + np.exp((alphas - centre) / width))
        curves.append(capacity.Retrieval(n, alphas, np.round(alphas * n), f[:, None] + 0 * f[:, None],
                                         np.tile(f[:, None], (1, 4)), 1, f[:, None]))
    out = capacity.critical_load(curves, resamples=10)
    assert len(out.crossings) == 2 and all(np.isfinite(x) for *_, x in out.crossings)
    assert 0.12 < out.alpha_c_inf < 0.16


def test_flip_bits_flips_exactly_that_many():
    x = np.ones((3, 4, 50))
    y = np.asarray(capacity.flip_bits(jax.random.key(4), x, 7))
    np.testing.assert_array_equal((y == -1).sum(-1), 7)


def test_basins_start_at_one_and_fall_with_distance():
    # (the census and the modern network are checked on the quick reproduce's metrics)
    b = capacity.basins(jax.random.key(5), 100, [0.05], [0, 10, 50], 2, probes=5)
    assert b.retrieved[0, 0] == 1.0 and b.retrieved[0, 1] == 1.0 and b.retrieved[0, 2] < 0.2


def test_many_networks_with_counts_and_few_lanes():
    rng = np.random.default_rng(8)
    n, r, k = 40, 3, 6
    xi = rng.choice([-1, 1], size=(r, k, n))
    counts = np.array([6, 2, 4])
    ws = np.stack([np.asarray(hopfield.hebb(x[:c])) for x, c in zip(xi, counts)])
    probes = np.where(rng.random((r, k, n)) < 0.2, -xi, xi)
    wide = hopfield.relax_many(ws, probes, key=jax.random.key(0), counts=counts)
    narrow = hopfield.relax_many(ws, probes, key=jax.random.key(0), counts=counts, lanes=2)
    np.testing.assert_array_equal(wide.states, narrow.states)
    np.testing.assert_array_equal(wide.sweeps, narrow.sweeps)
    for i, c in enumerate(counts):          # probes past the count are left alone
        np.testing.assert_array_equal(wide.states[i, c:], probes[i, c:])
        assert not np.asarray(wide.converged[i, c:]).any()
        assert np.asarray(wide.converged[i, :c]).all()
    with pytest.raises(ValueError, match="counts must hold"):
        hopfield.relax_many(ws, probes, key=jax.random.key(0), counts=[7, 0, 0])


def test_per_probe_random_orders_match_a_plain_python_loop():
    rng = np.random.default_rng(9)
    n, p = 24, 5
    w = np.asarray(hopfield.hebb(rng.choice([-1, 1], size=(4, n))))
    probes = rng.choice([-1, 1], size=(p, n))
    key = jax.random.key(11)
    out = hopfield.relax(w, probes, key=key)
    for i in range(p):
        s = probes[i].astype(float)
        for sweep in range(100):
            k = jax.random.split(jax.random.fold_in(key, sweep), p)[i]
            changed = False
            for j in np.asarray(jax.random.permutation(k, n)):
                new = 1.0 if w[j] @ s >= 0 else -1.0
                changed |= new != s[j]
                s[j] = new
            if not changed:
                break
        np.testing.assert_array_equal(out.states[i], s)


def test_bad_settings_name_the_argument():
    with pytest.raises(ValueError, match="alphas must"):
        capacity.retrieval(jax.random.key(0), 100, [0.0, 0.1], 2)
    with pytest.raises(ValueError, match="rule must"):
        capacity.retrieval(jax.random.key(0), 100, [0.1], 2, rule="oja")
    with pytest.raises(ValueError, match="trials must"):
        capacity.retrieval(jax.random.key(0), 100, [0.1], 0)
    with pytest.raises(ValueError, match="flips must"):
        capacity.flip_bits(jax.random.key(0), np.ones((2, 5)), 6)
