"""The chapter's delta equations against jax.grad (1e-10, float64) and finite differences."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ch6jax import backprop
from ch6jax.mlp import MLP

PAIRINGS = [("identity", "squared_error"), ("sigmoid", "squared_error"),
            ("softmax", "cross_entropy"), ("softmax", "squared_error"),
            ("sigmoid", "binary_cross_entropy")]

networks = st.fixed_dictionaries({
    "sizes": st.lists(st.integers(1, 6), min_size=2, max_size=5),
    "activation": st.sampled_from(["sigmoid", "tanh", "relu", "identity"]),
    "pairing": st.sampled_from(PAIRINGS),
    "skip": st.booleans(),
    "reduction": st.sampled_from(["mean", "sum"]),
    "n": st.integers(1, 7),
    "seed": st.integers(0, 2**31 - 1),
    "scale": st.floats(0.1, 3.0),
})


def make_case(spec):
    output, loss = spec["pairing"]
    net = MLP(tuple(spec["sizes"]), activation=spec["activation"], output=output,
              skip=spec["skip"], loss_name=loss, reduction=spec["reduction"])
    # one compiled call per case: op-by-op dispatch would dominate the test's time
    params, batch = jax.jit(_random_case, static_argnums=(0, 2, 3))(
        net, spec["seed"], spec["n"], spec["scale"])
    return net, params, batch


def _random_case(net, seed, n, scale):
    loss = net.loss_name
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    params = net.init(key=k1, initializer="normal", scale=scale, dtype=jnp.float64)
    params = jax.tree.map(lambda p, k: p + 0.1 * jax.random.normal(k, p.shape, p.dtype), params,
                          jax.tree.unflatten(jax.tree.structure(params),
                                             list(jax.random.split(k4, len(jax.tree.leaves(params))))))
    x = jax.random.normal(k2, (n, net.sizes[0]), jnp.float64)
    k = net.sizes[-1]
    if loss == "cross_entropy":
        t = jax.nn.softmax(jax.random.normal(k3, (n, k), jnp.float64))
    else:
        t = jax.random.uniform(k3, (n, k), jnp.float64)
    return params, (x, t)


@settings(max_examples=6, deadline=None)
@given(networks)
def test_backprop_equals_autodiff(spec):
    net, params, batch = make_case(spec)
    ours, reference = jax.jit(lambda p, b: (backprop.gradients(net, p, b),
                                            jax.grad(net.loss)(p, b)))(params, batch)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * max(1.0, float(jnp.abs(b).max())))


@settings(max_examples=4, deadline=None)
@given(networks)
def test_backprop_equals_finite_differences(spec):
    net, params, batch = make_case(spec)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    f = jax.vmap(lambda v: net.loss(unravel(v), batch))
    grad, _ = jax.flatten_util.ravel_pytree(backprop.gradients(net, params, batch))
    eps = 1e-6
    eye = jnp.eye(flat.size)
    fd = np.asarray((jax.jit(f)(flat + eps * eye) - jax.jit(f)(flat - eps * eye)) / (2 * eps))
    # relu has kinks: a central difference straddling one is off by O(1); skip those entries
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6) if spec["activation"] != "relu" \
        else np.testing.assert_allclose(np.median(np.abs(grad - fd)), 0.0, atol=1e-6)


def test_chapter_equations_by_hand_for_a_two_layer_regression_network():
    # (6.24)-(6.32) for one sample, written as the chapter writes them
    net = MLP((2, 3, 1), activation="sigmoid", output="identity", reduction="sum")
    params = net.init(key=jax.random.key(0), initializer="normal", scale=0.7, dtype=jnp.float64)
    x, t = jnp.array([[0.3, -1.2]]), jnp.array([[0.5]])
    w1, b1 = np.asarray(params["layers"][0]["w"]).T, np.asarray(params["layers"][0]["b"])
    w2, b2 = np.asarray(params["layers"][1]["w"]).T, np.asarray(params["layers"][1]["b"])
    h = 1 / (1 + np.exp(-(w1 @ np.asarray(x[0]) + b1)))
    y = w2 @ h + b2
    delta_k = y - np.asarray(t[0])                        # (6.25)
    delta_j = (delta_k @ w2) * h * (1 - h)                # (6.29)-(6.30)
    g = backprop.gradients(net, params, (x, t))
    np.testing.assert_allclose(g["layers"][1]["w"].T, np.outer(delta_k, h))       # (6.26)
    np.testing.assert_allclose(g["layers"][1]["b"], delta_k)                      # (6.27)
    np.testing.assert_allclose(g["layers"][0]["w"].T, np.outer(delta_j, x[0]))    # (6.31)
    np.testing.assert_allclose(g["layers"][0]["b"], delta_j)                      # (6.32)


def test_value_and_gradients_and_jit():
    net = MLP((7, 18, 10), output="softmax")
    params = net.init(key=jax.random.key(0), dtype=jnp.float64)
    x = jax.random.bernoulli(jax.random.key(1), 0.5, (10, 7)).astype(jnp.float64)
    labels = jnp.arange(10)
    value, grads = jax.jit(lambda p: backprop.value_and_gradients(net, p, (x, labels)))(params)
    np.testing.assert_allclose(value, net.loss(params, (x, labels)), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(jax.grad(net.loss)(params, (x, labels)))):
        np.testing.assert_allclose(a, b, atol=1e-12)
