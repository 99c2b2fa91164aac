"""The chapter's losses, per sample and numerically stable (C7, C8).

Each function returns one loss per sample (shape ``(N,)``); models average or sum them.
Cross-entropies take pre-activation *logits*, never probabilities, so that ``log`` is applied
to a log-softmax (or a softplus) and extreme logits give finite losses and gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _check_shapes(name_y: str, y, t) -> None:
    if y.shape != t.shape:
        raise ValueError(f"{name_y} and t must have the same shape, got {tuple(y.shape)} "
                         f"and {tuple(t.shape)}")


def squared_error(y: jax.Array, t: jax.Array) -> jax.Array:
    """Per-sample squared error ``1/2 ||y_i - t_i||^2``, the summand of (6.15).

    Args:
      y: predictions, shape ``(N, K)``.
      t: targets, shape ``(N, K)``.

    Returns:
      Shape ``(N,)``.
    """
    _check_shapes("y", y, t)
    return 0.5 * jnp.sum((y - t) ** 2, axis=-1)


def softmax_cross_entropy(logits: jax.Array, t: jax.Array) -> jax.Array:
    """Per-sample cross-entropy of a softmax output, (6.33)-(6.35): ``-sum_k t_k ln y_k``.

    Computed as ``-sum_k t_k log_softmax(a)_k``: the log-sum-exp is shifted by ``max_k a_k``,
    so no logit overflows and the loss is finite for any finite logits.

    Args:
      logits: the output pre-activations ``a``, shape ``(N, K)``.
      t: one-hot (or probability) targets, shape ``(N, K)``; or integer labels, shape ``(N,)``.

    Returns:
      Shape ``(N,)``.
    """
    if jnp.issubdtype(t.dtype, jnp.integer) and t.ndim == logits.ndim - 1:
        # ln sum_k e^{a_k} - a_t: one log-sum-exp per sample, no K-wide log_softmax
        picked = jnp.take_along_axis(logits, t[..., None], axis=-1)[..., 0]
        return jax.nn.logsumexp(logits, axis=-1) - picked
    log_y = jax.nn.log_softmax(logits, axis=-1)
    _check_shapes("logits", logits, t)
    return -jnp.sum(t * log_y, axis=-1)


def sigmoid_cross_entropy(logits: jax.Array, t: jax.Array) -> jax.Array:
    """Per-sample binary cross-entropy of sigmoid outputs, summed over outputs.

    ``-t ln sigma(a) - (1 - t) ln(1 - sigma(a)) = softplus(a) - t a``, evaluated as
    ``max(a, 0) - t a + log1p(exp(-|a|))`` so that neither term overflows.

    Args:
      logits: pre-activations ``a``, shape ``(N, K)``.
      t: targets in [0, 1], shape ``(N, K)``.
    """
    _check_shapes("logits", logits, t)
    per_output = jnp.maximum(logits, 0) - t * logits + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    return jnp.sum(per_output, axis=-1)


LOSSES = {
    "squared_error": squared_error,
    "cross_entropy": softmax_cross_entropy,
    "binary_cross_entropy": sigmoid_cross_entropy,
}
