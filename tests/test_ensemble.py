import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ch6jax import backprop, data, ensemble, train
from ch6jax.mlp import MLP

CONFIGS = [
    MLP((7, 18, 10), activation="sigmoid", output="softmax"),
    MLP((2, 5, 4, 3), activation="tanh", output="identity", skip=True),
    MLP((3, 6, 2), activation="relu", output="sigmoid", loss_name="binary_cross_entropy"),
    MLP((3, 4, 2), activation="sigmoid", output="softmax", loss_name="squared_error",
        reduction="sum"),
]


def batch_for(net, n=10, seed=0):
    x = jax.random.uniform(jax.random.key(seed), (n, net.sizes[0]), jnp.float64)
    k = net.sizes[-1]
    if net.loss_name == "cross_entropy":
        return x, jax.nn.one_hot(jnp.arange(n) % k, k, dtype=jnp.float64)
    return x, jax.random.uniform(jax.random.key(seed + 1), (n, k), jnp.float64)


@pytest.mark.parametrize("net", CONFIGS, ids=lambda n: f"{n.activation}-{n.output}")
def test_members_follow_exactly_the_single_network_trajectory(net):
    keys = jax.random.split(jax.random.key(3), 6)
    batch = batch_for(net)
    params = ensemble.init(net, keys, dtype=jnp.float64)
    fit = ensemble.gradient_descent(net, params, batch, learning_rate=0.3, steps=40)
    for s in range(6):
        single = train.gradient_descent(net.loss, net.init(key=keys[s], dtype=jnp.float64),
                                        batch, learning_rate=0.3, steps=40)
        for a, b in zip(jax.tree.leaves(ensemble.member(fit.params, s)),
                        jax.tree.leaves(single.params)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fit.loss[:, s], single.loss, rtol=1e-10)
        np.testing.assert_allclose(fit.final_loss[s], single.final_loss, rtol=1e-10)
    quiet = ensemble.gradient_descent(net, params, batch, learning_rate=0.3, steps=40,
                                      record_loss=False)
    assert quiet.loss is None
    np.testing.assert_array_equal(quiet.final_loss, fit.final_loss)


@pytest.mark.parametrize("net", CONFIGS, ids=lambda n: f"{n.activation}-{n.output}")
def test_members_layout_gradients_equal_autodiff(net):
    params = ensemble.init(net, jax.random.split(jax.random.key(1), 5), dtype=jnp.float64)
    x, t = batch_for(net, n=7)
    ours, reference = jax.jit(lambda p: (
        backprop.backward(net, p, backprop.forward(net, p, x, ensemble.MEMBERS), t,
                          ensemble.MEMBERS),
        jax.grad(lambda q: ensemble.loss(net, q, (x, t)).sum())(p)))(params)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_long_contractions_use_einsum_and_agree(monkeypatch):
    net = MLP((5, 9, 3), activation="tanh", output="softmax")
    params = ensemble.init(net, jax.random.split(jax.random.key(0), 4), dtype=jnp.float64)
    x, t = batch_for(net, n=12)

    def outputs_and_grads(p):  # traced afresh on each jit: it sees the current UNROLL_LIMIT
        cache = backprop.forward(net, p, x, ensemble.MEMBERS)
        return cache.y, backprop.backward(net, p, cache, t, ensemble.MEMBERS)

    unrolled, g_unrolled = jax.jit(outputs_and_grads)(params)
    monkeypatch.setattr(ensemble, "UNROLL_LIMIT", 2)
    y, g = jax.jit(outputs_and_grads)(params)
    np.testing.assert_allclose(y, unrolled, rtol=1e-12)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_unrolled)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_apply_and_loss_shapes_and_stack_roundtrip():
    net = CONFIGS[0]
    x, labels = data.seven_segment()
    keys = jax.random.split(jax.random.key(0), 3)
    params = ensemble.init(net, keys)
    assert params["layers"][0]["w"].shape == (7, 18, 3)
    y = jax.jit(lambda p: ensemble.apply(net, p, x))(params)
    assert y.shape == (10, 10, 3)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[..., 1], net.apply(ensemble.member(params, 1), x), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda p: ensemble.loss(net, p, (x, labels)))(params)[2],
                               net.loss(ensemble.member(params, 2), (x, labels)), rtol=1e-6)
    back = ensemble.stack(ensemble.unstack(params))
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_shard_over_the_available_devices_keeps_results():
    net = CONFIGS[0]
    x, labels = data.seven_segment()
    params = ensemble.init(net, jax.random.split(jax.random.key(0), len(jax.devices()) * 2))
    a = ensemble.gradient_descent(net, params, (x, labels), learning_rate=0.5, steps=5)
    b = ensemble.gradient_descent(net, ensemble.shard(params), (x, labels), learning_rate=0.5,
                                  steps=5)
    np.testing.assert_allclose(a.final_loss, b.final_loss, rtol=1e-6)


def test_bad_input():
    net = CONFIGS[0]
    params = ensemble.init(net, jax.random.split(jax.random.key(0), 2))
    x, labels = data.seven_segment()
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        ensemble.gradient_descent(net, params, (x, labels), learning_rate=0.0, steps=3)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        ensemble.gradient_descent(net, params, (x, labels), learning_rate=0.1, steps=0)
    with pytest.raises(ValueError, match="batch x must have 7 features"):
        ensemble.gradient_descent(net, params, (x[:, :6], labels), learning_rate=0.1, steps=3)
    with pytest.raises(ValueError, match=r"must be a multiple of the number of devices"):
        ensemble.shard(ensemble.init(net, jax.random.split(jax.random.key(0), 3)),
                       devices=[jax.devices()[0]] * 2)
