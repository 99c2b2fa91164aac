"""The chapter's data sets, as plain arrays.

Every function returns fresh ``jax.numpy`` arrays (float32 unless a dtype is given), so a
caller can ``vmap`` or ``jit`` over them without copying.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

# ---------------------------------------------------------------------------------------------
# Table 6.1 (C3)

_TABLE_6_1 = np.array([
    # x1,  x2,   t
    [1.0, 1.0, +1],
    [9.4, 6.4, -1],
    [2.5, 2.1, +1],
    [8.0, 7.7, -1],
    [0.5, 2.2, +1],
    [7.9, 8.4, -1],
    [7.0, 7.0, -1],
    [2.8, 0.8, +1],
    [1.2, 3.0, +1],
    [7.8, 6.1, -1],
])


def table_6_1(dtype=jnp.float32):
    """Table 6.1: ten 2-D samples and their labels in {-1, +1}. Returns ``(x (10, 2), t (10,))``."""
    return jnp.asarray(_TABLE_6_1[:, :2], dtype), jnp.asarray(_TABLE_6_1[:, 2], dtype)


# ---------------------------------------------------------------------------------------------
# Logic gates (Fig 6.2, 6.4, 6.6)

_GATE_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
_GATE_TARGETS = {
    "AND": np.array([0, 0, 0, 1]),
    "OR": np.array([0, 1, 1, 1]),
    "XOR": np.array([0, 1, 1, 0]),
}


def logic(name: str, dtype=jnp.float32):
    """The truth table of AND, OR or XOR: ``(x (4, 2) in {0,1}, t (4,) in {0,1})``."""
    if name not in _GATE_TARGETS:
        raise ValueError(f"name must be one of {sorted(_GATE_TARGETS)}, got {name!r}")
    return jnp.asarray(_GATE_INPUTS, dtype), jnp.asarray(_GATE_TARGETS[name], dtype)


def to_pm1(t):
    """Map 0/1 targets to the perceptron's -1/+1 labels."""
    return 2 * jnp.asarray(t) - 1


# ---------------------------------------------------------------------------------------------
# Seven-segment digits (C10, Fig 6.9)

#: Segment order of every 7-vector: a (top), b (upper right), c (lower right), d (bottom),
#: e (lower left), f (upper left), g (middle).
SEGMENTS = "abcdefg"

_DIGIT_SEGMENTS = {
    0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg",
    5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}

#: Irregular or damaged glyphs never seen in training, each with the digit a person reads and
#: why. Common display variants first, then glyphs with one segment dead.
IRREGULAR = (
    ("cdefg", 6, "6 without its top bar (a common display variant)"),
    ("abcf", 7, "7 with a hook on the upper left (a common display variant)"),
    ("abcfg", 9, "9 without its bottom bar (a common display variant)"),
    ("ef", 1, "1 drawn on the left-hand segments"),
    ("bcdef", 0, "0 with the top segment dead"),
    ("abeg", 2, "2 with the bottom segment dead"),
    ("bdeg", 2, "2 with the top segment dead"),
    ("bcdg", 3, "3 with the top segment dead"),
    ("acfg", 5, "5 with the bottom segment dead"),
    ("cdfg", 5, "5 with the top segment dead"),
    ("bcdfg", 9, "9 with the top segment dead"),
    ("bcdefg", 8, "8 with the top segment dead"),
)


def segments_to_vector(lit: str) -> np.ndarray:
    """``"abc"`` -> ``[1, 1, 1, 0, 0, 0, 0]``."""
    unknown = set(lit) - set(SEGMENTS)
    if unknown:
        raise ValueError(f"segments must be letters from {SEGMENTS!r}, got {sorted(unknown)}")
    return np.array([1.0 if s in lit else 0.0 for s in SEGMENTS])


def vector_to_segments(v) -> str:
    return "".join(s for s, on in zip(SEGMENTS, np.asarray(v)) if on > 0.5)


def seven_segment(dtype=jnp.float32):
    """The ten standard digits: ``(x (10, 7) in {0,1}, labels (10,) int32 = 0..9)``."""
    x = np.stack([segments_to_vector(_DIGIT_SEGMENTS[d]) for d in range(10)])
    return jnp.asarray(x, dtype), jnp.arange(10, dtype=jnp.int32)


def seven_segment_irregular(dtype=jnp.float32):
    """The irregular glyphs: ``(x (M, 7), labels (M,) int32, descriptions tuple)``."""
    x = np.stack([segments_to_vector(s) for s, _, _ in IRREGULAR])
    labels = np.array([d for _, d, _ in IRREGULAR], np.int32)
    return jnp.asarray(x, dtype), jnp.asarray(labels), tuple(why for _, _, why in IRREGULAR)


def one_hot(labels, k: int = 10, dtype=jnp.float32):
    """1-of-K targets for labels in 0..k-1."""
    return jnp.eye(k, dtype=dtype)[jnp.asarray(labels)]


# ---------------------------------------------------------------------------------------------
# Universal approximation (C11, Fig 6.10)

TARGETS = {
    "x2": lambda x: x ** 2,
    "abs": jnp.abs,
    "tanh": jnp.tanh,
    "step": lambda x: jnp.where(x >= 0, 1.0, 0.0).astype(x.dtype),  # Heaviside, H(0) = 1
}


class Regression(NamedTuple):
    x_train: jnp.ndarray  # (30, 1)
    t_train: jnp.ndarray  # (30, 1)
    x_test: jnp.ndarray   # (50, 1)
    t_test: jnp.ndarray   # (50, 1)


def approximation(name: str, *, n_train: int = 30, n_test: int = 50, dtype=jnp.float32):
    """Fig 6.10's data: the target on ``n_train`` and ``n_test`` equally spaced points of [-1, 1]."""
    if name not in TARGETS:
        raise ValueError(f"name must be one of {sorted(TARGETS)}, got {name!r}")
    f = TARGETS[name]
    x_train = jnp.linspace(-1.0, 1.0, n_train, dtype=dtype)[:, None]
    x_test = jnp.linspace(-1.0, 1.0, n_test, dtype=dtype)[:, None]
    return Regression(x_train, f(x_train), x_test, f(x_test))


# ---------------------------------------------------------------------------------------------
# The two-sample set of Fig 6.11 (C13)

def two_sample(dtype=jnp.float32):
    """x = -1 -> t = 0 and x = 1 -> t = 1: ``(x (2, 1), t (2, 1))``."""
    return jnp.asarray([[-1.0], [1.0]], dtype), jnp.asarray([[0.0], [1.0]], dtype)


# ---------------------------------------------------------------------------------------------
# Handwritten digits: a real data set for the symmetry and alignment studies (C13)

def digits(dtype=jnp.float32):
    """The 1,797 8x8 handwritten digits of the UCI ML repository (optical recognition of
    handwritten digits, test set; Alpaydin and Kaynak 1998, CC BY 4.0), as bundled with
    scikit-learn and copied here so that no run-time dependency is needed:
    ``(x (1797, 64) with pixels in [0, 1] (counts 0-16 divided by 16), labels (1797,) int)``,
    in scikit-learn's order."""
    from importlib import resources

    with resources.files("ch6jax").joinpath("_data/digits.npz").open("rb") as f:
        stored = np.load(f)
        images, labels = stored["images"], stored["labels"]
    return jnp.asarray(images / 16.0, dtype), jnp.asarray(labels.astype(np.int32))
