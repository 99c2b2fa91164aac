import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis import landscape
from ch6jax.mlp import MLP


def quadratic(p, _):
    return 0.5 * (p["x"] ** 2 + 4 * p["y"] ** 2)


def test_path_on_a_quadratic_and_its_barrier():
    a, b = {"x": jnp.array(-1.0), "y": jnp.array(0.0)}, {"x": jnp.array(1.0), "y": jnp.array(0.0)}
    r = landscape.path(quadratic, a, b, None, points=21)
    np.testing.assert_allclose(r.loss, 0.5 * (2 * r.t - 1) ** 2, atol=1e-12)
    assert r.barrier == pytest.approx(0.0)          # the middle is lower than the ends
    # a double well has a barrier of height 1/4 between its minima
    well = lambda p, _: (p["x"] ** 2 - 1) ** 2 / 4 + 0 * p["y"]  # noqa: E731
    assert landscape.path(well, a, b, None, points=101).barrier == pytest.approx(0.25)


def test_slice_values_and_chunking():
    p = {"x": jnp.array(0.5), "y": jnp.array(-0.25)}
    d1, d2 = {"x": jnp.array(1.0), "y": jnp.array(0.0)}, {"x": jnp.array(0.0), "y": jnp.array(1.0)}
    s = landscape.slice_2d(quadratic, p, None, d1, d2, span=1.0, grid=11, chunk=7)
    aa, bb = np.meshgrid(s.alpha, s.beta)
    np.testing.assert_allclose(s.loss, 0.5 * ((0.5 + aa) ** 2 + 4 * (-0.25 + bb) ** 2),
                               atol=1e-12)


def test_filter_normalised_orthogonal_directions():
    net = MLP((4, 6, 3), output="softmax")
    params = net.init(key=jax.random.key(0), dtype=jnp.float64)
    d1, d2 = landscape.random_directions(jax.random.key(1), params)
    for layer_p, layer_d in zip(params["layers"], d1["layers"]):
        np.testing.assert_allclose(np.linalg.norm(layer_d["w"], axis=0),
                                   np.linalg.norm(layer_p["w"], axis=0), rtol=1e-6)
        np.testing.assert_array_equal(layer_d["b"], 0.0)          # the stated bias rule
    v1, _ = jax.flatten_util.ravel_pytree(d1)
    v2, _ = jax.flatten_util.ravel_pytree(d2)
    assert abs(float(v1 @ v2)) < 1e-10 * float(v1 @ v1)


def test_projection_recovers_plane_coordinates():
    params = {"w": jnp.zeros((2, 2))}
    d1, d2 = {"w": jnp.eye(2)}, {"w": jnp.array([[0.0, 1.0], [1.0, 0.0]])}
    coords = np.array([[0.5, -1.0], [2.0, 3.0]])
    traj = {"w": jnp.stack([a * d1["w"] + b * d2["w"] for a, b in coords])}
    np.testing.assert_allclose(landscape.project(traj, params, d1, d2), coords, atol=1e-12)


@pytest.mark.parametrize("model, targets, chunk", [
    (MLP((5, 7, 6, 3), activation="tanh", output="softmax"), "labels", 5),
    (MLP((5, 7, 6, 3), activation="sigmoid", output="softmax"), "labels", None),
    (MLP((5, 6, 3), activation="sigmoid", output="softmax", reduction="sum"), "one-hot", 5),
    (MLP((5, 6, 3), activation="sigmoid", output="softmax"), "integer one-hot", 3),
    (MLP((5, 4, 2), activation="sigmoid", output="identity", skip=True, reduction="sum"),
     "values", 5),
    (MLP((3, 2), output="sigmoid"), "values", None),
])
def test_fast_mlp_slice_equals_the_generic_slice(model, targets, chunk):
    params = model.init(key=jax.random.key(0), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (37, model.sizes[0]), jnp.float64)
    if targets == "labels":
        t = jnp.arange(37) % model.sizes[-1]
    elif targets.endswith("one-hot"):
        t = jax.nn.one_hot(jnp.arange(37) % model.sizes[-1], model.sizes[-1],
                           dtype=jnp.int32 if targets.startswith("integer") else jnp.float64)
    else:
        t = jax.random.uniform(jax.random.key(2), (37, model.sizes[-1]), jnp.float64)
    # directions with biases, which filter-normalised ones lack
    d1, d2 = landscape.random_directions(jax.random.key(3), params, filter_normalized=False)
    generic = landscape.slice_2d(model.loss, params, (x, t), d1, d2, span=2.0, grid=9)
    # rows of 9 points in chunks of 5 leave a padded last block; a chunk of 3 fits K = 3
    fast = landscape.mlp_slice_2d(model, params, (x, t), d1, d2, span=2.0, grid=9, chunk=chunk)
    np.testing.assert_allclose(fast.loss, generic.loss, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(fast.alpha, generic.alpha)
    assert fast.loss[4, 4] == pytest.approx(float(model.loss(params, (x, t))), rel=1e-12)


def test_fast_slice_in_tiles_of_several_rows(monkeypatch):
    model = MLP((5, 7, 6, 3), activation="sigmoid", output="softmax")
    params = model.init(key=jax.random.key(0), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (37, 5), jnp.float64)
    batch = (x, jnp.arange(37) % 3)
    d1, d2 = landscape.random_directions(jax.random.key(3), params)
    generic = landscape.slice_2d(model.loss, params, batch, d1, d2, grid=9)
    # a point holds 37 x 7 activations and 7 x 6 mixed weights: room for two rows of 9,
    # so 5 tiles of 2 rows, the last one padded
    monkeypatch.setattr(landscape, "TILE_NUMBERS", 2 * 9 * (37 * 7 + 7 * 6))
    fast = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=9)
    np.testing.assert_allclose(fast.loss, generic.loss, rtol=1e-12)


