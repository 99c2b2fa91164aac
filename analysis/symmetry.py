"""Weight-space symmetry of MLPs (C13): the discrete group of every hidden layer, applied as data.

The chapter counts the M! permutations of M hidden units. A layer's full discrete group also has
the sign flips its activation admits:

* odd activations (``tanh``, ``identity``): phi(-z) = -phi(z), so negating a unit's incoming
  weights, its bias and its outgoing weights leaves the function unchanged;
* ``sigmoid`` (and ``step`` except at z = 0): sigma(-z) = 1 - sigma(z), so the flipped unit
  outputs 1 - h; negating its outgoing weights v and adding v to the next layer's bias restores
  the function;
* ``relu`` admits no flip (relu(-z) is not a function of relu(z)), but a *continuous* symmetry:
  scaling a unit's incoming weights and bias by c > 0 and its outgoing weights by 1 / c.
  ``identity`` layers have a continuous one too: any invertible linear map. Continuous
  symmetries are reported (:func:`describe`), not enumerated.

So a layer of M units has the group S_M x (Z_2)^M (M! 2^M elements) or S_M, and a deep network
the product of its layers' groups. An :class:`Element` holds, for each hidden layer, a
permutation (new unit i is old unit ``perm[i]``) and a sign vector, as arrays: :func:`apply`
is one pure function of them, so ``vmap`` applies thousands of elements at once, and
:func:`max_deviation` checks a whole group in one compiled call.

:func:`canonical` sends all symmetric copies of a parameter set to one representative;
:func:`align` matches the hidden units of two networks (weight matching, Ainsworth et al. 2023).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ch6jax import mlp as mlp_lib

#: How each activation admits a sign flip of a unit: "odd" (phi(-z) = -phi(z)), "complement"
#: (phi(-z) = 1 - phi(z)), or None.
FLIPS = {"tanh": "odd", "identity": "odd", "sigmoid": "complement", "step": "complement",
         "relu": None}

#: The continuous symmetries, described (not enumerated).
CONTINUOUS = {
    "relu": "positive rescaling of each unit: incoming weights and bias times c > 0, "
            "outgoing weights times 1/c",
    "identity": "any invertible linear map of the layer: W_in A, A^-1 W_out (GL(M))",
}


class Element(NamedTuple):
    """A group element: for each hidden layer, ``perms[l]`` (new unit i is old unit
    ``perms[l][i]``) and ``signs[l]`` (+1 or -1 per new unit). Leading axes batch elements."""

    perms: tuple
    signs: tuple


def describe(activation: str) -> dict:
    """What symmetry a hidden layer with this activation has."""
    _check_activation(activation)
    return {"permutations": True, "sign_flips": FLIPS[activation],
            "continuous": CONTINUOUS.get(activation)}


def _check_activation(activation: str) -> None:
    if activation not in FLIPS:
        raise ValueError(f"activation must be one of {sorted(FLIPS)}, got {activation!r}")


def hidden_widths(params) -> tuple[int, ...]:
    """The widths of the hidden layers of MLP parameters ``{"layers": [...]}``."""
    if not isinstance(params, dict) or "layers" not in params:
        raise ValueError("params must be MLP parameters {'layers': [{'w', 'b'}, ...]}")
    return tuple(int(layer["b"].shape[-1]) for layer in params["layers"][:-1])


def layer_group_size(width: int, activation: str) -> int:
    """|S_M| = M!, times 2^M when the activation admits sign flips."""
    _check_activation(activation)
    return math.factorial(width) * (2 ** width if FLIPS[activation] else 1)


def group_size(widths, activation: str) -> int:
    """The size of the discrete group of a network with these hidden widths."""
    return math.prod(layer_group_size(m, activation) for m in widths)


def identity(widths) -> Element:
    return Element(tuple(jnp.arange(m) for m in widths),
                   tuple(jnp.ones(m, jnp.int8) for m in widths))


def apply(params, element: Element, activation: str):
    """The parameters ``element`` maps ``params`` to: the same function (module docstring).

    Pure and array-valued, so ``jax.vmap(apply, in_axes=(None, 0, None))`` maps many elements.
    Skip connections (input to output) are not touched by hidden-unit symmetries.
    """
    _check_activation(activation)
    complement = FLIPS[activation] == "complement"
    layers = [dict(layer) for layer in params["layers"]]
    for i, (perm, sign) in enumerate(zip(element.perms, element.signs)):
        inner, outer = layers[i], layers[i + 1]
        s = jnp.asarray(sign).astype(inner["w"].dtype)
        rows = outer["w"][perm, :]                       # outgoing weights of the new units
        bias = outer["b"]
        if complement:   # a flipped unit outputs 1 - h: its old outgoing weights join the bias
            bias = bias + ((1 - s) / 2) @ rows
        layers[i] = {"w": inner["w"][:, perm] * s, "b": inner["b"][perm] * s}
        layers[i + 1] = {"w": rows * s[:, None], "b": bias}
    out = dict(params)
    out["layers"] = layers
    return out


# ---------------------------------------------------------------------------------------------
# enumerating and sampling

def all_elements(width: int, activation: str) -> Element:
    """Every element of a single hidden layer's group, stacked (M! 2^M of them, or M!)."""
    _check_activation(activation)
    if width > 9:
        raise ValueError(f"width must be at most 9 to enumerate its group (9! 2^9 = 185,794,560"
                         f" elements), got {width}; use random_elements")
    perms = np.array(list(itertools.permutations(range(width))), np.int32)
    if FLIPS[activation]:
        signs = np.array(list(itertools.product((1, -1), repeat=width)), np.int8)
    else:
        signs = np.ones((1, width), np.int8)
    p = np.repeat(perms, len(signs), axis=0)
    s = np.tile(signs, (len(perms), 1))
    return Element((jnp.asarray(p),), (jnp.asarray(s),))


