import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis import hessian
from ch6jax.mlp import MLP


def mlp_case(sizes=(3, 5, 2), n=20, seed=0):
    net = MLP(sizes, activation="tanh", output="softmax")
    params = net.init(key=jax.random.key(seed), dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(seed + 1), (n, sizes[0]), jnp.float64)
    labels = jnp.arange(n) % sizes[-1]
    return net.loss, params, (x, labels)


def test_hessian_is_symmetric_named_and_matches_finite_differences():
    loss, params, batch = mlp_case()
    h, names = hessian.hessian(loss, params, batch)
    p = h.shape[0]
    assert h.shape == (p, p) and len(names) == p == 3 * 5 + 5 + 5 * 2 + 2
    assert names[0] == "layers/0/b[0]" and names[-1] == "layers/1/w[4,1]"  # ravel order
    np.testing.assert_array_equal(h, h.T)
    flat = hessian.flatten(params)
    grad = jax.jit(jax.grad(lambda v: loss(flat.unravel(v), batch)))
    eps = 1e-5
    fd = np.stack([(grad(flat.vector + eps * e) - grad(flat.vector - eps * e)) / (2 * eps)
                   for e in np.eye(p)])
    np.testing.assert_allclose(h, fd, atol=1e-7)


def test_hvp_equals_hessian_times_vector():
    loss, params, batch = mlp_case()
    h, _ = hessian.hessian(loss, params, batch)
    flat = hessian.flatten(params)
    v = jax.random.normal(jax.random.key(7), flat.vector.shape, jnp.float64)
    hv = jax.jit(hessian.make_hvp(loss))(params, batch, flat.unravel(v))
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(hv)[0], h @ np.asarray(v),
                               rtol=1e-10, atol=1e-12)


def test_lanczos_extremes_match_the_full_spectrum():
    loss, params, batch = mlp_case(sizes=(8, 16, 6), n=40)   # P = 246
    h, _ = hessian.hessian(loss, params, batch)
    exact = np.linalg.eigvalsh(h)
    pairs = hessian.lanczos(loss, params, batch, k=4, steps=120)
    scale = np.abs(exact).max()
    np.testing.assert_allclose(pairs.values[:4], exact[:4], rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(pairs.values[-4:], exact[-4:], rtol=1e-6)
    assert pairs.residuals[-1] < 1e-6 * scale  # the top pair has converged
    v = pairs.vectors[:, -1]
    np.testing.assert_allclose(h @ v, pairs.values[-1] * v, atol=1e-6 * scale)
    # the free residuals (Lanczos identity) are the true ones, |H v - lambda v|, to rounding;
    # at 30 steps they are large enough to compare
    few = hessian.lanczos(loss, params, batch, k=4, steps=30)
    true = np.linalg.norm(h @ few.vectors - few.vectors * few.values, axis=0)
    np.testing.assert_allclose(few.residuals, true, rtol=1e-6, atol=1e-12 * scale)
    explicit = hessian.lanczos(loss, params, batch, k=4, steps=30, explicit_residuals=True)
    np.testing.assert_allclose(explicit.residuals, true, rtol=1e-6, atol=1e-12 * scale)


def test_lanczos_survives_an_invariant_subspace():
    # a quadratic with 3 distinct curvatures: the Krylov space closes after 3 steps
    diag = jnp.array([2.0, 2.0, -1.0, -1.0, 0.5, 0.5])
    loss = lambda w, _: 0.5 * jnp.sum(diag * w ** 2)  # noqa: E731
    pairs = hessian.lanczos(loss, jnp.zeros(6), None, k=2, steps=6)
    np.testing.assert_allclose(pairs.values, [-1, -1, 2, 2], atol=1e-10)


def test_hutchinson_trace_agrees_with_the_exact_trace():
    loss, params, batch = mlp_case()
    h, _ = hessian.hessian(loss, params, batch)
    est = hessian.hutchinson_trace(loss, params, batch, samples=400, key=jax.random.key(1))
    assert est.stderr > 0
    assert abs(est.mean - np.trace(h)) < 4 * est.stderr


def test_bad_arguments():
    loss, params, batch = mlp_case()
    with pytest.raises(ValueError, match="k must be an integer in 1..32"):
        hessian.lanczos(loss, params, batch, k=0)
    with pytest.raises(ValueError, match="which must be"):
        hessian.lanczos(loss, params, batch, which="middle")
    with pytest.raises(ValueError, match="samples must be an integer >= 2"):
        hessian.hutchinson_trace(loss, params, batch, samples=1)


def test_fig_6_11_configurations_exact_values():
    from analysis.chapter6 import nonconvexity as nc

    with jax.enable_x64(True):
        a = {k: jnp.float64(v) for k, v in nc.CONFIG_A.items()}
        ra, rb = nc.analyse(a), nc.analyse(nc.swap_hidden_units(a))
        c = {k: (a[k] + nc.swap_hidden_units(a)[k]) / 2 for k in a}
        rc = nc.analyse(c)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    # loss (6.53) at (a): both residuals are s(-5)
    assert ra["loss"] == pytest.approx(s(-5.0) ** 2, rel=1e-12)
    assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-12)          # the swap is a symmetry
    assert rc["loss"] == pytest.approx(0.25, rel=1e-12)
    # (6.54): dL/dw1x = -2 s(-5) s'(5); and dL/dwy1 = s(-5) (s(-5) - s(5)), not zero
    sp5 = s(5.0) * s(-5.0)
    assert ra["gradient"]["w1x"] == pytest.approx(-2 * s(-5.0) * sp5, rel=1e-10)
    assert ra["gradient"]["wy1"] == pytest.approx(s(-5.0) * (s(-5.0) - s(5.0)), rel=1e-10)
    h = np.array(ra["hessian"]["matrix"])
    names = ra["hessian"]["names"]
    i, j = names.index("w1x"), names.index("wy1")
    # the mixed partial in full: s'(5)(s(5) - s(-5)) + sum_i delta_i s'(5 x_i) x_i
    exact = sp5 * (s(5.0) - s(-5.0)) + (s(-5.0) * sp5 * -1 + (s(5.0) - 1) * sp5 * 1)
    assert h[i, j] == pytest.approx(exact, rel=1e-10) and h[i, j] == h[j, i]
    assert h[j, j] == pytest.approx(s(5.0) ** 2 + s(-5.0) ** 2, rel=1e-12)          # (6.58)
    assert ra["verdict"] == rc["verdict"] == "not stationary"
    assert ra["index"] == 1 and rc["index"] == 2
    np.testing.assert_allclose(ra["eigenvalues"], rb["eigenvalues"], atol=1e-12)


