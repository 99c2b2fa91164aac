"""Seed study benchmark: many small networks trained at once, against expert-written peers.

Workload
--------
The chapter's seven-segment classifier: a 7-18-10 MLP (sigmoid hidden layer, softmax output),
trained on the ten standard digits (one-hot targets) by full-batch gradient descent on the mean
softmax cross-entropy over the 10 samples, learning rate 0.5, 2000 steps. A *seed study* trains
S = 1000 such networks from independent Glorot-normal initialisations (std
sqrt(2 / (fan_in + fan_out)), zero biases) and looks at the spread of their final losses.

The unit of work is the **net-step**: one gradient step of one network. Every measurement is
reported as net-steps per second, so runs over different numbers of seeds compare directly.

Ours
----
The library's public API only, in three settings, the fastest reported (all recorded):
``vmap_1_device``: ``mlp.MLP.init`` + ``train.gradient_descent`` for one key, ``jax.vmap`` over
S keys, ``jax.jit`` around the lot; ``ensemble_1_device``: ``ch6jax.ensemble`` (all members in
lockstep, member axis last, the chapter's backprop); ``ensemble_K_devices``: the same with the
members sharded over the K host devices that ``--xla_force_host_platform_device_count`` (set
to the core count by this script) exposes. Each is ONE compiled call, initialisation included.
Compile time is reported separately as (first call) - (best warm call); the throughput uses
the best warm call.

Peers (all float32, all on the same data, same steps and learning rate)
-----------------------------------------------------------------------
* ``torch_bmm``: PyTorch batched over seeds, parameters stacked as ``(S, fan_in, fan_out)``, the
  layers as ``torch.baddbmm``. Three expert variants are timed and the fastest is kept (all are
  recorded): ``manual`` (hand-written backprop under ``torch.no_grad``, fused in-place
  ``baddbmm_`` updates), ``manual_shared_x`` (the same, but because every seed sees the same
  inputs the first layer of all seeds is one ``addmm`` over ``(7, S*18)`` weights -- the trick
  XLA's batching rule applies to our side automatically), and ``autograd`` (``torch.autograd.grad``
  of the sum over seeds of each seed's mean loss, then an in-place ``_foreach`` update).
* ``torch_loop``: PyTorch one seed at a time, plain ``addmm`` code with hand-written backprop and
  in-place updates under ``torch.no_grad`` (faster than autograd at this size); run on a subset
  of seeds.
* ``sklearn_loop``: ``sklearn.neural_network.MLPClassifier`` one seed at a time, configured to do
  exactly this training (logistic hidden layer, softmax/log-loss output, ``solver="sgd"`` with
  constant learning rate 0.5, no momentum, ``batch_size=10`` = full batch, ``alpha=0``,
  ``shuffle=False``, ``max_iter=2000`` epochs = 2000 steps, ``tol=0`` and ``n_iter_no_change``
  above ``max_iter`` so no early stop). scikit-learn's own initialiser draws from a *uniform*
  distribution, so each model is first primed with a 1-epoch fit (untimed) to create its
  attributes, its weights are replaced by Glorot-normal draws, and the timed call is the
  2000-epoch ``fit`` with ``warm_start=True``. Run on a subset of seeds.

Fairness rules
--------------
* Every peer runs warm: a short warm-up run with the same shapes precedes its timing.
* Every peer runs at its best thread setting: each is timed with 1 and 2 threads
  (``torch.set_num_threads``; for scikit-learn, BLAS threads via ``threadpoolctl``) and the
  faster is kept; the JSON records all settings tried and the one kept. JAX/XLA runs with its
  default CPU thread pool.
* Peers' initialisation is outside their timed region (tiny either way); ours includes it.
* float32 everywhere.
* Each measurement is the best of ``--repeats`` runs (the machine is shared and noisy).

Checks (printed, and stored in the JSON)
----------------------------------------
* Same initial parameters: ours and the torch peers (and scikit-learn, for one seed) started
  from OUR initial parameters must reach the same final loss to ~1e-4.
* Same distribution: the mean final loss over ours' S seeds and torch_bmm's S seeds (different
  random draws from the same distribution) should agree within sampling error.

Usage::

    python benchmarks/seed_study.py                 # S = 1000, 2000 steps
    python benchmarks/seed_study.py --quick         # smoke test: S = 100, 200 steps
    python benchmarks/seed_study.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings

import numpy as np

# JAX on a CPU runs one device unless told otherwise; expose one device per core so that the
# ensemble variant can spread its members over the cores (set before JAX is imported).
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={os.cpu_count()}").strip()

SIZES = (7, 18, 10)
LEARNING_RATE = 0.5
DEFAULT_SEEDS = 1000
DEFAULT_STEPS = 2000
THREAD_CHOICES = (1, 2)
SAME_INIT_TOL = 1e-4


# ---------------------------------------------------------------------------------------------
# Helpers

def best_of(fn, repeats: int):
    """Run ``fn()`` ``repeats`` times; return (best seconds, all seconds, last result)."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def glorot_std(fan_in: int, fan_out: int) -> float:
    return math.sqrt(2.0 / (fan_in + fan_out))