def test_fast_slice_in_float32_agrees_to_rounding():
    model = MLP((8, 16, 4), output="softmax")
    params = model.init(key=jax.random.key(0), dtype=jnp.float32)
    x = jax.random.normal(jax.random.key(1), (50, 8), jnp.float32)
    batch = (x, jnp.arange(50) % 4)
    d1, d2 = landscape.random_directions(jax.random.key(3), params)
    generic = landscape.slice_2d(model.loss, params, batch, d1, d2, grid=7)
    fast = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=7)
    assert fast.loss.dtype == np.float32
    np.testing.assert_allclose(fast.loss, generic.loss, rtol=2e-6)


def test_factorised_sigmoid_falls_back_where_the_exponentials_overflow():
    # first-layer pre-activations near -110 at the centre and +110 b q along beta: in
    # float32 exp(110) is inf and exp(-110) is 0, so the factorised exp(-A) exp(-b q) would
    # be inf * 0 = NaN; those rows must be computed directly.
    model = MLP((1, 2, 2), output="softmax")
    params = {"layers": [{"w": jnp.array([[-110.0, 1.0]], jnp.float32),
                          "b": jnp.zeros(2, jnp.float32)},
                         {"w": jnp.array([[1.0, -1.0], [0.5, 0.25]], jnp.float32),
                          "b": jnp.zeros(2, jnp.float32)}]}
    zero = jax.tree.map(jnp.zeros_like, params)
    d2 = {"layers": [{"w": jnp.array([[110.0, 0.0]], jnp.float32),
                      "b": jnp.zeros(2, jnp.float32)}, zero["layers"][1]]}
    d1 = {"layers": [{"w": jnp.array([[0.0, 1.0]], jnp.float32),
                      "b": jnp.zeros(2, jnp.float32)}, zero["layers"][1]]}
    batch = (jnp.ones((3, 1), jnp.float32), jnp.array([0, 1, 1]))
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(np.float32(np.exp(np.float32(110))) * np.exp(np.float32(-110)))
    generic = landscape.slice_2d(model.loss, params, batch, d1, d2, span=2.0, grid=5)
    fast = landscape.mlp_slice_2d(model, params, batch, d1, d2, span=2.0, grid=5)
    assert np.isfinite(fast.loss).all()
    np.testing.assert_allclose(fast.loss, generic.loss, rtol=1e-6)


TWO_DEVICES = """
import sys
import jax, jax.numpy as jnp, numpy as np
from analysis import landscape
from ch6jax.mlp import MLP

jax.config.update("jax_enable_x64", True)
assert len(jax.local_devices()) == 2
model = MLP((5, 6, 3), output="softmax")
params = model.init(key=jax.random.key(0), dtype=jnp.float64)
batch = (jax.random.normal(jax.random.key(1), (20, 5), jnp.float64), jnp.arange(20) % 3)
d1, d2 = landscape.random_directions(jax.random.key(3), params)
two = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=9, chunk=4)
one = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=9, chunk=4,
                             devices=jax.local_devices()[:1])
tiles = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=9)  # 5 rows a tile
tiles_one = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=9,  # 9 rows a tile
                                   devices=jax.local_devices()[:1])
generic = landscape.slice_2d(model.loss, params, batch, d1, d2, grid=9)
np.savez(sys.argv[1], two=two.loss, one=one.loss, tiles=tiles.loss, tiles_one=tiles_one.loss,
         generic=generic.loss)
"""


