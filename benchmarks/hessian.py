"""Second-order benchmark: our Hessian instruments against expert PyTorch peers, in one run.

Workloads (scikit-learn's bundled 8x8 digits, the first 500 images, pixels / 16; sigmoid hidden
layers, linear output, mean softmax cross-entropy; the same parameters on both sides)
----------------------------------------------------------------------------------------------
1. ``full_hessian``: the dense Hessian of a 64-32-10 MLP (P = 2,410), float64.
   Ours: :func:`analysis.hessian.hessian` (forward-over-reverse ``jax.hessian``, compiled once;
   the time includes the copy to NumPy and the symmetrisation). Peer:
   ``torch.autograd.functional.hessian`` at its fastest option, and ``torch.func``'s chunked
   ``jacrev(jacrev)``, which is not the API the target names but is often faster (both
   recorded). Target: at least 2x ``torch.autograd.functional.hessian``.
2. ``hvp_cost``: one Hessian-vector product against one gradient, P = 99,786 (64-768-64-10),
   each jitted, float64 and float32. Target: an HVP costs at most 3x a gradient.
3. ``top_eigenvalues``: the 10 largest eigenvalues of that network's Hessian after 300 steps of
   gradient descent. Peer: PyHessian's power iteration with deflation (``maxIter=100``,
   ``tol=1e-3``, float32, its double-backward HVP with the first backward's graph kept),
   written in torch in ``benchmarks/_hessian_peers.py``. Ours: :func:`analysis.hessian.lanczos`
   (float64, full reorthogonalisation) with the fewest steps, from a ladder, that reach at
   least the peer's accuracy. Accuracy: the largest relative error of the 10 values against a
   reference (Lanczos with 300 steps, its residuals printed). Targets: at least 5x fewer HVPs
   (its residuals come from the Lanczos identity, no extra products) and 3x less time.
4. ``slice``: a 101 x 101 loss slice of the 64-32-10 network along two random
   filter-normalised directions, float32. Ours: :func:`analysis.landscape.mlp_slice_2d` (grid
   points batched into wide products, the first layer's sigmoids factorised over the grid's
   axes, rows spread over one host device per core; also timed on one device). Peer: the
   point-by-point loop of the ``loss-landscapes`` library, written at its best
   (``benchmarks/_hessian_peers.py``). Target: at least 20x. Our generic ``vmap`` slice
   (:func:`analysis.landscape.slice_2d`) is timed too, for reference.

Fairness: every measurement is the best of ``--repeats`` warm runs (compile time reported
apart); torch runs with 1 and 2 threads and the faster is kept; JAX uses its default thread
pool and, for the slice, one host device per core (set by this script). Checks that both sides
computed the same thing are printed and stored with the timings.

Usage::

    python benchmarks/hessian.py                  # all four
    python benchmarks/hessian.py --quick          # smaller, for a smoke test
    python benchmarks/hessian.py --only slice --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={os.cpu_count()}").strip()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _hessian_peers as peers  # noqa: E402
import jax  # noqa: E402
import jax.flatten_util  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402
from _timing import best_of  # noqa: E402

from analysis import hessian, landscape  # noqa: E402
from ch6jax import train  # noqa: E402
from ch6jax.mlp import MLP  # noqa: E402

THREADS = (1, 2)
TARGETS = {"full_hessian": 2.0, "hvp_over_gradient": 3.0, "fewer_hvps": 5.0,
           "less_time": 3.0, "slice": 20.0}


def block(x):
    return jax.block_until_ready(x)


def torch_best(make_fn, repeats: int):
    """Time ``make_fn()()`` with each thread count (warm); return (best s, threads, all, out)."""
    results, out = {}, None
    for n in THREADS:
        torch.set_num_threads(n)
        fn = make_fn()
        fn()  # warm-up
        results[n], out = best_of(fn, repeats)
    best = min(results, key=results.get)
    return results[best], best, results, out


def network(sizes, dtype, *, steps: int = 0, seed: int = 0):
    """Our MLP, its parameters (trained ``steps`` GD steps) and the digits batch."""
    x, y = peers.digits(500)
    model = MLP(tuple(sizes), activation="sigmoid", output="softmax")
    with jax.enable_x64(dtype == jnp.float64):
        params = model.init(key=jax.random.key(seed), dtype=dtype)
        batch = (jnp.asarray(x, dtype), jnp.asarray(y))
        if steps:
            params = train.gradient_descent(model.loss, params, batch, learning_rate=0.5,
                                            steps=steps).params
    return model, params, batch, (x, y)


def flat_numpy(params) -> np.ndarray:
    with jax.enable_x64(True):  # or float64 leaves would be concatenated as float32
        return np.asarray(jax.flatten_util.ravel_pytree(params)[0])


# ---------------------------------------------------------------------------------------------

def bench_full_hessian(args) -> dict:
    sizes = (64, 32, 10)
    model, params, batch, (x, y) = network(sizes, jnp.float64, steps=100)
    call = lambda: hessian.hessian(model.loss, params, batch)  # noqa: E731
    t0 = time.perf_counter()
    h_ours, _ = call()
    first = time.perf_counter() - t0
    ours, (h_ours, _) = best_of(call, args.repeats)
    flat = torch.as_tensor(flat_numpy(params), dtype=torch.float64)
    t_auto, th_auto, all_auto, h_torch = torch_best(
        lambda: (lambda f: lambda: f(flat))(peers.make_full_hessian(x, y, sizes)), args.repeats)
    t_func, th_func, all_func, _ = torch_best(
        lambda: (lambda f: lambda: f(flat))(peers.make_full_hessian_func(x, y, sizes)),
        args.repeats)
    h_torch = h_torch.numpy()
    diff = float(np.abs(h_ours - h_torch).max() / np.abs(h_torch).max())
    peer = min(t_auto, t_func)
    return {"P": h_ours.shape[0], "ours_s": ours, "ours_compile_s": first - ours,
            "torch_autograd_functional_s": t_auto, "torch_autograd_functional_threads": th_auto,
            "torch_autograd_functional_all": all_auto, "torch_func_jacrev_s": t_func,
            "torch_func_threads": th_func, "torch_func_all": all_func,
            "ratio_vs_autograd_functional": t_auto / ours, "ratio_vs_best_peer": peer / ours,
            "max_rel_diff": diff, "target": TARGETS["full_hessian"]}


def bench_hvp_cost(args) -> dict:
    sizes = (64, 768, 64, 10)
    out, hv64 = {}, None
    model, params64, batch64, _ = network(sizes, jnp.float64)
    with jax.enable_x64(True):
        v64 = jax.tree.map(lambda a, k: jax.random.normal(k, a.shape, a.dtype), params64,
                           jax.tree.unflatten(jax.tree.structure(params64), list(
                               jax.random.split(jax.random.key(1),
                                                len(jax.tree.leaves(params64))))))
    for dtype in (jnp.float64, jnp.float32):
        with jax.enable_x64(True):   # the same point and vector in both precisions
            params, v, batch = (jax.tree.map(lambda a: a.astype(dtype)
                                             if jnp.issubdtype(a.dtype, jnp.floating) else a, t)
                                for t in (params64, v64, batch64))
            grad = jax.jit(jax.grad(model.loss))
            hvp = jax.jit(hessian.make_hvp(model.loss))
            block(grad(params, batch))
            block(hvp(params, batch, v))
            t_grad, _ = best_of(lambda: block(grad(params, batch)), 5 * args.repeats)
            t_hvp, _ = best_of(lambda: block(hvp(params, batch, v)), 5 * args.repeats)
            hv = hvp(params, batch, v)
            if dtype == jnp.float64:  # right: against a central difference of the gradient
                eps = 1e-6
                plus = jax.tree.map(lambda p, d: p + eps * d, params, v)
                minus = jax.tree.map(lambda p, d: p - eps * d, params, v)
                reference = jax.tree.map(lambda a, b: (a - b) / (2 * eps), grad(plus, batch),
                                         grad(minus, batch))
                hv64 = hv
            else:                     # float32: against the float64 product at the same point
                reference = hv64
            err = max(float(jnp.abs(a - b).max() / (jnp.abs(b).max() + 1e-30))
                      for a, b in zip(jax.tree.leaves(hv), jax.tree.leaves(reference)))
        name = np.dtype(dtype).name
        out[name] = {"P": int(flat_numpy(params).size), "gradient_s": t_grad, "hvp_s": t_hvp,
                     "hvp_over_gradient": t_hvp / t_grad, "hvp_check": err}
    # torch's double-backward HVP over its gradient, for context (float32, best threads)
    x, y = peers.digits(500)
    flat = torch.as_tensor(flat_numpy(params64), dtype=torch.float32)
    vt = torch.randn_like(flat)
    t_g, _, _, _ = torch_best(lambda: (lambda g: lambda: g(flat))(
        peers.make_grad(x, y, sizes)), 5 * args.repeats)
    t_h, _, _, _ = torch_best(lambda: (lambda h: lambda: h(flat, vt))(
        peers.make_hvp(x, y, sizes)), 5 * args.repeats)
    out["torch_float32"] = {"gradient_s": t_g, "hvp_s": t_h, "hvp_over_gradient": t_h / t_g}
    out["target"] = TARGETS["hvp_over_gradient"]
    return out


def bench_top_eigenvalues(args) -> dict:
    sizes = (64, 768, 64, 10)
    k = 10
    model, params, batch, (x, y) = network(sizes, jnp.float64, steps=300)
    p = int(flat_numpy(params).size)
    ref = hessian.lanczos(model.loss, params, batch, k=k, steps=args.reference_steps,
                          which="both", explicit_residuals=True)
    # the 10 of largest magnitude: what power iteration finds
    ref_top = ref.values[np.argsort(-np.abs(ref.values))][:k]
    ref_res = ref.residuals[np.argsort(-np.abs(ref.values))][:k]

    def rel_error(values):
        got = np.sort(np.abs(np.asarray(values)))[::-1]
        want = np.sort(np.abs(ref_top))[::-1]
        return float(np.max(np.abs(got - want) / np.abs(want)))

    # ours first: torch's worker threads may still spin after its runs and slow what follows
    ladders = {}
    for dtype in (jnp.float32, jnp.float64):
        name = np.dtype(dtype).name
        ladders[name] = {}
        for steps in args.lanczos_ladder:
            run = lambda: hessian.lanczos(model.loss, params, batch, k=k, steps=steps,  # noqa
                                          which="largest", dtype=dtype)
            t0 = time.perf_counter()
            run()
            first = time.perf_counter() - t0
            t, pairs = best_of(run, args.repeats)
            ladders[name][steps] = {"seconds": t, "compile_s": first - t, "hvps": steps,
                                    "max_rel_error": rel_error(pairs.values),
                                    "max_residual": float(pairs.residuals.max())}
    flat = torch.as_tensor(flat_numpy(params), dtype=torch.float32)
    results = {}
    for n in THREADS:
        torch.set_num_threads(n)
        hvp = peers.make_hvp_at(x, y, sizes, flat)
        peers.power_iteration_top_k(hvp, p, 1, max_iter=3)  # warm-up
        t, (vals, _, n_hvp) = best_of(
            lambda: peers.power_iteration_top_k(hvp, p, k, max_iter=100, tol=1e-3),
            args.repeats)
        results[n] = (t, vals, n_hvp)
    threads = min(results, key=lambda n: results[n][0])
    t_peer, peer_vals, peer_hvps = results[threads]
    peer_err = rel_error(peer_vals)

    # the fewest steps that reach the peer's accuracy
    chosen = {n: next((st for st, q in ladder.items() if q["max_rel_error"] <= peer_err), None)
              for n, ladder in ladders.items()}
    best = {n: ladders[n][chosen[n]] if chosen[n] is not None else None for n in ladders}
    same = best["float32"]   # the peer runs in float32: the like-for-like comparison
    return {"P": p, "k": k, "reference_steps": args.reference_steps,
            "reference_top": ref_top.tolist(), "reference_residuals": ref_res.tolist(),
            "pyhessian": {"seconds": t_peer, "threads": threads, "hvps": peer_hvps,
                          "max_rel_error": peer_err, "values": list(map(float, peer_vals)),
                          "all_threads_s": {n: r[0] for n, r in results.items()}},
            "lanczos_ladders": ladders, "lanczos_steps_chosen": chosen,
            "fewer_hvps": peer_hvps / same["hvps"] if same else None,
            "less_time": t_peer / same["seconds"] if same else None,
            "float64": {"fewer_hvps": peer_hvps / best["float64"]["hvps"],
                        "less_time": t_peer / best["float64"]["seconds"]}
            if best["float64"] else None,
            "targets": {"fewer_hvps": TARGETS["fewer_hvps"], "less_time": TARGETS["less_time"]}}


def bench_slice(args) -> dict:
    sizes = (64, 32, 10)
    model, params, batch, (x, y) = network(sizes, jnp.float32, steps=100)
    d1, d2 = landscape.random_directions(jax.random.key(7), params)
    grid = args.grid
    fast = lambda: landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=grid)  # noqa: E731
    generic = lambda: landscape.slice_2d(model.loss, params, batch, d1, d2,  # noqa: E731
                                         grid=grid)
    t0 = time.perf_counter()
    fast()
    first = time.perf_counter() - t0
    t_fast, ours = best_of(fast, args.repeats)
    one = [jax.local_devices()[0]]
    single = lambda: landscape.mlp_slice_2d(model, params, batch, d1, d2, grid=grid,  # noqa: E731
                                            devices=one)
    single()
    t_single, ours_single = best_of(single, args.repeats)
    assert np.array_equal(ours.loss, ours_single.loss), "results depend on the device count"
    generic()
    t_generic, _ = best_of(generic, args.repeats)
    start, u, w = (flat_numpy(p) for p in (params, d1, d2))
    points = grid * grid
    results = {}
    for n in THREADS:
        torch.set_num_threads(n)
        peers.loss_landscapes_loop(x, y, sizes, start, u, w, grid=5)  # warm-up
        results[n], theirs = best_of(lambda: peers.loss_landscapes_loop(
            x, y, sizes, start, u, w, grid=grid), max(1, args.repeats - 1))
    threads = min(results, key=results.get)
    diff = float(np.abs(ours.loss - theirs).max() / np.abs(theirs).max())
    return {"grid": grid, "devices": len(jax.local_devices()), "ours_s": t_fast,
            "ours_compile_s": first - t_fast, "ours_us_per_point": 1e6 * t_fast / points,
            "generic_vmap_s": t_generic, "torch_loop_s": results[threads],
            "torch_threads": threads, "torch_all_threads_s": results,
            "torch_us_per_point": 1e6 * results[threads] / points,
            "ratio": results[threads] / t_fast, "generic_ratio": results[threads] / t_generic,
            "max_rel_diff": diff, "target": TARGETS["slice"],
            "ours_one_device_s": t_single, "one_device_ratio": results[threads] / t_single}


BENCHES = {"full_hessian": bench_full_hessian, "hvp_cost": bench_hvp_cost,
           "top_eigenvalues": bench_top_eigenvalues, "slice": bench_slice}


def report(name: str, r: dict) -> None:
    ok = lambda value, target, le=False: "MET" if (  # noqa: E731
        value is not None and (value <= target if le else value >= target)) else "NOT MET"
    if name == "full_hessian":
        print(f"  P = {r['P']}: ours {r['ours_s']:.3f} s (compile {r['ours_compile_s']:.2f} s); "
              f"torch.autograd.functional.hessian {r['torch_autograd_functional_s']:.3f} s "
              f"({r['torch_autograd_functional_threads']} thread(s)); torch.func jacrev "
              f"{r['torch_func_jacrev_s']:.3f} s")
        print(f"  ratio vs torch.autograd.functional.hessian "
              f"{r['ratio_vs_autograd_functional']:.1f}x (target {r['target']:g}x: "
              f"{ok(r['ratio_vs_autograd_functional'], r['target'])}); vs the faster torch.func "
              f"{r['ratio_vs_best_peer']:.1f}x (no target); max rel diff {r['max_rel_diff']:.1e}")
    elif name == "hvp_cost":
        for dt in ("float64", "float32"):
            q = r[dt]
            print(f"  {dt}, P = {q['P']}: gradient {1e3 * q['gradient_s']:.2f} ms, HVP "
                  f"{1e3 * q['hvp_s']:.2f} ms: HVP/gradient {q['hvp_over_gradient']:.2f} "
                  f"(target <= {r['target']:g}: {ok(q['hvp_over_gradient'], r['target'], True)});"
                  f" HVP check {q['hvp_check']:.1e}")
        q = r["torch_float32"]
        print(f"  torch float32 double backward: HVP/gradient {q['hvp_over_gradient']:.2f}")
    elif name == "top_eigenvalues":
        ph = r["pyhessian"]
        print(f"  P = {r['P']}, top {r['k']} (reference: Lanczos {r['reference_steps']} steps, "
              f"residuals <= {max(r['reference_residuals']):.1e})")
        print(f"  PyHessian power iteration: {ph['hvps']} HVPs, {ph['seconds']:.2f} s "
              f"({ph['threads']} thread(s)), max rel error {ph['max_rel_error']:.1e}")
        for dt, ladder in r["lanczos_ladders"].items():
            for steps, q in ladder.items():
                mark = "  <- chosen" if steps == r["lanczos_steps_chosen"][dt] else ""
                print(f"  Lanczos {dt} {steps:3d} steps: {q['hvps']} HVPs, {q['seconds']:.3f} s, "
                      f"max rel error {q['max_rel_error']:.1e}, max residual "
                      f"{q['max_residual']:.1e}{mark}")
        t = r["targets"]
        print(f"  float32 (as the peer): fewer HVPs {r['fewer_hvps'] or float('nan'):.1f}x "
              f"(target {t['fewer_hvps']:g}x: {ok(r['fewer_hvps'], t['fewer_hvps'])}); less time "
              f"{r['less_time'] or float('nan'):.1f}x (target {t['less_time']:g}x: "
              f"{ok(r['less_time'], t['less_time'])})")
        if r["float64"]:
            print(f"  float64 (our default): fewer HVPs {r['float64']['fewer_hvps']:.1f}x, less "
                  f"time {r['float64']['less_time']:.1f}x")
    elif name == "slice":
        print(f"  {r['grid']}x{r['grid']}: ours {r['ours_s']:.3f} s ({r['ours_us_per_point']:.1f} "
              f"us/point, {r['devices']} device(s), compile {r['ours_compile_s']:.2f} s); generic "
              f"vmap {r['generic_vmap_s']:.3f} s; torch loop {r['torch_loop_s']:.2f} s "
              f"({r['torch_us_per_point']:.0f} us/point, {r['torch_threads']} thread(s))")
        print(f"  ratio {r['ratio']:.1f}x (target {r['target']:g}x: {ok(r['ratio'], r['target'])})"
              f"; generic vmap {r['generic_ratio']:.1f}x; max rel diff {r['max_rel_diff']:.1e}")
        print(f"  on one device: ours {r['ours_one_device_s']:.3f} s, ratio "
              f"{r['one_device_ratio']:.1f}x (same values)")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these")
    p.add_argument("--repeats", type=int, default=3, help="best of this many warm runs")
    p.add_argument("--grid", type=int, default=101, help="slice grid points a side")
    p.add_argument("--reference-steps", type=int, default=300)
    p.add_argument("--lanczos-ladder", type=int, nargs="+", default=[10, 15, 20, 25, 30, 40],
                   help="Lanczos step counts tried; the fewest reaching the peer's accuracy win")
    p.add_argument("--quick", action="store_true", help="grid 41, one repeat")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    args = p.parse_args(argv)
    if args.quick:
        args.grid, args.repeats, args.reference_steps = 41, 1, 150
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "python": platform.python_version(), "jax": jax.__version__,
                          "torch": torch.__version__, "devices": len(jax.local_devices())}}
    for name in args.only or BENCHES:
        print(f"[{name}]", flush=True)
        result[name] = BENCHES[name](args)
        report(name, result[name])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