def dataset():
    """The seven-segment digits from the library, as float32 numpy: x (10, 7), t (10, 10), labels."""
    from ch6jax import data
    x, labels = data.seven_segment()
    t = data.one_hot(labels)
    return (np.asarray(x, np.float32), np.asarray(t, np.float32),
            np.asarray(labels, np.int64))


def mean_ce_numpy(w1, b1, w2, b2, x, t):
    """Per-seed mean softmax cross-entropy; weights stacked over seeds (S, ...), float64 math."""
    w1, b1, w2, b2 = (np.asarray(a, np.float64) for a in (w1, b1, w2, b2))
    h = 1.0 / (1.0 + np.exp(-(np.einsum("nd,sdm->snm", x, w1) + b1[:, None, :])))
    a = np.einsum("snm,smk->snk", h, w2) + b2[:, None, :]
    a = a - a.max(-1, keepdims=True)
    log_y = a - np.log(np.exp(a).sum(-1, keepdims=True))
    return -(t * log_y).sum(-1).mean(-1)


def glorot_stack(rng: np.random.Generator, seeds: int):
    """Glorot-normal weights and zero biases for ``seeds`` networks, float32, stacked (S, ...)."""
    (d, m, k) = SIZES
    w1 = (rng.standard_normal((seeds, d, m)) * glorot_std(d, m)).astype(np.float32)
    w2 = (rng.standard_normal((seeds, m, k)) * glorot_std(m, k)).astype(np.float32)
    return w1, np.zeros((seeds, m), np.float32), w2, np.zeros((seeds, k), np.float32)


# ---------------------------------------------------------------------------------------------
# Ours: the library's public API, one compiled call

def ours_study(seeds: int, steps: int):
    """The jitted generic study ``keys (S,) -> final losses (S,)`` and the ``(x, t)`` batch:
    ``jax.vmap`` over ``train.gradient_descent``, what a notebook user writes first."""
    import jax

    from ch6jax import data, mlp, train

    x, labels = data.seven_segment()
    t = data.one_hot(labels)
    net = mlp.MLP(SIZES, activation="sigmoid", output="softmax")

    def one_seed(key):
        params = net.init(key=key)
        return train.gradient_descent(net.loss, params, (x, t), learning_rate=LEARNING_RATE,
                                      steps=steps).final_loss

    return net, (x, t), jax.jit(jax.vmap(one_seed))


def ours_ensemble(seeds: int, steps: int, devices):
    """The study on ``ch6jax.ensemble`` (member axis last), members sharded over ``devices``."""
    from ch6jax import data, ensemble, mlp

    x, labels = data.seven_segment()
    t = data.one_hot(labels)
    net = mlp.MLP(SIZES, activation="sigmoid", output="softmax")

    def run(keys):
        params = ensemble.shard(ensemble.init(net, keys), devices)
        # like the peers, no per-step loss history: only the final losses are kept
        return ensemble.gradient_descent(net, params, (x, t), learning_rate=LEARNING_RATE,
                                         steps=steps, record_loss=False).final_loss

    return run