def random_elements(key: jax.Array, widths, count: int, activation: str) -> Element:
    """``count`` elements drawn uniformly from the group of a network with these widths."""
    _check_activation(activation)
    perms, signs = [], []
    for k, m in zip(jax.random.split(key, len(widths)), widths):
        kp, ks = jax.random.split(k)
        perms.append(jax.vmap(lambda kk, m=m: jax.random.permutation(kk, m))(
            jax.random.split(kp, count)))
        flips = jax.random.rademacher(ks, (count, m), jnp.int8) if FLIPS[activation] else \
            jnp.ones((count, m), jnp.int8)
        signs.append(flips)
    return Element(tuple(perms), tuple(signs))


def max_deviation(model: mlp_lib.MLP, params, x, elements: Element, *,
                  chunk: int = 4096) -> tuple[float, np.ndarray]:
    """Apply every element (leading axis E) to ``params`` and compare the network's outputs on
    ``x`` with the original's, all in one compiled call (``lax.map`` over chunks of elements).

    Returns ``(largest |difference| over elements, inputs and outputs, per-element largest
    |difference| (E,))``.
    """
    count = int(elements.perms[0].shape[0])
    if len(elements.perms) != len(hidden_widths(params)):
        raise ValueError(f"elements must have one permutation per hidden layer "
                         f"({len(hidden_widths(params))}), got {len(elements.perms)}")
    deviations = np.asarray(_deviations(model, min(chunk, count), params, jnp.asarray(x),
                                        elements))
    return float(deviations.max()), deviations


@functools.partial(jax.jit, static_argnums=(0, 1))
def _deviations(model, chunk, params, x, elements):
    reference = model.apply(params, x)

    def one(element):
        return jnp.abs(model.apply(apply(params, element, model.activation), x)
                       - reference).max()

    return jax.lax.map(one, elements, batch_size=chunk)


# ---------------------------------------------------------------------------------------------
# canonical form

def canonical(params, activation: str):
    """One representative of ``params``' orbit under the discrete group, and the element that
    maps ``params`` to it: ``(canonical_params, element)``.

    Layer by layer from the input: if the activation admits flips, each unit is flipped so its
    bias is positive (a unit with zero bias: so that the sum of its incoming weights is
    positive); then the units are sorted by bias, ties broken by their incoming weights in
    order. Processing layers in order makes each layer's incoming weights already canonical
    in their rows when that layer is sorted. Two parameter sets related by a group element get
    the same representative (up to rounding in the sigmoid's bias update), except on the
    measure-zero set where two units of a layer tie on every key. Jittable and vmappable.
    """
    _check_activation(activation)
    flips = FLIPS[activation] is not None
    widths = hidden_widths(params)
    ident = [jnp.arange(m) for m in widths]
    ones = [jnp.ones(m, jnp.int8) for m in widths]

    def only(i, perm=None, sign=None):  # an element acting on layer i alone
        return Element(tuple(perm if j == i and perm is not None else ident[j]
                             for j in range(len(widths))),
                       tuple(sign if j == i and sign is not None else ones[j]
                             for j in range(len(widths))))

    current, perms, signs = params, [], []
    for i, m in enumerate(widths):
        s = jnp.ones(m, jnp.int8)
        if flips:
            w, b = current["layers"][i]["w"], current["layers"][i]["b"]
            colsum = w.sum(axis=0)
            s = jnp.where(b != 0, jnp.sign(b), jnp.where(colsum != 0, jnp.sign(colsum), 1))
            s = s.astype(jnp.int8)
            current = apply(current, only(i, sign=s), activation)
        w, b = current["layers"][i]["w"], current["layers"][i]["b"]
        order = jnp.lexsort(tuple(w[r] for r in reversed(range(w.shape[0]))) + (b,))
        current = apply(current, only(i, perm=order), activation)
        perms.append(order)
        signs.append(s[order])
    return current, Element(tuple(perms), tuple(signs))


