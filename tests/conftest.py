"""Test configuration: float64 everywhere (derivative checks need it) and a pytree allclose."""

import os
import pathlib
import subprocess
import sys

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


@pytest.fixture
def on_two_devices(tmp_path):
    """Run ``script`` in a fresh Python with two host devices (the device count is fixed at
    start-up); the script saves its arrays to ``sys.argv[1]`` with ``np.savez``, returned."""
    def run(script: str):
        out = tmp_path / "two_devices.npz"
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True,
                       cwd=pathlib.Path(__file__).parents[1])
        return np.load(out)
    return run
