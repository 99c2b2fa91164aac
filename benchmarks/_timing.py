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


def machine() -> dict:
    """What a benchmark ran on, for its JSON."""
    import os
    import platform

    import jax
    import numpy as np

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
            "numpy": np.__version__}


def write_json(result: dict, path: str | None) -> None:
    """Write ``result`` to ``path`` (when one was given) and say so."""
    if path:
        import json

        with open(path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {path}")
