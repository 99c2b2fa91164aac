import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import symmetry
from ch6jax.mlp import MLP


def net_and_params(sizes, activation, seed=0, output="identity"):
    model = MLP(sizes, activation=activation, output=output)
    params = model.init(key=jax.random.key(seed), initializer="normal", dtype=jnp.float64)
    # non-zero biases, so that every unit is distinguishable
    params = jax.tree.map(lambda p, k: p + 0.3 * jax.random.normal(k, p.shape, p.dtype), params,
                          jax.tree.unflatten(jax.tree.structure(params), list(
                              jax.random.split(jax.random.key(seed + 100),
                                               len(jax.tree.leaves(params))))))
    x = jax.random.normal(jax.random.key(seed + 1), (9, sizes[0]), jnp.float64)
    return model, params, x


def test_group_sizes_by_activation():
    assert symmetry.group_size((7,), "tanh") == math.factorial(7) * 2 ** 7 == 645_120
    assert symmetry.group_size((7,), "sigmoid") == 645_120
    assert symmetry.group_size((7,), "relu") == math.factorial(7)
    assert symmetry.group_size((3, 2), "tanh") == (6 * 8) * (2 * 4)
    assert symmetry.describe("relu")["continuous"].startswith("positive rescaling")
    assert symmetry.describe("sigmoid")["sign_flips"] == "complement"
    with pytest.raises(ValueError, match="activation"):
        symmetry.describe("softplus")


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity"])
def test_every_element_of_a_small_group_preserves_the_function(activation):
    model, params, x = net_and_params((3, 4, 2), activation)
    elements = symmetry.all_elements(4, activation)
    assert elements.perms[0].shape[0] == symmetry.group_size((4,), activation)
    worst, each = symmetry.max_deviation(model, params, x, elements, chunk=50)
    assert worst < 1e-13 and each.shape == (symmetry.group_size((4,), activation),)
    # and a non-symmetry (negating a relu unit) does change it: the check can fail
    if activation == "relu":
        flip = symmetry.Element((jnp.arange(4)[None],), (jnp.array([[-1, 1, 1, 1]], jnp.int8),))
        assert symmetry.max_deviation(model, params, x, flip)[0] > 1e-3


def test_deep_networks_compose_the_layers_groups():
    model, params, x = net_and_params((3, 4, 3, 2), "sigmoid", output="softmax")
    elements = symmetry.random_elements(jax.random.key(5), (4, 3), 200, "sigmoid")
    assert symmetry.max_deviation(model, params, x, elements)[0] < 1e-13


@settings(max_examples=8, deadline=None)
@given(activation=st.sampled_from(["tanh", "sigmoid", "relu"]), seed=st.integers(0, 10_000),
       widths=st.sampled_from([(3,), (5,), (4, 3)]))
def test_canonical_form_is_the_same_for_every_copy(activation, seed, widths):
    sizes = (2, *widths, 2)
    _, params, _ = net_and_params(sizes, activation, seed=seed)
    element = symmetry.random_elements(jax.random.key(seed), widths, 1, activation)
    element = jax.tree.map(lambda a: a[0], element)
    copy = symmetry.apply(params, element, activation)
    a, _ = symmetry.canonical(params, activation)
    b, _ = symmetry.canonical(copy, activation)
    np.testing.assert_allclose(symmetry.flat(a), symmetry.flat(b), rtol=1e-12, atol=1e-12)
    # and the element canonical() reports maps params to its representative
    c, g = symmetry.canonical(params, activation)
    np.testing.assert_allclose(symmetry.flat(symmetry.apply(params, g, activation)),
                               symmetry.flat(c), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation, widths", [("tanh", (6,)), ("sigmoid", (5, 4)),
                                                ("relu", (8,))])
def test_planted_permutations_are_recovered_exactly(activation, widths):
    sizes = (3, *widths, 2)
    model, params, x = net_and_params(sizes, activation, seed=3)
    for seed in range(5):
        element = jax.tree.map(lambda a: a[0], symmetry.random_elements(
            jax.random.key(seed), widths, 1, activation))
        shuffled = symmetry.apply(params, element, activation)
        aligned, found = symmetry.align(params, shuffled, activation)
        np.testing.assert_allclose(symmetry.flat(aligned), symmetry.flat(params), atol=1e-12)
        np.testing.assert_allclose(model.apply(aligned, x), model.apply(shuffled, x),
                                   atol=1e-12)


def test_bad_input_names_the_argument():
    _, params, _ = net_and_params((2, 3, 1), "tanh")
    _, other, _ = net_and_params((2, 4, 1), "tanh")
    with pytest.raises(ValueError, match="other"):
        symmetry.align(params, other, "tanh")
    with pytest.raises(ValueError, match="flips"):
        symmetry.align(params, params, "relu", flips=True)
    with pytest.raises(ValueError, match="width"):
        symmetry.all_elements(10, "tanh")
    with pytest.raises(ValueError, match="params"):
        symmetry.hidden_widths({"w": 1})


def test_symmetric_copies_count_as_one_minimum_modulo_symmetry():
    from analysis.chapter6 import weight_symmetry

    _, params, _ = net_and_params((2, 3, 1), "sigmoid", seed=7)
    elements = symmetry.all_elements(3, "sigmoid")                   # 48 copies
    copies = jax.vmap(lambda e: symmetry.apply(params, e, "sigmoid"))(elements)
    raw = np.asarray(jax.vmap(symmetry.flat)(copies))
    canon = np.asarray(jax.vmap(lambda p: symmetry.flat(symmetry.canonical(p, "sigmoid")[0]))(
        copies))
    assert weight_symmetry.cluster_count(raw, 1e-6)[0] == 48
    assert weight_symmetry.cluster_count(canon, 1e-6)[0] == 1
    # two genuinely different points stay two
    assert weight_symmetry.cluster_count(np.vstack([canon[:1], 2 * canon[:1]]), 0.05)[0] == 2


def test_barrier_of_a_straight_path():
    from analysis.chapter6 import weight_symmetry

    well = lambda p, _: (p["x"] ** 2 - 1) ** 2  # noqa: E731
    a, b = {"x": jnp.array(-1.0)}, {"x": jnp.array(1.0)}
    curve = weight_symmetry.barrier_curve(well, a, b, None, jnp.linspace(0, 1, 5))
    np.testing.assert_allclose(curve, [0, (0.25 - 1) ** 2, 1, (0.25 - 1) ** 2, 0], atol=1e-12)
    # Fig 6.11: (a) and its swap (b) are separated by a barrier of about 1/4 (at (c))
    assert weight_symmetry.fig_6_11_swap_path(3)[1] == pytest.approx(0.25 - 4.479e-5, abs=1e-6)
