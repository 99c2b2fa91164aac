import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ch6jax import data, train
from ch6jax.mlp import MLP

NET = MLP((2, 4, 1), activation="tanh", output="identity")


def regression_data(n=13, seed=0):
    x = jax.random.normal(jax.random.key(seed), (n, 2))
    return x, jnp.sin(x[:, :1]) + 0.5 * x[:, 1:]


def params0(seed=1):
    return NET.init(key=jax.random.key(seed), dtype=jnp.float64)


def python_gd(params, batch, lr, steps):
    grad = jax.jit(jax.grad(NET.loss))
    for _ in range(steps):
        params = jax.tree.map(lambda p, g: p - lr * g, params, grad(params, batch))
    return params


def test_gradient_descent_equals_a_python_loop(allclose):
    batch = regression_data()
    result = train.gradient_descent(NET.loss, params0(), batch, learning_rate=0.1, steps=25)
    allclose(result.params, python_gd(params0(), batch, 0.1, 25), rtol=1e-10, atol=1e-12)
    assert result.loss.shape == (25,)
    assert float(result.final_loss) < float(result.loss[0])


def test_make_step_compiles_once():
    opt = optax.adam(1e-2)
    step = train.make_step(NET.loss, opt)
    params, state = params0(), opt.init(params0())
    batch = regression_data()
    for _ in range(3):
        params, state, _ = step(params, state, batch)
    assert step._cache_size() == 1


def test_gradient_descent_with_an_optax_optimizer_equals_manual_optax(allclose):
    batch = regression_data()
    opt = optax.adam(0.05)
    result = train.gradient_descent(NET.loss, params0(), batch, optimizer=opt, steps=10)
    step = train.make_step(NET.loss, opt)
    params, state = params0(), opt.init(params0())
    for _ in range(10):
        params, state, _ = step(params, state, batch)
    allclose(result.params, params, rtol=1e-10, atol=1e-12)


def reference_sgd(params, train_set, val_set, key, lr, batch_size, epochs, patience):
    """Algorithm 6.1 in plain Python over jax.grad: the independent check."""
    grad = jax.jit(jax.grad(NET.loss))
    n = train_set[0].shape[0]
    best, best_val, wait, history = params, float(NET.loss(params, val_set)), 0, []
    for e in range(epochs):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, e), n))
        for start in range(0, n, batch_size):  # the last batch may be partial
            idx = order[start:start + batch_size]
            g = grad(params, (train_set[0][idx], train_set[1][idx]))
            params = jax.tree.map(lambda p, g: p - lr * g, params, g)
        val = float(NET.loss(params, val_set))
        history.append(val)
        if val < best_val:
            best, best_val, wait = params, val, 0
        else:
            wait += 1
        if patience is not None and wait >= patience:
            break
    return best, history


@pytest.mark.parametrize("batch_size", [1, 4, 5, 13])
def test_sgd_matches_algorithm_6_1(batch_size, allclose):
    train_set, val_set = regression_data(13, 0), regression_data(7, 9)
    key = jax.random.key(4)
    result = train.sgd(NET.loss, params0(), train_set, key=key, learning_rate=0.05,
                       batch_size=batch_size, epochs=6, validation=val_set)
    best, history = reference_sgd(params0(), train_set, val_set, key, 0.05, batch_size, 6, None)
    np.testing.assert_allclose(result.history.val_loss, history, rtol=1e-9)
    allclose(result.params, best, rtol=1e-9, atol=1e-12)
    assert int(result.epochs_run) == 6 and not bool(result.stopped_early)