def test_fast_slice_on_two_devices_equals_one(on_two_devices):
    # 9 rows dealt over two devices: the last device's rows are padded
    r = on_two_devices(TWO_DEVICES)
    np.testing.assert_array_equal(r["two"], r["one"])
    np.testing.assert_allclose(r["two"], r["generic"], rtol=1e-12)
    np.testing.assert_allclose(r["tiles"], r["generic"], rtol=1e-12)
    np.testing.assert_array_equal(r["tiles"], r["tiles_one"])


def test_cross_entropy_beyond_the_label_shift_takes_the_maximum():
    # samples whose loss is far above 88 nats: exp(z_k - z_label) overflows float32, so the
    # label-shifted form gives inf and those tiles must take the maximum-shifted form
    model = MLP((2, 3, 3), output="softmax")
    params = model.init(key=jax.random.key(0), dtype=jnp.float32)
    params["layers"][1]["w"] = params["layers"][1]["w"] * 300.0
    x = jax.random.normal(jax.random.key(1), (40, 2), jnp.float32)
    batch = (x, jnp.arange(40) % 3)
    d1, d2 = landscape.random_directions(jax.random.key(3), params)
    generic = landscape.slice_2d(model.loss, params, batch, d1, d2, grid=5)
    z = model.logits(params, x)
    assert float(jnp.max(z - jnp.take_along_axis(z, batch[1][:, None], 1))) > 100
    fast = landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=5)
    assert np.isfinite(fast.loss).all()
    np.testing.assert_allclose(fast.loss, generic.loss, rtol=1e-6)


def test_slice_input_errors_name_the_argument():
    model = MLP((3, 2, 2), output="softmax")
    params = model.init(key=jax.random.key(0))
    batch = (jnp.zeros((4, 3)), jnp.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="grid"):
        landscape.mlp_slice_2d(model, params, batch, params, params, grid=1)
    with pytest.raises(ValueError, match="d2"):
        landscape.slice_2d(model.loss, params, batch, params, {"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match="span"):
        landscape.mlp_slice_2d(model, params, batch, params, params, span=float("nan"))
    with pytest.raises(ValueError, match="batch x"):
        landscape.mlp_slice_2d(model, params, (jnp.zeros((4, 5)), batch[1]), params, params)


def test_hessian_directions_are_the_extreme_eigenvectors():
    h = np.diag([3.0, -2.0, 0.5, 1.0])
    loss = lambda p, _: 0.5 * p @ jnp.asarray(h) @ p  # noqa: E731
    (d1, d2), values = landscape.hessian_directions(loss, jnp.zeros(4), None, pick="top")
    np.testing.assert_allclose(values, [3.0, 1.0], rtol=1e-10)
    np.testing.assert_allclose(np.abs(d1), [1, 0, 0, 0], atol=1e-8)
    (d1, d2), values = landscape.hessian_directions(loss, jnp.zeros(4), None, pick="extremes")
    np.testing.assert_allclose(values, [3.0, -2.0], rtol=1e-10)
    np.testing.assert_allclose(np.abs(d2), [0, 1, 0, 0], atol=1e-8)


def test_trajectory_plane_holds_a_planar_path():
    end = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}
    u = {"w": jnp.ones((3, 2)) / jnp.sqrt(8.0), "b": jnp.ones(2) / jnp.sqrt(8.0)}
    v = {"w": jnp.array([[1.0, -1], [0, 0], [0, 0]]) / 2, "b": jnp.array([1.0, -1]) / 2}
    ts = jnp.linspace(1, 0, 12)
    path = jax.tree.map(lambda a, b: 3 * ts.reshape(-1, *[1] * a.ndim) * a
                        + jnp.sin(4 * ts).reshape(-1, *[1] * b.ndim) * b, u, v)
    (d1, d2), explained = landscape.trajectory_directions(path, end)
    assert explained.sum() == pytest.approx(1.0, abs=1e-6)       # the path lies in a plane
    coords = landscape.project(path, end, d1, d2)
    rebuilt = jax.tree.map(lambda a, b: coords[:, 0].reshape(-1, *[1] * a.ndim) * a
                           + coords[:, 1].reshape(-1, *[1] * b.ndim) * b, d1, d2)
    for x, y in zip(jax.tree.leaves(rebuilt), jax.tree.leaves(path)):
        np.testing.assert_allclose(x, y, atol=1e-5)
    with pytest.raises(ValueError, match="trajectory"):
        landscape.trajectory_directions(jax.tree.map(lambda a: a[:1], path), end)
