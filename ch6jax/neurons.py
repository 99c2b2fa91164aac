"""The McCulloch-Pitts neuron, logic gates built from it, and Hebb's rule (C1, C2).

A McCulloch-Pitts neuron has fixed weights: it computes, it does not learn. Hebb's rule is
the chapter's first learning rule and is unsupervised: it strengthens a connection in
proportion to the correlation of the two activities and never looks at a label.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks


def threshold(z: jax.Array, t: float | jax.Array = 0.0) -> jax.Array:
    """The threshold activation (6.2): +1 where ``z >= t``, else -1."""
    return jnp.where(z >= t, 1, -1).astype(jnp.result_type(z, jnp.int8))


def mp_neuron(x: jax.Array, w: jax.Array, t: float | jax.Array) -> jax.Array:
    """McCulloch-Pitts neuron in threshold form, (6.1)-(6.2).

    Args:
      x: inputs, shape ``(..., D)``.
      w: weights, shape ``(D,)``; positive excitatory, negative inhibitory.
      t: the threshold.

    Returns:
      ``sigma(sum_i w_i x_i)``, +1 or -1, shape ``(...)``.
    """
    return threshold(jnp.asarray(x) @ jnp.asarray(w), t)


def mp_neuron_bias(x: jax.Array, w: jax.Array, b: float | jax.Array) -> jax.Array:
    """The same neuron in bias form: a constant input 1 with weight ``b = -t``, threshold 0."""
    return threshold(jnp.asarray(x) @ jnp.asarray(w) + b, 0.0)


class Gate(NamedTuple):
    """A logic gate as one McCulloch-Pitts neuron: weights ``w`` and threshold ``t``."""

    w: tuple[float, ...]
    t: float

    @property
    def b(self) -> float:
        """The bias of the equivalent bias-form neuron."""
        return -self.t

    def __call__(self, x: jax.Array) -> jax.Array:
        """Inputs in {0, 1}, shape ``(..., D)``; output in {0, 1} (truth values)."""
        return (mp_neuron(x, jnp.asarray(self.w), self.t) + 1) // 2


# Fig 6.2: with unit weights, AND fires only when both inputs are on (x + y >= 1.5) and OR when
# either is (x + y >= 0.5). NOT is an inhibitory weight with a threshold between -1 and 0.
AND = Gate(w=(1.0, 1.0), t=1.5)
OR = Gate(w=(1.0, 1.0), t=0.5)
NOT = Gate(w=(-1.0,), t=-0.5)
GATES = {"AND": AND, "OR": OR, "NOT": NOT}


def hebb_update(w: jax.Array, z_post: jax.Array, z_pre: jax.Array, eta: float) -> jax.Array:
    """One step of Hebb's rule (6.3): ``w_ij <- w_ij + eta * z_i * z_j``.

    Args:
      w: weights, shape ``(M, D)``; ``w[i, j]`` runs from presynaptic ``j`` to postsynaptic ``i``.
      z_post: postsynaptic activities ``z_i``, shape ``(M,)``.
      z_pre: presynaptic activities ``z_j``, shape ``(D,)``.
      eta: the learning rate, > 0.
    """
    return w + eta * jnp.outer(z_post, z_pre)


def hebb_rule(w0: jax.Array, z_post: jax.Array, z_pre: jax.Array, *, eta: float) -> jax.Array:
    """Hebb's rule (6.3) applied over a sequence of T co-activations, in order.

    Args:
      w0: initial weights, shape ``(M, D)``.
      z_post: postsynaptic activities, shape ``(T, M)``.
      z_pre: presynaptic activities, shape ``(T, D)``.
      eta: the learning rate, > 0.

    Returns:
      The weights after all T updates, ``w0 + eta * z_post.T @ z_pre``, shape ``(M, D)``.
    """
    _checks.positive("eta", eta)
    w0 = _checks.array("w0", w0, ndim=2)
    z_post = _checks.array("z_post", z_post, ndim=2)
    z_pre = _checks.array("z_pre", z_pre, ndim=2)
    _checks.same_length(("z_post", "z_pre"), z_post, z_pre)
    if w0.shape != (z_post.shape[1], z_pre.shape[1]):
        raise ValueError(
            f"w0 must have shape (M, D) = {(z_post.shape[1], z_pre.shape[1])} to match z_post "
            f"and z_pre, got {tuple(w0.shape)}")

    def step(w, zs):
        return hebb_update(w, zs[0], zs[1], eta), None

    w, _ = jax.lax.scan(step, jnp.asarray(w0), (jnp.asarray(z_post), jnp.asarray(z_pre)))
    return w
