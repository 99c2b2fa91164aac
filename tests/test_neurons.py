import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ch6jax import data, neurons


@pytest.mark.parametrize("name", ["AND", "OR"])
def test_gates_reproduce_truth_tables(name):
    x, t = data.logic(name)
    np.testing.assert_array_equal(neurons.GATES[name](x), t)


def test_not_gate():
    np.testing.assert_array_equal(neurons.NOT(jnp.array([[0.0], [1.0]])), [1, 0])


def test_threshold_and_bias_forms_agree():
    x = jax.random.normal(jax.random.key(0), (200, 3))
    w = jnp.array([0.5, -1.0, 2.0])
    for t in (-0.7, 0.0, 1.3):
        np.testing.assert_array_equal(neurons.mp_neuron(x, w, t), neurons.mp_neuron_bias(x, w, -t))


def test_threshold_fires_at_equality():
    # (6.2): sigma(z) = +1 for z >= t, so z == t fires
    assert int(neurons.mp_neuron(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.5]), 1.5)) == 1
    assert int(neurons.mp_neuron(jnp.array([1.0, 1.0]), jnp.array([1.0, 0.4]), 1.5)) == -1


def test_hebb_rule_is_sum_of_outer_products():
    key1, key2 = jax.random.split(jax.random.key(1))
    post = jax.random.normal(key1, (5, 3))
    pre = jax.random.normal(key2, (5, 4))
    w0 = jnp.ones((3, 4))
    w = neurons.hebb_rule(w0, post, pre, eta=0.1)
    expected = np.ones((3, 4)) + 0.1 * sum(np.outer(a, b) for a, b in zip(post, pre))
    np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_hebb_rule_uses_no_labels_and_grows_correlated_weights():
    # Two co-active units: the weight between them grows; anti-correlated ones shrink.
    post = jnp.array([[1.0], [1.0], [-1.0]])
    pre = jnp.array([[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    w = neurons.hebb_rule(jnp.zeros((1, 2)), post, pre, eta=1.0)
    np.testing.assert_allclose(w, [[3.0, -3.0]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=0.0), "eta must be a positive number"),
    (dict(eta=0.1, w0=jnp.zeros((2, 2))), r"w0 must have shape \(M, D\)"),
    (dict(eta=0.1, pre=jnp.zeros((4, 4))), "same number of samples"),
    (dict(eta=0.1, pre=jnp.full((5, 4), jnp.nan)), "z_pre must be finite"),
])
def test_hebb_rule_bad_input(kwargs, match):
    args = dict(w0=jnp.zeros((3, 4)), post=jnp.zeros((5, 3)), pre=jnp.zeros((5, 4)))
    eta = kwargs.pop("eta")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        neurons.hebb_rule(args["w0"], args["post"], args["pre"], eta=eta)