def _time_ours(run, keys, repeats: int) -> dict:
    t0 = time.perf_counter()
    run(keys).block_until_ready()
    first = time.perf_counter() - t0
    best, times, losses = best_of(lambda: run(keys).block_until_ready(), repeats)
    losses = np.asarray(losses, np.float64)
    n = len(losses)
    return {"seconds": best, "seconds_all": times, "net_steps_per_s": None,
            "first_call_s": first, "compile_s": first - best,
            "mean_final_loss": float(losses.mean()),
            "sem_final_loss": float(losses.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0}


def run_ours(seeds: int, steps: int, repeats: int) -> dict:
    """Ours in three settings; the fastest is reported as ours, all are recorded:
    ``vmap`` (generic, one device), ``ensemble`` on one device, and ``ensemble`` with the
    members sharded over every device (on a CPU, one per core: JAX's way of using the cores,
    as a torch peer uses its threads)."""
    import jax

    keys = jax.random.split(jax.random.key(0), seeds)
    variants = {"vmap_1_device": ours_study(seeds, steps)[2],
                "ensemble_1_device": ours_ensemble(seeds, steps, jax.devices()[:1])}
    if len(jax.devices()) > 1 and seeds % len(jax.devices()) == 0:
        variants[f"ensemble_{len(jax.devices())}_devices"] = ours_ensemble(
            seeds, steps, jax.devices())
    tried = {}
    for name, run in variants.items():
        tried[name] = _time_ours(run, keys, repeats)
        tried[name]["net_steps_per_s"] = seeds * steps / tried[name]["seconds"]
        print(f"    ours/{name:<20} {tried[name]['net_steps_per_s']:>12,.0f} net-steps/s",
              flush=True)
    variant = max(tried, key=lambda k: tried[k]["net_steps_per_s"])
    return dict(tried[variant], seeds=seeds, steps=steps, variant=variant, tried=tried,
                jax_version=jax.__version__, backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()],
                xla_flags=os.environ.get("XLA_FLAGS", ""), init_in_timed_region=True)


def ours_from_params(params_np, steps: int):
    """Ours trained from given stacked initial params (numpy, (S, ...)) -> final losses (S,)."""
    import jax
    import jax.numpy as jnp

    from ch6jax import train

    net, batch, _ = ours_study(0, steps)
    w1, b1, w2, b2 = (jnp.asarray(a) for a in params_np)
    params = {"layers": [{"w": w1, "b": b1}, {"w": w2, "b": b2}]}
    fn = jax.jit(jax.vmap(lambda p: train.gradient_descent(
        net.loss, p, batch, learning_rate=LEARNING_RATE, steps=steps).final_loss))
    return np.asarray(fn(params), np.float64)


def ours_initial_params(n: int):
    """Our own initial parameters for the first ``n`` keys of the study, as stacked numpy."""
    import jax

    from ch6jax import mlp

    net = mlp.MLP(SIZES, activation="sigmoid", output="softmax")
    keys = jax.random.split(jax.random.key(0), n)
    p = jax.vmap(lambda k: net.init(key=k))(keys)
    (l1, l2) = p["layers"]
    return tuple(np.asarray(a, np.float32) for a in (l1["w"], l1["b"], l2["w"], l2["b"]))


# ---------------------------------------------------------------------------------------------
# Peer (a): PyTorch batched over seeds

