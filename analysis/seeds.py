"""Batch random-seed studies: one pure function of a key, run over thousands of seeds (C14).

``run_study(study, n_seeds, ...)`` evaluates ``study(key, **config) -> pytree of results`` for
seeds ``0 .. n_seeds - 1``, seed ``i`` getting ``jax.random.fold_in(jax.random.key(root), i)``.

How the work is cut, and why the answer does not depend on the cut:

* A **block** of ``block`` seeds is one ``vmap`` of ``study``. Blocks are the unit XLA compiles:
  every seed is always computed inside a block of exactly that size, so its bits do not
  depend on how many seeds run beside it. (A plain ``vmap`` over a chunk of any size does not
  have this property: XLA's loops split differently and the last bits change.)
* A **chunk** of ``chunk`` seeds is one compiled call: ``lax.map`` over its blocks, with the
  blocks spread over the local devices (a leading device axis, sharded with a
  ``NamedSharding``). Chunks are padded to whole blocks per device, so the call compiles once;
  memory is bounded by the chunk.
* **Processes** (``jax.distributed``) take chunks in turn (chunk ``c`` goes to process
  ``c mod P``) and the results are gathered with ``process_allgather``.

So results are bitwise identical for the same seeds whatever the chunk size, the number of
devices and the number of processes (the tests check all three); only ``block`` (recorded in
the manifest) and the JAX version matter.

Persistence: with ``out``, each finished chunk is written atomically (write, then rename) to
``out/chunks/`` and ``out/manifest.json`` records the study, its config, the root seed, the
block, the JAX version and how many seeds are done. ``resume=True`` continues a stopped run,
computing only the seeds that no chunk file holds; a different study, config, root seed, block
or JAX version is refused, never mixed.

Failure isolation: a seed whose results hold a non-finite value is flagged ``finite = False``
in its row; the other seeds are unaffected (each seed's computation is independent).
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ch6jax import _checks

from ._io import atomic_write, npz_bytes

MANIFEST_FORMAT = 1
#: Least time between rewrites of the manifest's progress count during a run.
MANIFEST_INTERVAL_S = 2.0


class SeedTable(NamedTuple):
    """One row per seed: ``seed`` (n,), ``finite`` (n,) and ``columns`` name -> (n, ...)."""

    seed: np.ndarray
    finite: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.seed)

    def to_numpy(self) -> dict[str, np.ndarray]:
        return {"seed": self.seed, "finite": self.finite, **self.columns}

    def tree(self, prefix: str, like):
        """The columns named ``prefix/...`` rebuilt into the structure of ``like`` (one seed's
        pytree, e.g. the initial parameters), each leaf with a leading seed axis."""
        names = [f"{prefix}/{n}" for n in _names(like)]
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise ValueError(f"prefix {prefix!r} with this structure needs columns {missing}, "
                             f"not in the table ({sorted(self.columns)})")
        return jax.tree.unflatten(jax.tree.structure(like), [self.columns[n] for n in names])

    def to_pandas(self):
        """A DataFrame (pandas must be installed): scalar results as columns, array results
        as columns of per-seed arrays."""
        import pandas as pd

        frame = {"seed": self.seed, "finite": self.finite}
        for name, values in self.columns.items():
            frame[name] = values if values.ndim == 1 else list(values)
        return pd.DataFrame(frame)


def seed_keys(root: int, seeds: np.ndarray) -> jax.Array:
    """The key of each seed: ``fold_in(key(root), seed)``: independent of how seeds are cut."""
    base = jax.random.key(root)
    return jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.asarray(seeds, jnp.uint32))


def _names(tree) -> list[str]:
    paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    names = []
    for path, _ in paths:
        parts = [str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path]
        names.append("/".join(parts) or "value")
    return names


def _all_finite(tree) -> jax.Array:
    """Per seed (leading axis): are all its results finite?"""
    leaves = [leaf for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.inexact)]
    ok = jnp.ones(jax.tree.leaves(tree)[0].shape[0], bool)
    for leaf in leaves:
        ok &= jnp.all(jnp.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=1)
    return ok


class _Plan(NamedTuple):
    devices: tuple
    mesh: Mesh
    padded: int         # seeds per compiled call, a multiple of block * devices
    blocks_per_device: int


def _plan(chunk: int, block: int, devices) -> _Plan:
    devices = tuple(devices)
    per_call = len(devices) * block
    padded = -(-chunk // per_call) * per_call
    return _Plan(devices, Mesh(np.array(devices), ("devices",)), padded,
                 padded // per_call)


@functools.lru_cache(maxsize=32)
def _compiled_chunk(study: Callable, config_items: tuple, plan: _Plan, block: int):
    """``keys (devices, blocks, block) -> (results (padded, ...), finite (padded,))``, jitted.

    Cached, so running the same study again (a notebook re-run, a resume, the next chunk)
    reuses the compiled call.
    """
    fn = partial(study, **dict(config_items))

    def per_device(keys):  # (blocks, block) -> map over blocks, vmap within one
        return jax.lax.map(jax.vmap(fn), keys)

    def run(keys):  # (devices, blocks, block): the leading axis is sharded over the devices
        out = jax.vmap(per_device)(keys)
        out = jax.tree.map(lambda a: a.reshape((plan.padded,) + a.shape[3:]), out)
        return out, _all_finite(out)

    sharding = NamedSharding(plan.mesh, PartitionSpec("devices"))
    return jax.jit(run), sharding


# ---------------------------------------------------------------------------------------------
# Persistence

def _identity(study_name: str, config: dict, root: int, block: int) -> dict:
    return {"format": MANIFEST_FORMAT, "study": study_name,
            "config": json.loads(json.dumps(config, default=str)), "root_seed": root,
            "block": block, "jax_version": jax.__version__}


def _check_manifest(out: Path, identity: dict, resume: bool) -> None:
    path = out / "manifest.json"
    if not path.exists():
        return
    if not resume:
        raise ValueError(f"out {str(out)!r} already holds a study; pass resume=True (--resume) "
                         f"to continue it, or choose another folder")
    found = json.loads(path.read_text())
    for key, value in identity.items():
        if found.get(key) != value:
            raise ValueError(
                f"cannot resume: the study in {str(out)!r} has {key} = {found.get(key)!r}, "
                f"this run has {value!r}; results would be mixed. Use another folder.")


class _Rows(NamedTuple):
    """Rows of results: ``seed`` (n,), ``finite`` (n,), ``columns`` name -> (n, ...)."""

    seed: np.ndarray
    finite: np.ndarray
    columns: dict

    @staticmethod
    def empty() -> "_Rows":
        return _Rows(np.zeros(0, np.int64), np.zeros(0, bool), {})

    @staticmethod
    def concatenate(parts) -> "_Rows":
        parts = [p for p in parts if len(p.seed)]
        if not parts:
            return _Rows.empty()
        return _Rows(np.concatenate([p.seed for p in parts]),
                     np.concatenate([p.finite for p in parts]),
                     {k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns})

    def where(self, keep) -> "_Rows":
        mask = keep(self)
        return _Rows(self.seed[mask], self.finite[mask],
                     {k: v[mask] for k, v in self.columns.items()})

    def sorted(self) -> SeedTable:
        order = np.argsort(self.seed, kind="stable")
        seed = self.seed[order]
        if np.any(seed[1:] == seed[:-1]):
            raise RuntimeError("a seed was computed twice: the chunk files overlap")
        return SeedTable(seed, self.finite[order], {k: v[order] for k, v in self.columns.items()})


def _done_chunks(out: Path) -> list[Path]:
    return sorted((out / "chunks").glob("seeds_*.npz"))


def _load_chunk(path: Path):
    """A chunk file's rows, or None (with a warning) if it cannot be read: then its seeds are
    simply computed again."""
    try:
        with np.load(path) as z:
            return _Rows(z["seed"], z["finite"],
                         {k[2:]: z[k] for k in z.files if k.startswith("c:")})
    except Exception as err:  # a truncated or corrupted file from a crash
        warnings.warn(f"ignoring unreadable chunk file {path.name} ({err}); its seeds will be "
                      f"computed again")
        return None


def _write_chunk(out: Path, rows: "_Rows") -> None:
    path = out / "chunks" / f"seeds_{rows.seed[0]:09d}_{rows.seed[-1]:09d}.npz"
    arrays = {"seed": rows.seed, "finite": rows.finite,
              **{f"c:{k}": v for k, v in rows.columns.items()}}
    atomic_write(path, npz_bytes(arrays))


def _ranges(seeds: np.ndarray) -> list[list[int]]:
    """Sorted seeds as inclusive ranges: [0, 1, 2, 5] -> [[0, 2], [5, 5]]."""
    seeds = np.sort(np.asarray(seeds))
    if not len(seeds):
        return []
    breaks = np.flatnonzero(np.diff(seeds) != 1)
    starts = np.r_[seeds[0], seeds[breaks + 1]]
    ends = np.r_[seeds[breaks], seeds[-1]]
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


def _write_manifest(out: Path, identity: dict, n_seeds: int, done: np.ndarray) -> None:
    manifest = dict(identity, n_seeds=n_seeds, seeds_done=len(done), done_ranges=_ranges(done),
                    updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=2))


# ---------------------------------------------------------------------------------------------
# The runner

def _hashable(config: dict) -> tuple:
    try:
        items = tuple(sorted(config.items()))
        hash(items)
    except TypeError as err:
        raise ValueError(f"config values must be hashable (numbers, strings, tuples): {err}") \
            from None
    return items


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def run_study(study: Callable, n_seeds: int, *, config: dict | None = None, chunk: int = 1024,
              block: int = 32, root_seed: int = 0, devices=None, out: str | Path | None = None,
              resume: bool = False, progress: bool = True, name: str | None = None,
              ) -> SeedTable:
    """Run ``study(key, **config)`` for seeds ``0 .. n_seeds - 1``; return one row per seed.

    Args:
      study: a pure function of a key (and keyword config) returning a pytree of arrays.
      n_seeds: how many seeds.
      config: keyword arguments for ``study``: static (hashable) values, recorded in the
        manifest.
      chunk: seeds per compiled call (memory is bounded by it). Does not change results.
      block: seeds per ``vmap`` inside a call. Changes the compiled code, so it is part of
        the study's identity in the manifest.
      root_seed: seed ``i`` uses ``fold_in(key(root_seed), i)``.
      devices: the devices of this process to spread blocks over (default: all local ones).
      out: a folder to save chunks as they finish (with ``manifest.json``); None keeps
        everything in memory.
      resume: continue the study already in ``out``.
      progress: show a progress bar (seeds per second, ETA).
      name: the study's name in the manifest (default: the function's name).

    Returns:
      A :class:`SeedTable` sorted by seed, identical on every process.
    """
    n_seeds = _check_int("n_seeds", n_seeds, 1)
    chunk = _check_int("chunk", chunk, 1)
    block = _check_int("block", block, 1)
    root_seed = _check_int("root_seed", root_seed, 0)
    config = dict(config or {})
    devices = _checks.devices(devices)
    name = name or getattr(study, "__name__", "study")
    identity = _identity(name, config, root_seed, block)

    done = _Rows.empty()
    if out is not None:
        out = Path(out)
        _check_manifest(out, identity, resume)
        _barrier("seeds: manifest checked")  # no process writes before every process checked
        (out / "chunks").mkdir(parents=True, exist_ok=True)
        loaded = [rows for rows in map(_load_chunk, _done_chunks(out)) if rows is not None]
        done = _Rows.concatenate(loaded).where(lambda r: r.seed < n_seeds)
        if jax.process_index() == 0:
            _write_manifest(out, identity, n_seeds, done.seed)

    todo = np.setdiff1d(np.arange(n_seeds), done.seed)
    chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    n_proc, me = jax.process_count(), jax.process_index()
    mine = chunks[me::n_proc]

    plan = _plan(min(chunk, max(len(todo), 1)), block, devices)
    run, sharding = _compiled_chunk(study, _hashable(config), plan, block)
    new: list[_Rows] = []
    last_manifest = time.monotonic()
    bar = _progress(progress and me == 0, n_seeds, len(done.seed), name)

    def dispatch(chunk_seeds):
        padded = np.concatenate([chunk_seeds,
                                 np.full(plan.padded - len(chunk_seeds), chunk_seeds[-1])])
        keys = seed_keys(root_seed, padded).reshape(
            (len(plan.devices), plan.blocks_per_device, block))
        return chunk_seeds, run(jax.device_put(keys, sharding))  # returns before it is done

    # Chunk i + 1 is dispatched before chunk i is copied back and written, so the device
    # computes while the host writes: saving costs (almost) no wall-clock time.
    pending = dispatch(mine[0]) if mine else None
    for i in range(len(mine)):
        chunk_seeds, (results, finite) = pending
        pending = dispatch(mine[i + 1]) if i + 1 < len(mine) else None
        k = len(chunk_seeds)  # drop the padding
        rows = _Rows(chunk_seeds, np.asarray(finite)[:k],
                     {col: np.asarray(leaf)[:k] for col, leaf in
                      zip(_names(results), jax.tree.leaves(results))})
        if out is not None:
            _write_chunk(out, rows)
            # The chunk files are the record; the manifest's count is for people watching, so
            # it is refreshed at most every few seconds (and at the end).
            if me == 0 and time.monotonic() - last_manifest > MANIFEST_INTERVAL_S:
                _write_manifest(out, identity, n_seeds,
                                np.concatenate([done.seed, *(r.seed for r in new), chunk_seeds]))
                last_manifest = time.monotonic()
        new.append(rows)
        if bar is not None:
            bar.update(k * n_proc)
    if bar is not None:
        bar.close()

    gathered = _gather(_Rows.concatenate(new), study, config, len(chunks), chunk)
    table = _Rows.concatenate([done, gathered]).sorted()
    if out is not None and me == 0:
        _write_manifest(out, identity, n_seeds, table.seed)
    return table


def _barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _progress(show: bool, total: int, initial: int, name: str):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="seed", desc=name, smoothing=0.1)


def _gather(rows: _Rows, study, config, n_chunks: int, chunk: int) -> _Rows:
    """This process's rows; with several processes, everyone's (allgathered)."""
    if jax.process_count() == 1:
        return rows
    from jax.experimental import multihost_utils

    # Every process pads its rows to the same count (the most chunks any process has) so that
    # the collective sees equal shapes; padded rows carry seed -1 and are dropped.
    most = -(-n_chunks // jax.process_count()) * chunk
    columns = rows.columns
    if not columns:  # this process had no chunk: learn the column shapes from the study
        shapes = jax.eval_shape(partial(study, **config), jax.random.key(0))
        columns = {k: np.zeros((0,) + s.shape, s.dtype)
                   for k, s in zip(_names(shapes), jax.tree.leaves(shapes))}
    pad = most - len(rows.seed)
    padded = {"seed": np.concatenate([rows.seed, np.full(pad, -1, np.int64)]),
              "finite": np.concatenate([rows.finite, np.zeros(pad, bool)]),
              "columns": {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
                          for k, v in columns.items()}}
    gathered = jax.tree.map(lambda a: np.asarray(a).reshape((-1,) + np.asarray(a).shape[2:]),
                            multihost_utils.process_allgather(padded))
    return _Rows(gathered["seed"], gathered["finite"], gathered["columns"]).where(
        lambda r: r.seed >= 0)
