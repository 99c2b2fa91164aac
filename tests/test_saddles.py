import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis import studies
from analysis.chapter6 import saddles


def test_the_two_sample_point_at_loss_quarter_is_a_saddle():
    s = saddles.classify_saddle()
    assert s["loss"] == pytest.approx(0.25, abs=1e-15)
    assert s["gradient_norm"] < 1e-15
    assert (s["verdict"], s["index"], s["nullity"]) == ("saddle", 2, 2)


def test_escape_study_gd_stays_at_the_exact_saddle_and_noise_leaves():
    fn = jax.jit(jax.vmap(lambda k: studies.saddle_escape(k, steps=150, start_noise=0.0)))
    out = fn(jax.random.split(jax.random.key(0), 4))
    np.testing.assert_array_equal(out["escape_gd"], 151)           # never escaped
    np.testing.assert_allclose(out["final_loss_gd"], 0.25, atol=1e-7)
    np.testing.assert_array_equal(out["grad_norm_gd"], 0.0)         # the gradient is exactly 0
    for m in ("sgd", "gd_noise"):
        assert np.all(out[f"escape_{m}"] <= 150)
        assert np.all(out[f"final_loss_{m}"] < 0.2)
    assert out["grad_norm_sgd"].shape == (4, 15)                   # every 10th step


def test_escape_step_is_where_the_loss_first_drops():
    out = studies.saddle_escape(jax.random.key(3), steps=120, start_noise=1e-3)
    step = int(out["escape_gd"])
    assert 1 <= step <= 120
    # rerun GD by hand for `step` steps: the loss is below 0.2 then, and not one step before
    x, t = studies.data.two_sample()
    flat, unravel = jax.flatten_util.ravel_pytree(studies.two_sample_saddle())
    k_start, _ = jax.random.split(jax.random.key(3))
    p = unravel(flat + 1e-3 * jax.random.normal(k_start, flat.shape, flat.dtype))
    loss = studies.TWO_SAMPLE_NET.loss

    @jax.jit
    def gd_step(p):
        p = jax.tree.map(lambda a, b: a - 0.5 * b, p, jax.grad(loss)(p, (x, t)))
        return p, loss(p, (x, t))

    losses = []
    for _ in range(step):
        p, value = gd_step(p)
        losses.append(float(value))
    assert losses[-1] < 0.2 and min(losses[:-1]) >= 0.2


def test_cliff_gradient_explodes_and_clipping_bounds_the_step():
    settings = dataclasses.replace(saddles.Settings(), cliff_steps=150)
    numbers, _ = saddles.cliff_numbers(settings)
    plain, clipped = numbers["plain"], numbers["clipped"]
    assert plain["max_gradient_norm"] > 20 * plain["median_gradient_norm_before"]
    assert plain["largest_step"] > 10 * settings.cliff_lr * settings.clip
    assert clipped["largest_step"] <= settings.cliff_lr * settings.clip * (1 + 1e-12)
    with jax.enable_x64(True):   # the recurrence's gradient, checked by central differences
        p, eps = jnp.array([5.0, -2.5]), 1e-6
        g = jax.grad(saddles.cliff_loss)(p, 50)
        fd = [(saddles.cliff_loss(p + eps * e, 50) - saddles.cliff_loss(p - eps * e, 50))
              / (2 * eps) for e in jnp.eye(2)]
        np.testing.assert_allclose(g, fd, rtol=1e-6)