def _bmm_manual(params, X, Xt, T, steps, lr):
    """Hand-written backprop, all seeds at once: W (S, in, out), b (S, 1, out), X (S, N, D)."""
    import torch
    w1, b1, w2, b2 = (p.clone() for p in params)
    step = lr / X.shape[1]
    with torch.no_grad():
        for _ in range(steps):
            h = torch.sigmoid(torch.baddbmm(b1, X, w1))                 # (S, N, M)
            d2 = torch.softmax(torch.baddbmm(b2, h, w2), -1).sub_(T)    # N * dL/da
            d1 = torch.bmm(d2, w2.transpose(1, 2)).mul_(h).mul_(1.0 - h)
            w2.baddbmm_(h.transpose(1, 2), d2, alpha=-step)
            b2.sub_(d2.sum(1, keepdim=True), alpha=step)
            w1.baddbmm_(Xt, d1, alpha=-step)
            b1.sub_(d1.sum(1, keepdim=True), alpha=step)
    return w1, b1, w2, b2


def _bmm_manual_shared_x(params, X, Xt, T, steps, lr):
    """As _bmm_manual, but layer 1 of all seeds is one GEMM: x (N, D) @ W1 (D, S*M)."""
    import torch
    w1, b1, w2, b2 = (p.clone() for p in params)
    s, d, m = w1.shape
    x, xt = X[0].contiguous(), Xt[0].contiguous()
    n = x.shape[0]
    w1f = w1.permute(1, 0, 2).reshape(d, s * m).contiguous()            # (D, S*M)
    b1f = b1.reshape(s * m).clone()
    step = lr / n
    with torch.no_grad():
        for _ in range(steps):
            hf = torch.sigmoid(torch.addmm(b1f, x, w1f))                # (N, S*M)
            h = hf.view(n, s, m).transpose(0, 1)                        # (S, N, M) view
            d2 = torch.softmax(torch.baddbmm(b2, h, w2), -1).sub_(T)
            dh = torch.bmm(d2, w2.transpose(1, 2))                      # (S, N, M)
            d1f = dh.transpose(0, 1).reshape(n, s * m).mul_(hf).mul_(1.0 - hf)
            w2.baddbmm_(h.transpose(1, 2), d2, alpha=-step)
            b2.sub_(d2.sum(1, keepdim=True), alpha=step)
            w1f.addmm_(xt, d1f, alpha=-step)
            b1f.sub_(d1f.sum(0), alpha=step)
    w1 = w1f.view(d, s, m).permute(1, 0, 2).contiguous()
    return w1, b1f.view(s, 1, m), w2, b2


def _bmm_autograd(params, X, Xt, T, steps, lr):
    """Autograd: gradient of the sum over seeds of each seed's mean loss (seeds independent)."""
    import torch
    ps = [p.clone().requires_grad_(True) for p in params]
    w1, b1, w2, b2 = ps
    for _ in range(steps):
        a = torch.baddbmm(b2, torch.sigmoid(torch.baddbmm(b1, X, w1)), w2)
        loss = -(T * torch.log_softmax(a, -1)).sum(-1).mean(-1).sum()
        grads = torch.autograd.grad(loss, ps)
        with torch.no_grad():
            torch._foreach_add_(ps, grads, alpha=-lr)
    return tuple(p.detach() for p in ps)


BMM_VARIANTS = {"manual": _bmm_manual, "manual_shared_x": _bmm_manual_shared_x,
                "autograd": _bmm_autograd}


def _torch_bmm_inputs(x, t, seeds):
    import torch
    X = torch.from_numpy(x).expand(seeds, *x.shape).contiguous()
    Xt = X.transpose(1, 2).contiguous()
    return X, Xt, torch.from_numpy(t)


def _torch_stack(params_np):
    import torch
    w1, b1, w2, b2 = (torch.from_numpy(np.ascontiguousarray(a)) for a in params_np)
    return w1, b1.unsqueeze(1), w2, b2.unsqueeze(1)


def _from_torch_stack(params):
    w1, b1, w2, b2 = (p.detach().numpy() for p in params)
    return w1, b1.reshape(b1.shape[0], -1), w2, b2.reshape(b2.shape[0], -1)