def flat(params) -> jax.Array:
    return jax.flatten_util.ravel_pytree(params)[0]


# ---------------------------------------------------------------------------------------------
# alignment (weight matching)

def align(reference, other, activation: str, *, flips: bool | None = None,
          max_sweeps: int = 100) -> tuple[object, Element]:
    """Match ``other``'s hidden units to ``reference``'s: the group element that brings
    ``other`` closest to ``reference`` in the sum over layers of <W_ref, W_other> (weight
    matching, Ainsworth et al. 2023), and ``other`` mapped by it: ``(aligned, element)``.

    Each hidden layer's permutation solves a linear assignment (scipy's
    ``linear_sum_assignment``) on the similarity of the units' incoming weights and bias and
    outgoing weights; with ``flips`` (default: when the activation admits them), a pair may
    also match with the unit flipped, scoring ``|similarity|`` and taking its sign. A first
    sweep from input to output matches incoming weights only (each layer then sees its inputs
    already matched); then the layers are swept with the full similarity until no
    permutation changes (coordinate descent, as Git Re-Basin does). A planted permutation of
    a network is recovered exactly. ``aligned`` computes the same function as ``other``.
    """
    from scipy.optimize import linear_sum_assignment

    _check_activation(activation)
    flips = (FLIPS[activation] is not None) if flips is None else flips
    if flips and FLIPS[activation] is None:
        raise ValueError(f"flips: activation {activation!r} admits no sign flips")
    widths = hidden_widths(reference)
    if hidden_widths(other) != widths:
        raise ValueError(f"other must have the hidden widths of reference {widths}, "
                         f"got {hidden_widths(other)}")
    ref = jax.tree.map(np.asarray, reference)
    oth = jax.tree.map(np.asarray, other)
    perms = [np.arange(m) for m in widths]
    signs = [np.ones(m, np.int8) for m in widths]
    for sweep in range(max_sweeps + 1):
        changed = False
        for i in range(len(widths)):
            current = jax.tree.map(np.asarray, apply(oth, Element(
                tuple(perms[:i]) + (np.arange(widths[i]),) + tuple(perms[i + 1:]),
                tuple(signs[:i]) + (np.ones(widths[i], np.int8),) + tuple(signs[i + 1:])),
                activation))
            a_in = np.vstack([ref["layers"][i]["w"], ref["layers"][i]["b"][None]])
            b_in = np.vstack([current["layers"][i]["w"], current["layers"][i]["b"][None]])
            similarity = a_in.T @ b_in                  # (ref unit, other unit)
            if sweep:  # the first sweep, input to output, matches incoming weights only:
                # later layers are not matched yet, so their columns would only add noise
                similarity = similarity + ref["layers"][i + 1]["w"] @ \
                    current["layers"][i + 1]["w"].T
            score = np.abs(similarity) if flips else similarity
            _, cols = linear_sum_assignment(score, maximize=True)
            new_signs = np.where(similarity[np.arange(widths[i]), cols] < 0, -1, 1) \
                .astype(np.int8) if flips else np.ones(widths[i], np.int8)
            if not (np.array_equal(cols, perms[i]) and np.array_equal(new_signs, signs[i])):
                changed = True
            perms[i], signs[i] = cols, new_signs
        if sweep and not changed:
            break
    element = Element(tuple(jnp.asarray(p) for p in perms), tuple(jnp.asarray(s) for s in signs))
    return apply(other, element, activation), element