def test_stationary_search_finds_and_labels_points_of_each_kind():
    from analysis import critical

    # f(x, y) = x^4/4 - x^2/2 + y^2/2: minima at x = +-1, a saddle at x = 0 (y = 0)
    loss = lambda p, _: p["x"] ** 4 / 4 - p["x"] ** 2 / 2 + p["y"] ** 2 / 2  # noqa: E731
    starts = {"x": jnp.array([-1.7, -0.2, 0.3, 1.4]), "y": jnp.array([0.5, -0.4, 0.2, 1.0])}
    found = critical.find_stationary(loss, starts, None, steps=60)
    labels = critical.label(found)
    xs = np.asarray(found.params["x"])
    for x, lab in zip(xs, labels):
        if abs(x) > 0.5:
            assert lab.verdict == "strict minimum" and abs(abs(x) - 1) < 1e-10
        else:
            assert lab.verdict == "saddle" and lab.index == 1 and abs(x) < 1e-10


def test_gradient_flat_points_are_not_called_critical():
    from analysis import critical

    search = critical.Search(params=None, loss=np.array([1.0]), gradient=np.ones((1, 2)),
                             hessian=np.zeros((1, 2, 2)), gradient_norm=np.array([1e-3]),
                             hg_ratio=np.array([1e-9]))
    assert critical.label(search) == ["gradient-flat"]


def test_classify_verdicts():
    from analysis import critical

    g0 = np.zeros(2)
    assert critical.classify_matrix(g0, np.diag([1.0, 2.0]), 0).verdict == "strict minimum"
    assert critical.classify_matrix(g0, np.diag([0.0, 2.0]), 0).verdict == "degenerate"
    assert critical.classify_matrix(g0, np.diag([-1.0, 2.0]), 0).verdict == "saddle"
    assert critical.classify_matrix(g0, np.diag([-1.0, -2.0]), 0).verdict == "maximum"
    assert critical.classify_matrix(np.ones(2), np.eye(2), 0).verdict == "not stationary"