def run_torch_bmm(seeds, steps, repeats, x, t, warmup_steps) -> dict:
    import torch
    params_np = glorot_stack(np.random.default_rng(0), seeds)
    params = _torch_stack(params_np)
    X, Xt, T = _torch_bmm_inputs(x, t, seeds)
    tried = {}
    best = None
    for threads in THREAD_CHOICES:
        torch.set_num_threads(threads)
        for name, fn in BMM_VARIANTS.items():
            fn(params, X, Xt, T, warmup_steps, LEARNING_RATE)                 # warm-up
            sec, times, out = best_of(lambda: fn(params, X, Xt, T, steps, LEARNING_RATE),
                                      repeats)
            tried[f"{name}/threads={threads}"] = {"seconds": sec, "seconds_all": times,
                                                  "net_steps_per_s": seeds * steps / sec}
            if best is None or sec < best[0]:
                best = (sec, times, name, threads, out)
    sec, times, name, threads, out = best
    losses = mean_ce_numpy(*_from_torch_stack(out), x, t)
    return {
        "seeds": seeds, "steps": steps, "seconds": sec, "seconds_all": times,
        "net_steps_per_s": seeds * steps / sec,
        "variant": name, "threads": threads, "tried": tried,
        "mean_final_loss": float(losses.mean()),
        "sem_final_loss": float(losses.std(ddof=1) / math.sqrt(seeds)) if seeds > 1 else 0.0,
        "warmup_steps": warmup_steps, "dtype": "float32", "torch_version": torch.__version__,
        "init": "Glorot normal (numpy), zero biases, outside timed region",
    }


# ---------------------------------------------------------------------------------------------
# Peer (b): PyTorch one seed at a time

def _torch_single(params, x, xt, t, steps, lr):
    """One network, hand-written backprop, in-place updates: W (in, out), b (out,)."""
    import torch
    w1, b1, w2, b2 = (p.clone() for p in params)
    step = lr / x.shape[0]
    with torch.no_grad():
        for _ in range(steps):
            h = torch.sigmoid(torch.addmm(b1, x, w1))
            d2 = torch.softmax(torch.addmm(b2, h, w2), 1).sub_(t)
            d1 = torch.mm(d2, w2.t()).mul_(h).mul_(1.0 - h)
            w2.addmm_(h.t(), d2, alpha=-step)
            b2.sub_(d2.sum(0), alpha=step)
            w1.addmm_(xt, d1, alpha=-step)
            b1.sub_(d1.sum(0), alpha=step)
    return w1, b1, w2, b2


def _torch_loop(per_seed, x, xt, t, steps):
    return [_torch_single(p, x, xt, t, steps, LEARNING_RATE) for p in per_seed]


def _per_seed_torch(params_np):
    import torch
    w1, b1, w2, b2 = params_np
    return [tuple(torch.from_numpy(np.ascontiguousarray(a[i])) for a in (w1, b1, w2, b2))
            for i in range(w1.shape[0])]


def run_torch_loop(seeds, steps, repeats, x, t, warmup_steps) -> dict:
    import torch
    params_np = glorot_stack(np.random.default_rng(1), seeds)
    per_seed = _per_seed_torch(params_np)
    xt_, tt = torch.from_numpy(x), torch.from_numpy(t)
    xT = xt_.t().contiguous()
    tried, best = {}, None
    for threads in THREAD_CHOICES:
        torch.set_num_threads(threads)
        _torch_loop(per_seed[:1], xt_, xT, tt, warmup_steps)                  # warm-up
        sec, times, out = best_of(lambda: _torch_loop(per_seed, xt_, xT, tt, steps), repeats)
        tried[f"threads={threads}"] = {"seconds": sec, "seconds_all": times,
                                       "net_steps_per_s": seeds * steps / sec}
        if best is None or sec < best[0]:
            best = (sec, times, threads, out)
    sec, times, threads, out = best
    stacked = [np.stack([o[i].numpy() for o in out]) for i in range(4)]
    losses = mean_ce_numpy(*stacked, x, t)
    return {
        "seeds": seeds, "steps": steps, "seconds": sec, "seconds_all": times,
        "net_steps_per_s": seeds * steps / sec, "threads": threads, "tried": tried,
        "variant": "manual backprop, torch.no_grad, in-place addmm_ updates",
        "mean_final_loss": float(losses.mean()),
        "warmup_steps": warmup_steps, "dtype": "float32", "torch_version": torch.__version__,
        "init": "Glorot normal (numpy), zero biases, outside timed region",
    }


