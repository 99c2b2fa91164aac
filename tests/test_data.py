import jax.numpy as jnp
import numpy as np
import pytest

from ch6jax import data


def test_table_6_1():
    x, t = data.table_6_1()
    assert x.shape == (10, 2) and t.shape == (10,)
    np.testing.assert_allclose(x[1], [9.4, 6.4])
    np.testing.assert_array_equal(t, [1, -1, 1, -1, 1, -1, -1, 1, 1, -1])


def test_logic_tables():
    x, t = data.logic("XOR")
    np.testing.assert_array_equal(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(t, [0, 1, 1, 0])
    np.testing.assert_array_equal(data.to_pm1(t), [-1, 1, 1, -1])
    with pytest.raises(ValueError, match="name must be one of"):
        data.logic("NAND")


def test_seven_segment_digits_are_the_standard_glyphs():
    x, labels = data.seven_segment()
    assert x.shape == (10, 7)
    np.testing.assert_array_equal(labels, np.arange(10))
    assert data.vector_to_segments(x[8]) == "abcdefg"
    assert data.vector_to_segments(x[1]) == "bc"
    assert data.vector_to_segments(x[7]) == "abc"
    # every digit is a distinct glyph, and the segment counts are the familiar ones
    assert len({tuple(v) for v in np.asarray(x)}) == 10
    np.testing.assert_array_equal(np.asarray(x).sum(1), [6, 2, 5, 5, 4, 5, 6, 3, 7, 6])


def test_irregular_glyphs_are_new_and_labelled():
    x, _ = data.seven_segment()
    xi, li, why = data.seven_segment_irregular()
    assert len(li) >= 10 and len(why) == len(li)
    standard = {tuple(v) for v in np.asarray(x)}
    assert not any(tuple(v) in standard for v in np.asarray(xi))   # never seen in training
    assert len({tuple(v) for v in np.asarray(xi)}) == len(li)      # no duplicates
    assert set(np.asarray(li).tolist()) <= set(range(10))


def test_segment_names_are_checked():
    with pytest.raises(ValueError, match="segments must be letters from"):
        data.segments_to_vector("abz")


@pytest.mark.parametrize("name", ["x2", "abs", "tanh", "step"])
def test_approximation_grids(name):
    d = data.approximation(name)
    assert d.x_train.shape == (30, 1) and d.x_test.shape == (50, 1)
    np.testing.assert_allclose(d.x_train[[0, -1], 0], [-1, 1])
    np.testing.assert_allclose(np.diff(np.asarray(d.x_test[:, 0])), 2 / 49, rtol=1e-5)
    f = {"x2": np.square, "abs": np.abs, "tanh": np.tanh,
         "step": lambda v: (v >= 0).astype(float)}[name]
    np.testing.assert_allclose(d.t_test, f(np.asarray(d.x_test)), rtol=1e-6)


def test_heaviside_at_zero_is_one():
    assert float(data.TARGETS["step"](jnp.array(0.0))) == 1.0


def test_two_sample_set():
    x, t = data.two_sample()
    np.testing.assert_array_equal(x[:, 0], [-1, 1])
    np.testing.assert_array_equal(t[:, 0], [0, 1])


def test_digits_are_scikit_learns():
    x, labels = data.digits()
    assert x.shape == (1797, 64) and labels.shape == (1797,)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert np.bincount(np.asarray(labels)).tolist() == [178, 182, 177, 183, 181, 182, 181, 179,
                                                        174, 180]
    sklearn = pytest.importorskip("sklearn.datasets")
    ref = sklearn.load_digits()
    np.testing.assert_array_equal(np.asarray(x) * 16, ref.data)
    np.testing.assert_array_equal(labels, ref.target)
