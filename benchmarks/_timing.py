"""Timing shared by the benchmarks."""

from __future__ import annotations

import time


def best_of(fn, repeats: int):
    """Run ``fn()`` ``repeats`` times; return (best seconds, the last result)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out