# ---------------------------------------------------------------------------------------------
# Peer (c): scikit-learn MLPClassifier one seed at a time

def _sklearn_model(steps: int, seed: int):
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(
        hidden_layer_sizes=(SIZES[1],), activation="logistic", solver="sgd",
        learning_rate="constant", learning_rate_init=LEARNING_RATE, momentum=0.0,
        nesterovs_momentum=False, batch_size=10, alpha=0.0, max_iter=steps, tol=0.0,
        n_iter_no_change=steps + 1, shuffle=False, early_stopping=False, warm_start=True,
        random_state=seed)


def _sklearn_prepared(steps, seed, init, x, labels):
    """A model primed (1 untimed epoch) and then reset to the given Glorot-normal init."""
    model = _sklearn_model(steps, seed)
    model.set_params(max_iter=1)
    model.fit(x, labels)
    w1, b1, w2, b2 = init
    model.coefs_ = [w1.copy(), w2.copy()]
    model.intercepts_ = [b1.copy(), b2.copy()]
    model.n_iter_, model.t_ = 0, 0
    model.loss_curve_, model.best_loss_, model._no_improvement_count = [], np.inf, 0
    model.set_params(max_iter=steps)
    return model


def _sklearn_loop(inits, steps, x, labels):
    """Prepare (untimed) then fit (timed) each seed; returns (fit seconds, fitted models)."""
    models = [_sklearn_prepared(steps, i, init, x, labels) for i, init in enumerate(inits)]
    t0 = time.perf_counter()
    for model in models:
        model.fit(x, labels)
    return time.perf_counter() - t0, models


def _sklearn_losses(models, x, t):
    w1 = np.stack([m.coefs_[0] for m in models])
    w2 = np.stack([m.coefs_[1] for m in models])
    b1 = np.stack([m.intercepts_[0] for m in models])
    b2 = np.stack([m.intercepts_[1] for m in models])
    return mean_ce_numpy(w1, b1, w2, b2, x, t)


def run_sklearn_loop(seeds, steps, repeats, x, t, labels, warmup_steps) -> dict:
    import sklearn
    from threadpoolctl import threadpool_limits
    w1, b1, w2, b2 = glorot_stack(np.random.default_rng(2), seeds)
    inits = [(w1[i], b1[i], w2[i], b2[i]) for i in range(seeds)]
    tried, best = {}, None
    for threads in THREAD_CHOICES:
        with threadpool_limits(limits=threads, user_api="blas"):
            _sklearn_loop(inits[:1], warmup_steps, x, labels)                 # warm-up
            times, models = [], None
            for _ in range(repeats):
                sec, models = _sklearn_loop(inits, steps, x, labels)
                times.append(sec)
        sec = min(times)
        tried[f"blas_threads={threads}"] = {"seconds": sec, "seconds_all": times,
                                            "net_steps_per_s": seeds * steps / sec}
        if best is None or sec < best[0]:
            best = (sec, times, threads, models)
    sec, times, threads, models = best
    n_iter = sorted({m.n_iter_ for m in models})
    losses = _sklearn_losses(models, x, t)
    return {
        "seeds": seeds, "steps": steps, "seconds": sec, "seconds_all": times,
        "net_steps_per_s": seeds * steps / sec, "threads": threads, "tried": tried,
        "epochs_run": n_iter, "mean_final_loss": float(losses.mean()),
        "settings": {k: v for k, v in _sklearn_model(steps, 0).get_params().items()
                     if k != "random_state"},
        "warmup_steps": warmup_steps, "dtype": "float32",
        "sklearn_version": sklearn.__version__,
        "init": "Glorot normal (numpy), zero biases, set after an untimed 1-epoch priming fit",
        "timed": "the 2000-epoch fit() calls only",
    }


