"""Symmetry benchmark: a whole symmetry group checked in one compiled call, and weight matching.

Workloads
---------
1. ``verify_group``: all 7! 2^7 = 645,120 elements of the discrete group of a 7-unit tanh layer
   (a 7-7-10 softmax network on the ten seven-segment digits, float64) applied to its
   parameters and the outputs compared with the original's. Ours:
   :func:`analysis.symmetry.max_deviation` over :func:`analysis.symmetry.all_elements`, one
   compiled call (``lax.map`` over chunks of a vmapped apply-and-forward). Peer: the same
   check as a Python loop over elements, written as a NumPy expert would (fancy-indexed
   permutation, sign vector broadcast, one ``tanh`` forward and softmax per element, inputs
   and reference outputs precomputed), timed on a sample of ``--loop-sample`` elements and
   reported per element and extrapolated to the whole group. Both must find the same largest
   deviation on the sample.
2. ``weight_matching``: two 64-512-10 tanh networks, one a randomly permuted and sign-flipped
   copy of the other: :func:`analysis.symmetry.align` (scipy's ``linear_sum_assignment`` on a
   512 x 512 similarity), timed, with the planted element checked to be recovered exactly;
   and two independently initialised networks, for the time on a generic pair.

Every measurement is the best of ``--repeats`` warm runs; compile time is reported apart.

Usage::

    python benchmarks/symmetry.py [--json out.json] [--loop-sample 2000]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from _timing import best_of, machine, write_json

from analysis import symmetry
from ch6jax import data
from ch6jax.mlp import MLP


def numpy_loop(params, x, perms, signs) -> np.ndarray:
    """The peer: one element at a time in NumPy; returns each element's largest deviation."""
    w1, b1 = np.asarray(params["layers"][0]["w"]), np.asarray(params["layers"][0]["b"])
    w2, b2 = np.asarray(params["layers"][1]["w"]), np.asarray(params["layers"][1]["b"])
    x = np.asarray(x)

    def forward(w1, b1, w2, b2):
        a = np.tanh(x @ w1 + b1) @ w2 + b2
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    reference = forward(w1, b1, w2, b2)
    out = np.empty(len(perms))
    for i, (p, s) in enumerate(zip(perms, signs)):
        out[i] = np.abs(forward(w1[:, p] * s, b1[p] * s, w2[p] * s[:, None], b2)
                        - reference).max()
    return out


def bench_verify(args) -> dict:
    with jax.enable_x64(True):
        x, _ = data.seven_segment(jnp.float64)
        model = MLP((7, 7, 10), activation="tanh", output="softmax")
        params = model.init(key=jax.random.key(0), initializer="normal", dtype=jnp.float64)
        params = jax.tree.map(lambda a: a + 0.3, params)
        elements = symmetry.all_elements(7, "tanh")
        t0 = time.perf_counter()
        symmetry.max_deviation(model, params, x, elements)
        first = time.perf_counter() - t0
        ours, (worst, each) = best_of(lambda: symmetry.max_deviation(model, params, x, elements),
                                      args.repeats)
        pick = np.random.default_rng(0).choice(len(each), args.loop_sample, replace=False)
        perms = np.asarray(elements.perms[0])[pick]
        signs = np.asarray(elements.signs[0])[pick].astype(np.float64)
        numpy_loop(params, x, perms[:50], signs[:50])  # warm
        loop, theirs = best_of(lambda: numpy_loop(params, x, perms, signs), args.repeats)
    per_element = loop / len(pick)
    agree = float(np.abs(theirs - each[pick]).max())
    return {"elements": int(len(each)), "ours_s": ours, "ours_compile_s": first - ours,
            "ours_us_per_element": 1e6 * ours / len(each), "max_deviation": worst,
            "loop_sample": int(len(pick)), "loop_us_per_element": 1e6 * per_element,
            "loop_extrapolated_s": per_element * len(each),
            "ratio": per_element * len(each) / ours, "sample_agreement": agree}


def bench_matching(args) -> dict:
    with jax.enable_x64(True):
        model = MLP((64, 512, 10), activation="tanh", output="softmax")
        a = model.init(key=jax.random.key(1), dtype=jnp.float64)
        a = jax.tree.map(lambda v: v + 0.01 * jax.random.normal(jax.random.key(2), v.shape,
                                                                 v.dtype), a)
        planted = jax.tree.map(lambda v: v[0], symmetry.random_elements(
            jax.random.key(3), (512,), 1, "tanh"))
        b = symmetry.apply(a, planted, "tanh")
        c = model.init(key=jax.random.key(4), dtype=jnp.float64)
        symmetry.align(a, b, "tanh")   # warm
        t_planted, (aligned, _) = best_of(lambda: symmetry.align(a, b, "tanh"), args.repeats)
        t_independent, _ = best_of(lambda: symmetry.align(a, c, "tanh"), args.repeats)
        error = float(np.abs(symmetry.flat(aligned) - symmetry.flat(a)).max())
    return {"width": 512, "planted_s": t_planted, "independent_s": t_independent,
            "planted_recovered_max_error": error}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--loop-sample", type=int, default=2000)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    result = {"machine": machine()}
    print("[verify_group]", flush=True)
    r = result["verify_group"] = bench_verify(args)
    print(f"  {r['elements']:,} elements: ours {r['ours_s']:.2f} s in one call "
          f"({r['ours_us_per_element']:.2f} us/element, compile {r['ours_compile_s']:.2f} s), "
          f"max deviation {r['max_deviation']:.1e}")
    print(f"  NumPy loop: {r['loop_us_per_element']:.1f} us/element on {r['loop_sample']:,} "
          f"elements, {r['loop_extrapolated_s']:.1f} s for the group: ratio {r['ratio']:.0f}x; "
          f"per-element results agree to {r['sample_agreement']:.1e}")
    print("[weight_matching]", flush=True)
    r = result["weight_matching"] = bench_matching(args)
    print(f"  two {r['width']}-unit layers: planted copy {r['planted_s']:.3f} s (recovered to "
          f"{r['planted_recovered_max_error']:.1e}), independent pair {r['independent_s']:.3f} s")
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
