import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ch6jax import data, perceptron


def reference_perceptron(x, t, w, b, eta, max_epochs, orders=None):
    """The chapter's rule in plain Python floats, as an independent check."""
    x, t, w = np.asarray(x, float), np.asarray(t, float), np.array(w, float)
    rows = []
    for e in range(max_epochs):
        order = range(len(x)) if orders is None else orders[e]
        changed = False
        for i in order:
            pred = 1.0 if x[i] @ w + b >= 0 else -1.0
            if pred != t[i]:
                w, b, changed = w + eta * t[i] * x[i], b + eta * t[i], True
                rows.append((e + 1, int(i), w.copy(), b))
        if not changed:
            return w, b, e + 1, rows
    return w, b, 0, rows


def table_run(**kw):
    x, t = data.table_6_1(jnp.float64)
    return perceptron.train(x, t, jnp.array([0.75, 0.5]), -0.6, eta=0.2, max_epochs=1000, **kw)


def test_first_update_matches_the_chapter():
    # Sample 1 is correct; sample 2 gives w = (0.75 - 0.2*9.4, 0.5 - 0.2*6.4) and b = -0.8.
    u = perceptron.updates(table_run())
    assert (u["epoch"][0], u["sample"][0]) == (1, 1)
    np.testing.assert_allclose(u["w"][0], [-1.13, -0.78], rtol=1e-12)
    np.testing.assert_allclose(u["b"][0], -0.8, rtol=1e-12)


def test_table_6_1_matches_an_independent_implementation():
    x, t = data.table_6_1(jnp.float64)
    w_ref, b_ref, epoch_ref, rows = reference_perceptron(x, t, [0.75, 0.5], -0.6, 0.2, 1000)
    r = table_run()
    assert bool(r.converged)
    assert int(r.epochs_to_converge) == epoch_ref
    np.testing.assert_allclose(r.w, w_ref, atol=1e-12)
    np.testing.assert_allclose(float(r.b), b_ref, atol=1e-12)
    u = perceptron.updates(r)
    assert int(r.n_updates) == len(rows)
    np.testing.assert_array_equal(u["sample"], [row[1] for row in rows])
    np.testing.assert_allclose(u["w"], np.stack([row[2] for row in rows]), atol=1e-12)
    # and the result separates the data
    np.testing.assert_array_equal(perceptron.predict(r.w, r.b, x), t)


def test_trace_records_every_visit_in_order():
    r = table_run()
    n_epochs, n = 1000, 10
    assert r.trace.w.shape == (n_epochs * n, 2)
    np.testing.assert_array_equal(r.trace.sample[:20], np.tile(np.arange(10), 2))
    np.testing.assert_array_equal(r.trace.epoch[:20], np.repeat([1, 2], 10))
    # after convergence nothing changes
    assert not bool(r.trace.updated[int(r.epochs_to_converge - 1) * n:].any())


def test_shuffled_orders_follow_the_key_and_match_reference():
    key = jax.random.key(3)
    x, t = data.table_6_1(jnp.float64)
    r = table_run(key=key)
    orders = [np.asarray(jax.random.permutation(jax.random.fold_in(key, e), 10))
              for e in range(1000)]
    w_ref, b_ref, epoch_ref, _ = reference_perceptron(x, t, [0.75, 0.5], -0.6, 0.2, 1000, orders)
    np.testing.assert_allclose(r.w, w_ref, atol=1e-12)
    assert int(r.epochs_to_converge) == epoch_ref
    again = table_run(key=key)
    np.testing.assert_array_equal(again.trace.w, r.trace.w)


def test_vmap_over_initial_parameters_matches_single_runs():
    x, t = data.table_6_1(jnp.float64)
    w0 = jax.random.normal(jax.random.key(0), (8, 2))
    b0 = jnp.linspace(-1.0, 1.0, 8)
    batched = jax.vmap(lambda w, b: perceptron.train(x, t, w, b, eta=0.2, max_epochs=200))(w0, b0)
    for i in range(8):
        single = perceptron.train(x, t, w0[i], b0[i], eta=0.2, max_epochs=200)
        np.testing.assert_allclose(batched.w[i], single.w, atol=1e-12)
        assert int(batched.epochs_to_converge[i]) == int(single.epochs_to_converge)


def test_xor_never_converges():
    x, t01 = data.logic("XOR", jnp.float64)
    r = perceptron.train(x, data.to_pm1(t01), jnp.zeros(2), 0.0, eta=1.0, max_epochs=500)
    assert not bool(r.converged)
    assert int(r.epochs_to_converge) == 0
    assert bool(r.trace.updated.reshape(500, 4).any(axis=1).all())  # an update every epoch


def test_xor_certificate_proves_infeasibility():
    x, t01 = data.logic("XOR", jnp.float64)
    t = np.asarray(data.to_pm1(t01))
    s = perceptron.separability(x, t)
    assert not s.separable
    y = s.certificate
    assert np.all(y >= -1e-12) and abs(y.sum() - 1) < 1e-12
    signed = t[:, None] * np.hstack([np.asarray(x), np.ones((4, 1))])
    np.testing.assert_allclose(signed.T @ y, 0.0, atol=1e-12)
    # For any hyperplane the y-weighted sum of signed margins is 0, so one sample is wrong.
    for w_b in np.random.default_rng(0).normal(size=(100, 3)):
        assert y @ (signed @ w_b) == pytest.approx(0.0, abs=1e-10)


def test_separable_data_gets_a_separating_hyperplane():
    x, t = data.table_6_1(jnp.float64)
    s = perceptron.separability(x, t)
    assert s.separable and s.margin > 0
    margins = np.asarray(t) * (np.asarray(x) @ s.w + s.b)
    assert margins.min() > 0
    assert s.margin == pytest.approx(margins.min() / np.linalg.norm(s.w))


@pytest.mark.parametrize("gate, separable", [("AND", True), ("OR", True), ("XOR", False)])
def test_gates_separability(gate, separable):
    x, t = data.logic(gate)
    assert perceptron.separability(x, data.to_pm1(t)).separable is separable


@pytest.mark.parametrize("args, match", [
    (dict(t=jnp.array([0, 1, 1, 0])), r"t must be -1 or \+1, got values \[0\]"),
    (dict(x=jnp.zeros((4,))), "x must have 2 dimensions"),
    (dict(x=jnp.zeros((3, 2))), "same number of samples"),
    (dict(w0=jnp.zeros(3)), "w0 must have one weight per input feature"),
    (dict(eta=-1.0), "eta must be a positive number"),
    (dict(max_epochs=0), "max_epochs must be a positive integer"),
    (dict(max_epochs=2.5), "max_epochs must be a positive integer"),
    (dict(x=jnp.array([[0, 0], [0, 1], [1, 0], [1, jnp.inf]])), "x must be finite"),
    (dict(x=jnp.zeros((0, 2)), t=jnp.zeros((0,))), "x must not be empty"),
])
def test_bad_input_is_rejected_before_compiling(args, match):
    kw = dict(x=jnp.zeros((4, 2)), t=jnp.array([1, -1, 1, -1]), w0=jnp.zeros(2), b0=0.0,
              eta=1.0, max_epochs=10)
    kw.update(args)
    with pytest.raises(ValueError, match=match):
        perceptron.train(kw["x"], kw["t"], kw["w0"], kw["b0"], eta=kw["eta"],
                         max_epochs=kw["max_epochs"])
