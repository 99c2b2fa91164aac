"""Test configuration: float64 everywhere (derivative checks need it) and a pytree allclose."""

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)


def tree_allclose(a, b, *, rtol=1e-7, atol=0.0):
    """Assert two pytrees have the same structure and allclose leaves."""
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb, f"tree structures differ: {ta} vs {tb}"
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.fixture
def allclose():
    return tree_allclose
