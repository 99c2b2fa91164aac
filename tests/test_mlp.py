import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ch6jax import mlp
from ch6jax.mlp import MLP


def test_shapes_for_any_depth_and_width():
    for sizes in [(3, 2), (3, 5, 2), (4, 8, 6, 5, 1)]:
        p = mlp.init(jax.random.key(0), sizes)
        assert len(p["layers"]) == len(sizes) - 1
        for layer, fan_in, fan_out in zip(p["layers"], sizes[:-1], sizes[1:]):
            assert layer["w"].shape == (fan_in, fan_out) and layer["b"].shape == (fan_out,)
        y = mlp.apply(p, jnp.ones((7, sizes[0])))
        assert y.shape == (7, sizes[-1])


def test_apply_is_the_chapters_composition():
    # (6.14): y = sigma(W2 sigma(W1 x + b1) + b2), written out by hand
    p = mlp.init(jax.random.key(1), (3, 4, 2), initializer="normal")
    p["layers"][0]["b"] = jnp.arange(4.0) / 10
    x = jax.random.normal(jax.random.key(2), (5, 3))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    w1, b1 = np.asarray(p["layers"][0]["w"]), np.asarray(p["layers"][0]["b"])
    w2, b2 = np.asarray(p["layers"][1]["w"]), np.asarray(p["layers"][1]["b"])
    expected = sig(sig(np.asarray(x) @ w1 + b1) @ w2 + b2)
    np.testing.assert_allclose(mlp.apply(p, x, output="sigmoid"), expected, rtol=1e-12)


def test_softmax_output_is_a_distribution():
    net = MLP((3, 5, 4), output="softmax")
    y = net.apply(net.init(key=jax.random.key(0)), jax.random.normal(jax.random.key(1), (6, 3)))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


def test_skip_connection_adds_a_direct_path():
    net = MLP((2, 1, 1), activation="step", skip=True)
    # Fig 6.6: h = AND(x1, x2); y = step(x1 + x2 - 2h - 0.5) computes XOR
    p = {"layers": [{"w": jnp.array([[1.0], [1.0]]), "b": jnp.array([-1.5])},
                    {"w": jnp.array([[-2.0]]), "b": jnp.array([-0.5])}],
         "skip": {"w": jnp.array([[1.0], [1.0]])}}
    x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(mlp.heaviside(net.logits(p, x))[:, 0], [0, 1, 1, 0])


def test_without_a_hidden_nonlinearity_the_network_is_linear():
    p = mlp.init(jax.random.key(0), (3, 6, 6, 2))
    x = jax.random.normal(jax.random.key(1), (4, 3))
    f = lambda x: mlp.apply(p, x, activation="identity")  # noqa: E731
    np.testing.assert_allclose(f(2 * x) - f(jnp.zeros_like(x)), 2 * (f(x) - f(jnp.zeros_like(x))),
                               rtol=1e-10)


@pytest.mark.parametrize("initializer, std", [
    ("glorot", np.sqrt(2 / (400 + 300))), ("he", np.sqrt(2 / 400)), ("lecun", np.sqrt(1 / 400)),
])
def test_initializer_standard_deviations(initializer, std):
    w = mlp.init(jax.random.key(0), (400, 300), initializer=initializer)["layers"][0]["w"]
    assert float(jnp.std(w)) == pytest.approx(std, rel=0.01)
    assert abs(float(jnp.mean(w))) < 3 * std / np.sqrt(w.size)


def test_normal_initializer_uses_scale_and_keys_are_reproducible():
    a = mlp.init(jax.random.key(5), (200, 200), initializer="normal", scale=0.3)
    b = mlp.init(jax.random.key(5), (200, 200), initializer="normal", scale=0.3)
    assert float(jnp.std(a["layers"][0]["w"])) == pytest.approx(0.3, rel=0.02)
    np.testing.assert_array_equal(a["layers"][0]["w"], b["layers"][0]["w"])


def test_relu_and_tanh():
    p = mlp.init(jax.random.key(0), (2, 3, 1))
    x = jax.random.normal(jax.random.key(1), (5, 2))
    h = mlp.hidden(p, x, activation="relu")[0]
    assert float(h.min()) >= 0
    np.testing.assert_allclose(mlp.hidden(p, x, activation="tanh")[0],
                               np.tanh(np.asarray(x) @ np.asarray(p["layers"][0]["w"])))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sizes=(3,)), "sizes must be at least two positive integers"),
    (dict(sizes=(3, 0, 1)), "sizes must be at least two positive integers"),
    (dict(sizes=(3, 1), activation="softplus"), "activation must be one of"),
    (dict(sizes=(3, 1), output="tanh"), "output must be one of"),
    (dict(sizes=(3, 1), output="identity", loss_name="cross_entropy"),
     "loss_name 'cross_entropy' needs output 'softmax'"),
])
def test_bad_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_bad_initializer():
    with pytest.raises(ValueError, match="initializer must be one of"):
        mlp.init(jax.random.key(0), (2, 1), initializer="xavier")


def test_check_batch_names_the_problem():
    net = MLP((7, 18, 10), output="softmax")
    with pytest.raises(ValueError, match="batch x must have 7 features"):
        net.check_batch((jnp.zeros((10, 6)), jnp.zeros((10, 10))))
    with pytest.raises(ValueError, match=r"batch t must have shape \(N, 10\)"):
        net.check_batch((jnp.zeros((10, 7)), jnp.zeros((10, 9))))
    net.check_batch((jnp.zeros((10, 7)), jnp.arange(10)))  # integer labels are fine
    with pytest.raises(ValueError, match="batch t must hold integer class labels"):
        net.check_batch((jnp.zeros((10, 7)), jnp.arange(10.0)))
    with pytest.raises(ValueError, match=r"batch t labels must lie in 0..9, got values from "
                                         r"-1 to 8"):
        net.check_batch((jnp.zeros((10, 7)), jnp.arange(10) - 1))


def test_wrong_input_width_is_named():
    p = mlp.init(jax.random.key(0), (3, 4, 2))
    with pytest.raises(ValueError, match=r"x must have 3 features .* got shape \(5, 2\)"):
        mlp.apply(p, jnp.ones((5, 2)))