# ---------------------------------------------------------------------------------------------
# Checks

def same_init_check(n: int, steps: int, x, t, labels) -> dict:
    """Ours vs torch (bmm manual, single) vs sklearn from OUR initial parameters."""
    import torch
    init = ours_initial_params(n)
    ours = ours_from_params(init, steps)
    X, Xt, T = _torch_bmm_inputs(x, t, n)
    bmm = mean_ce_numpy(*_from_torch_stack(
        _bmm_manual(_torch_stack(init), X, Xt, T, steps, LEARNING_RATE)), x, t)
    single_out = _torch_loop(_per_seed_torch(init), torch.from_numpy(x),
                             torch.from_numpy(x).t().contiguous(), torch.from_numpy(t), steps)
    single = mean_ce_numpy(*[np.stack([o[i].numpy() for o in single_out]) for i in range(4)],
                           x, t)
    sk_model = _sklearn_prepared(steps, 0, tuple(a[0] for a in init), x, labels)
    sk_model.fit(x, labels)
    sk = _sklearn_losses([sk_model], x, t)
    diffs = {"torch_bmm": float(np.max(np.abs(ours - bmm))),
             "torch_loop": float(np.max(np.abs(ours - single))),
             "sklearn (seed 0)": float(abs(ours[0] - sk[0]))}
    return {"seeds": n, "ours": ours.tolist(), "torch_bmm": bmm.tolist(),
            "torch_loop": single.tolist(), "sklearn_seed0": float(sk[0]),
            "max_abs_diff": diffs, "tolerance": SAME_INIT_TOL,
            "ok": bool(max(diffs.values()) <= SAME_INIT_TOL)}


def distribution_check(ours: dict, bmm: dict) -> dict:
    diff = ours["mean_final_loss"] - bmm["mean_final_loss"]
    se = math.hypot(ours["sem_final_loss"], bmm["sem_final_loss"])
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.inf)
    return {"ours_mean": ours["mean_final_loss"], "torch_bmm_mean": bmm["mean_final_loss"],
            "diff": diff, "combined_sem": se, "z": z, "ok": bool(abs(z) < 4.0)}


