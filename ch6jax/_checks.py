"""Input validation that runs before any compilation.

Every public entry point checks its arguments here so that bad input gives a one-line
``ValueError`` naming the argument, not a traceback from deep inside XLA. Value checks
(finiteness, label sets) need concrete arrays; under ``jit``/``vmap`` the arguments are
tracers, so only their shapes are checked and the values are the caller's responsibility.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np


def is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def array(name: str, x, *, ndim: int | tuple[int, ...] | None = None, finite: bool = True,
          nonempty: bool = True):
    """Check ``x`` is a numeric array of the given rank; return it unchanged (or as an ndarray)."""
    if x is None:
        raise ValueError(f"{name} must be an array, got None")
    if not hasattr(x, "shape"):
        try:
            x = np.asarray(x)
        except Exception as err:  # ragged lists and the like
            raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from err
    dtype = np.dtype(x.dtype)
    if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        raise ValueError(f"{name} must be numeric, got dtype {dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")
    if nonempty and x.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if finite and not is_traced(x) and np.issubdtype(dtype, np.floating) \
            and not _all_finite(x):
        bad = int(np.size(x) - np.isfinite(np.asarray(x)).sum())
        raise ValueError(f"{name} must be finite, got {bad} non-finite value(s)")
    return x


def _all_finite(x) -> bool:
    # a jax array is checked where it lives, without a copy to the host
    # (evaluated now even when called while an outer function is being traced)
    if isinstance(x, jax.Array):
        with jax.ensure_compile_time_eval():
            return bool(_jit_all_finite(x))
    return bool(np.all(np.isfinite(x)))


@jax.jit
def _jit_all_finite(x):
    return jax.numpy.all(jax.numpy.isfinite(x))


def only_values(x, allowed: tuple) -> bool:
    """Whether every entry of the concrete array ``x`` is one of ``allowed`` (on the device for
    a jax array)."""
    if isinstance(x, jax.Array):
        with jax.ensure_compile_time_eval():
            return bool(_jit_only_values(x, allowed))
    x = np.asarray(x)
    return bool(np.all(np.isin(x, allowed)))


@jax.jit
def _jit_only_values(x, allowed):
    ok = jax.numpy.zeros(x.shape, bool)
    for a in allowed:
        ok = ok | (x == a)
    return jax.numpy.all(ok)


def positive(name: str, value, *, integer: bool = False):
    """Check a Python scalar is > 0 (and an integer when asked)."""
    if is_traced(value):
        return value
    if integer:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not value > 0 or (not integer and not np.isfinite(value)):
        kind = "integer" if integer else "number"
        raise ValueError(f"{name} must be a positive {kind}, got {value!r}")
    return value


def choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def devices(devices) -> tuple:
    """The devices to run on: all local devices when None, else the given ones (at least one)."""
    devices = tuple(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device")
    return devices


def same_length(names: tuple[str, ...], *arrays) -> int:
    lengths = {n: int(a.shape[0]) for n, a in zip(names, arrays)}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise ValueError(f"{' and '.join(names)} must have the same number of samples: {detail}")
    return next(iter(lengths.values()))


def labels_pm1(name: str, t) -> None:
    """Labels must be exactly -1 or +1 (the perceptron's convention, C3)."""
    if is_traced(t):
        return
    values = set(np.unique(np.asarray(t)).tolist())
    if not values <= {-1, 1}:
        bad = sorted(values - {-1, 1})
        raise ValueError(f"{name} must be -1 or +1, got values {bad}")


def class_labels(name: str, t, classes: int) -> None:
    """1-D class labels must be integers in ``0 .. classes - 1``: out of range, a softmax
    loss would silently read another class or nothing."""
    if not np.issubdtype(np.dtype(t.dtype), np.integer):
        raise ValueError(f"{name} must hold integer class labels when 1-D, got dtype {t.dtype}")
    if is_traced(t):
        return
    lo, hi = (int(v) for v in np.asarray([np.min(t), np.max(t)]))
    if lo < 0 or hi >= classes:
        raise ValueError(f"{name} labels must lie in 0..{classes - 1}, got values from {lo} "
                         f"to {hi}")