def test_early_stopping_stops_and_restores_the_best_epoch(allclose):
    # a learning rate so large that the validation loss soon stops improving
    train_set, val_set = regression_data(13, 0), regression_data(7, 9)
    key = jax.random.key(2)
    result = train.sgd(NET.loss, params0(), train_set, key=key, learning_rate=0.9, batch_size=2,
                       epochs=60, validation=val_set, patience=3)
    best, history = reference_sgd(params0(), train_set, val_set, key, 0.9, 2, 60, 3)
    assert bool(result.stopped_early)
    assert int(result.epochs_run) == len(history) < 60
    run = int(result.epochs_run)
    np.testing.assert_allclose(result.history.val_loss[:run], history, rtol=1e-8)
    assert np.all(np.isnan(np.asarray(result.history.val_loss[run:])))
    assert int(result.best_epoch) == int(np.argmin(history)) + 1
    allclose(result.params, best, rtol=1e-8, atol=1e-12)


def test_restore_best_false_returns_the_last_parameters():
    train_set, val_set = regression_data(13, 0), regression_data(7, 9)
    kw = dict(key=jax.random.key(2), learning_rate=0.9, batch_size=2, epochs=30,
              validation=val_set, patience=3)
    best = train.sgd(NET.loss, params0(), train_set, **kw)
    last = train.sgd(NET.loss, params0(), train_set, restore_best=False, **kw)
    run = int(last.epochs_run)
    assert float(NET.loss(last.params, val_set)) == pytest.approx(
        float(last.history.val_loss[run - 1]))
    assert float(NET.loss(best.params, val_set)) <= float(NET.loss(last.params, val_set))


def test_same_key_same_run_and_vmap_over_seeds_matches_single_runs(allclose):
    train_set = regression_data(13, 0)

    def run(seed):
        key = jax.random.key(seed)
        p = NET.init(key=jax.random.fold_in(key, 0), dtype=jnp.float64)
        return train.sgd(NET.loss, p, train_set, key=jax.random.fold_in(key, 1),
                         learning_rate=0.05, batch_size=4, epochs=5)

    batched = jax.jit(jax.vmap(run))(jnp.arange(6))
    for s in range(6):
        allclose(jax.tree.map(lambda a: a[s], batched.params), run(s).params, rtol=1e-10,
                 atol=1e-12)
    allclose(run(3).params, run(3).params, rtol=0)


def test_seven_segment_network_learns_the_ten_digits():
    x, labels = data.seven_segment()
    net = MLP((7, 18, 10), activation="sigmoid", output="softmax")
    params = net.init(key=jax.random.key(0))
    result = train.gradient_descent(net.loss, params, (x, data.one_hot(labels)),
                                    learning_rate=0.5, steps=2000)
    assert float(net.accuracy(result.params, x, labels)) == 1.0
    assert float(result.final_loss) < 0.05


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), r"batch_size must be an integer in 1..13"),
    (dict(batch_size=14), r"batch_size must be an integer in 1..13"),
    (dict(learning_rate=0.0), "learning_rate must be a positive number"),
    (dict(learning_rate=-0.1), "learning_rate must be a positive number"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(patience=2), "patience needs validation data"),
    (dict(optimizer="adam"), "optimizer must be an optax.GradientTransformation"),
])
def test_sgd_bad_input(kwargs, match):
    kw = dict(key=jax.random.key(0), learning_rate=0.1, batch_size=4, epochs=3)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train.sgd(NET.loss, params0(), regression_data(), **kw)


def test_bad_data_is_rejected():
    x, t = regression_data()
    with pytest.raises(ValueError, match="must be finite"):
        train.gradient_descent(NET.loss, params0(), (x.at[0, 0].set(jnp.nan), t),
                               learning_rate=0.1, steps=3)
    with pytest.raises(ValueError, match="must not be empty"):
        train.gradient_descent(NET.loss, params0(), (x[:0], t[:0]), learning_rate=0.1, steps=3)
    with pytest.raises(ValueError, match="same number of samples"):
        train.sgd(NET.loss, params0(), (x, t[:5]), key=jax.random.key(0), learning_rate=0.1,
                  batch_size=2, epochs=2)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        train.gradient_descent(NET.loss, params0(), (x, t), learning_rate=0.1, steps=-1)