# ---------------------------------------------------------------------------------------------
# Main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=None,
                   help=f"networks in the study (ours and torch_bmm); default {DEFAULT_SEEDS}")
    p.add_argument("--steps", type=int, default=None,
                   help=f"gradient steps per network; default {DEFAULT_STEPS}")
    p.add_argument("--torch-loop-seeds", type=int, default=None,
                   help="seeds for the one-at-a-time torch peer (default 20; quick 5)")
    p.add_argument("--sklearn-seeds", type=int, default=None,
                   help="seeds for the scikit-learn peer (default 5; quick 2)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per measurement, best kept (default 3; quick 2)")
    p.add_argument("--check-seeds", type=int, default=3,
                   help="seeds for the same-initial-parameters check (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: S=100, 200 steps, fewer peer seeds and repeats")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    args = p.parse_args(argv)
    q = args.quick
    defaults = {"seeds": 100 if q else DEFAULT_SEEDS, "steps": 200 if q else DEFAULT_STEPS,
                "torch_loop_seeds": 5 if q else 20, "sklearn_seeds": 2 if q else 5,
                "repeats": 2 if q else 3}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    for k in ("seeds", "steps", "torch_loop_seeds", "sklearn_seeds", "repeats", "check_seeds"):
        if getattr(args, k) < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")   # sklearn ConvergenceWarning at max_iter, etc.
    import torch
    original_threads = torch.get_num_threads()
    x, t, labels = dataset()
    warmup = min(args.steps, 20)
    net_steps = args.seeds * args.steps
    print(f"seed study: {args.seeds} x MLP{SIZES} (sigmoid/softmax, mean CE), full-batch GD, "
          f"lr {LEARNING_RATE}, {args.steps} steps = {net_steps:,} net-steps; "
          f"{os.cpu_count()} CPUs", flush=True)

    ours = run_ours(args.seeds, args.steps, args.repeats)
    print(f"  ours          {ours['net_steps_per_s']:>14,.0f} net-steps/s  "
          f"({ours['seconds']:.3f} s warm; compile {ours['compile_s']:.2f} s; "
          f"{ours['variant']})", flush=True)
    try:
        bmm = run_torch_bmm(args.seeds, args.steps, args.repeats, x, t, warmup)
        print(f"  torch_bmm     {bmm['net_steps_per_s']:>14,.0f} net-steps/s  "
              f"({bmm['seconds']:.3f} s; {bmm['variant']}, {bmm['threads']} thread(s))",
              flush=True)
        loop = run_torch_loop(args.torch_loop_seeds, args.steps, args.repeats, x, t, warmup)
        print(f"  torch_loop    {loop['net_steps_per_s']:>14,.0f} net-steps/s  "
              f"({loop['seconds']:.3f} s for {loop['seeds']} seeds; {loop['threads']} "
              f"thread(s))", flush=True)
        skl = run_sklearn_loop(args.sklearn_seeds, args.steps, args.repeats, x, t, labels,
                               warmup)
        print(f"  sklearn_loop  {skl['net_steps_per_s']:>14,.0f} net-steps/s  "
              f"({skl['seconds']:.3f} s for {skl['seeds']} seeds; {skl['threads']} BLAS "
              f"thread(s); epochs run {skl['epochs_run']})", flush=True)
        torch.set_num_threads(original_threads)
        same = same_init_check(args.check_seeds, args.steps, x, t, labels)
    finally:
        torch.set_num_threads(original_threads)
    dist = distribution_check(ours, bmm)

    peers = {"torch_bmm": bmm, "torch_loop": loop, "sklearn_loop": skl}
    ratios = {f"vs_{k}": ours["net_steps_per_s"] / v["net_steps_per_s"] for k, v in peers.items()}
    print("ratios (ours / peer, net-steps per second):")
    for k, v in ratios.items():
        print(f"  {k:<18} {v:10.1f}x")
    print("checks:")
    print(f"  same initial params ({same['seeds']} seeds, {args.steps} steps): max |ours - peer| "
          + ", ".join(f"{k} {v:.1e}" for k, v in same["max_abs_diff"].items())
          + f"  -> {'OK' if same['ok'] else 'MISMATCH'} (tol {SAME_INIT_TOL:g})")
    print(f"  same distribution: mean final loss ours {dist['ours_mean']:.5f} vs torch_bmm "
          f"{dist['torch_bmm_mean']:.5f} (diff {dist['diff']:+.5f}, {dist['z']:+.1f} SE) "
          f"-> {'OK' if dist['ok'] else 'DIFFERENT'}")
    print(f"  mean final loss torch_loop {loop['mean_final_loss']:.5f} ({loop['seeds']} seeds), "
          f"sklearn_loop {skl['mean_final_loss']:.5f} ({skl['seeds']} seeds)")

    result = {
        "workload": {
            "model": "MLP 7-18-10, sigmoid hidden, softmax output",
            "sizes": list(SIZES), "loss": "mean softmax cross-entropy, one-hot targets",
            "data": "seven-segment digits, 10 samples (full batch)",
            "optimizer": "full-batch gradient descent", "learning_rate": LEARNING_RATE,
            "steps": args.steps, "seeds": args.seeds, "net_steps": net_steps,
            "init": "Glorot normal std sqrt(2/(fan_in+fan_out)), zero biases",
            "dtype": "float32", "unit": "net-step = one gradient step of one network",
            "repeats": args.repeats, "timing": "best of repeats, warm",
            "quick": args.quick,
        },
        "ours": ours,
        "peers": peers,
        "ratios": ratios,
        "checks": {"same_init": same, "same_distribution": dist},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "numpy": np.__version__,
                    "thread_choices": list(THREAD_CHOICES)},
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