def test_spectral_density_matches_the_exact_spectrum():
    loss, params, batch = mlp_case(sizes=(6, 10, 4), n=30)   # P = 114
    h, _ = hessian.hessian(loss, params, batch)
    exact = np.linalg.eigvalsh(h)
    sd = hessian.spectral_density(loss, params, batch, probes=20, steps=114,
                                  key=jax.random.key(3))
    # weights per probe sum to 1; the quadrature's first two moments estimate tr(H)/P, tr(H^2)/P
    np.testing.assert_allclose(sd.weights.sum(axis=1), 1.0, rtol=1e-10)
    m1 = (sd.weights * sd.nodes).sum(axis=1)
    m2 = (sd.weights * sd.nodes ** 2).sum(axis=1)
    se = lambda m: m.std(ddof=1) / np.sqrt(len(m))  # noqa: E731
    assert abs(m1.mean() - exact.mean()) < 4 * se(m1) + 1e-12
    assert abs(m2.mean() - (exact ** 2).mean()) < 4 * se(m2) + 1e-12
    # with a full Krylov space the Ritz values are the eigenvalues themselves
    np.testing.assert_allclose(np.sort(sd.nodes[0]), exact, atol=1e-8 * np.abs(exact).max())
    assert np.trapezoid(sd.density, sd.grid) == pytest.approx(1.0, abs=1e-3)


def test_lanczos_extremes_at_p_near_2000():  # about 7 s: cheap enough for every run
    loss, params, batch = mlp_case(sizes=(30, 50, 10), n=200)   # P = 2,060
    h, _ = hessian.hessian(loss, params, batch)
    exact = np.linalg.eigvalsh(h)
    pairs = hessian.lanczos(loss, params, batch, k=5, steps=300)
    scale = np.abs(exact).max()
    np.testing.assert_allclose(pairs.values[-5:], exact[-5:], rtol=1e-6)
    np.testing.assert_allclose(pairs.values[:5], exact[:5], rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("batch_size", [1, 6])
def test_batched_data_gives_the_one_pass_values(batch_size):
    # 20 examples in chunks of 6 leaves a last chunk of 2: weighted by its share, exactly
    loss, params, batch = mlp_case()
    h, _ = hessian.hessian(loss, params, batch)
    g, _ = hessian.gradient(loss, params, batch)
    hb, _ = hessian.hessian(loss, params, batch, batch_size=batch_size)
    gb, _ = hessian.gradient(loss, params, batch, batch_size=batch_size)
    np.testing.assert_allclose(hb, h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gb, g, rtol=1e-12, atol=1e-15)
    assert hessian.value(loss, params, batch, batch_size=batch_size) == pytest.approx(
        float(loss(params, batch)), rel=1e-13)
    pairs = hessian.lanczos(loss, params, batch, k=2, steps=32, batch_size=batch_size)
    eig = np.linalg.eigvalsh(h)
    np.testing.assert_allclose(pairs.values, np.r_[eig[:2], eig[-2:]], rtol=1e-8, atol=1e-10)


def test_batched_sum_reduction_and_bad_batching():
    x = jnp.linspace(-1, 1, 9)
    batch = (x, x ** 2)
    loss = lambda w, b: 0.5 * jnp.sum((w[0] * b[0] + w[1] * b[0] ** 3 - b[1]) ** 2)  # noqa: E731
    w = jnp.array([0.3, -0.2])
    h, _ = hessian.hessian(loss, w, batch)
    hb, _ = hessian.hessian(loss, w, batch, batch_size=4, reduction="sum")
    np.testing.assert_allclose(hb, h, rtol=1e-13)
    with pytest.raises(ValueError, match="batch_size"):
        hessian.hessian(loss, w, batch, batch_size=0)
    with pytest.raises(ValueError, match="reduction"):
        hessian.gradient(loss, w, batch, batch_size=2, reduction="median")
    with pytest.raises(ValueError, match="leading"):
        hessian.lanczos(loss, w, (x, x[:5]), k=1, steps=2, batch_size=2)
