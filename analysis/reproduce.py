"""Run the chapter's experiments into a results folder (what ``ch6jax reproduce`` does)."""

from __future__ import annotations

import dataclasses
import inspect
import time
import zlib
from pathlib import Path

import jax
from tqdm.auto import tqdm

from .chapter6 import EXPERIMENTS, check_settings, quick
from .report import ResultsFolder


def experiment_key(seed: int, name: str) -> jax.Array:
    """Each experiment's key: the run's seed folded with a stable checksum of its name (never
    Python's ``hash``, which changes from process to process)."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(name.encode()) & 0x7FFFFFFF)


def settings_for(name: str, *, quick_mode: bool = False, overrides: dict | None = None):
    module = EXPERIMENTS[name]
    base = quick(module.Settings) if quick_mode else module.Settings()
    settings = dataclasses.replace(base, **(overrides or {}))
    check_settings(settings)
    return settings


def reproduce(out: str | Path, *, names=None, seed: int = 0, quick_mode: bool = False,
              progress: bool = True, overrides: dict | None = None) -> ResultsFolder:
    """Run ``names`` (default: every experiment, in the chapter's order) into ``out``.

    Args:
      out: the results folder (created if missing).
      names: experiment names, a subset of ``EXPERIMENTS``.
      seed: the run's seed; every experiment derives its own key from it.
      quick_mode: the reduced sizes of ``--quick``.
      progress: show a progress bar and a line per experiment.
      overrides: settings for a single experiment (``{field: value}``), used by the
        per-experiment subcommands.
    """
    names = list(EXPERIMENTS) if not names else list(names)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    all_settings = {n: settings_for(n, quick_mode=quick_mode,
                                    overrides=overrides if len(names) == 1 else None)
                    for n in names}
    folder = ResultsFolder(out, order=list(EXPERIMENTS),
                           run_info={"seed": seed, "quick": quick_mode})
    bar = tqdm(names, disable=not progress, unit="experiment", leave=True)
    for name in bar:
        bar.set_description(name)
        start = time.perf_counter()
        run = EXPERIMENTS[name].run
        extra = {"progress": progress} if "progress" in inspect.signature(run).parameters else {}
        result = run(all_settings[name], experiment_key(seed, name),
                     workdir=folder.out / "work", **extra)
        seconds = time.perf_counter() - start
        folder.add(EXPERIMENTS[name], result, seconds)
        if progress:
            bar.write(f"[{name}] {seconds:.1f}s  {result.summary}")
    return folder
