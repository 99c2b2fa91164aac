import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ch6jax import losses


def test_squared_error_is_half_the_squared_norm():
    y = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    t = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(losses.squared_error(y, t), [2.5, 12.5])


def test_cross_entropy_matches_the_definition():
    a = jax.random.normal(jax.random.key(0), (5, 4))
    t = jax.nn.one_hot(jnp.array([0, 1, 2, 3, 0]), 4)
    y = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    np.testing.assert_allclose(losses.softmax_cross_entropy(a, t), -(t * np.log(y)).sum(1),
                               rtol=1e-12)
    # integer labels give the same values
    np.testing.assert_allclose(losses.softmax_cross_entropy(a, jnp.array([0, 1, 2, 3, 0])),
                               losses.softmax_cross_entropy(a, t), rtol=1e-12)


@pytest.mark.parametrize("scale", [1e3, 1e5, 1e30])
def test_extreme_logits_stay_finite(scale):
    a = jnp.array([[scale, -scale, 0.0], [-scale, -scale, scale]])
    t = jax.nn.one_hot(jnp.array([1, 2]), 3)
    value = losses.softmax_cross_entropy(a, t)
    grad = jax.grad(lambda a: losses.softmax_cross_entropy(a, t).sum())(a)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, [2 * scale, 0.0], rtol=1e-12)
    b = losses.sigmoid_cross_entropy(a, jnp.ones_like(a))
    assert np.all(np.isfinite(b)) and np.all(np.isfinite(jax.grad(
        lambda a: losses.sigmoid_cross_entropy(a, jnp.ones_like(a)).sum())(a)))


def test_sigmoid_cross_entropy_matches_the_definition():
    a = jax.random.normal(jax.random.key(1), (6, 2))
    t = jax.random.uniform(jax.random.key(2), (6, 2))
    s = 1 / (1 + np.exp(-np.asarray(a)))
    ref = -(t * np.log(s) + (1 - t) * np.log(1 - s)).sum(1)
    np.testing.assert_allclose(losses.sigmoid_cross_entropy(a, t), ref, rtol=1e-10)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="y and t must have the same shape"):
        losses.squared_error(jnp.zeros((3, 2)), jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match="logits and t must have the same shape"):
        losses.softmax_cross_entropy(jnp.zeros((3, 2)), jnp.zeros((3, 3)))
