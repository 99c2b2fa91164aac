"""Classifying points of a loss surface: minimum, saddle, maximum, degenerate, not stationary.

(C12-C14.) At a point theta with gradient g and Hessian H (float64):

* not stationary: ``||g|| > grad_tol`` (the Taylor expansion (6.43) then has a first-order term
  and no second-order argument applies);
* otherwise, from the eigenvalues of H, with a tolerance scaled to the spectrum,
  ``tol = rel_tol * max(|lambda|)`` (stated in the result): the *index* counts eigenvalues below
  ``-tol``, the *nullity* those within ``tol`` of zero;
  strict minimum (all > tol), degenerate (none < -tol, some within tol: positive semidefinite
  but singular, so the second-order test cannot decide), saddle (some of each sign), maximum
  (all < -tol).

:func:`find_stationary` searches for stationary points of any index from many starts at once,
and :func:`label` classifies what it found, telling gradient-flat regions apart.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from . import hessian as hessian_lib


class Classification(NamedTuple):
    """``verdict`` and everything it was decided from."""

    verdict: str
    loss: float
    gradient_norm: float
    eigenvalues: np.ndarray
    index: int
    nullity: int
    tolerance: float
    grad_tol: float


def classify_matrix(gradient: np.ndarray, h: np.ndarray, loss: float, *, grad_tol: float = 1e-6,
                    rel_tol: float = 1e-8) -> Classification:
    """Classify from a gradient vector and a symmetric Hessian matrix."""
    eig = np.linalg.eigvalsh(h)
    tol = rel_tol * max(np.abs(eig).max(), np.finfo(float).tiny)
    index = int((eig < -tol).sum())
    nullity = int((np.abs(eig) <= tol).sum())
    positive = int((eig > tol).sum())
    gnorm = float(np.linalg.norm(gradient))
    if gnorm > grad_tol:
        verdict = "not stationary"
    elif index == 0 and nullity == 0:
        verdict = "strict minimum"
    elif index == 0:
        verdict = "degenerate"
    elif positive == 0 and nullity == 0:
        verdict = "maximum"
    else:
        verdict = "saddle"
    return Classification(verdict, float(loss), gnorm, eig, index, nullity, float(tol),
                          float(grad_tol))


def classify(loss: Callable, params, batch, *, grad_tol: float = 1e-6,
             rel_tol: float = 1e-8) -> Classification:
    """Classify ``params`` as a point of ``loss(., batch)`` (see the module docstring)."""
    g, _ = hessian_lib.gradient(loss, params, batch)
    h, _ = hessian_lib.hessian(loss, params, batch)
    with jax.enable_x64(True):
        value = float(loss(hessian_lib.as_float64(params), hessian_lib.as_float64(batch)))
    return classify_matrix(g, h, value, grad_tol=grad_tol, rel_tol=rel_tol)


class Search(NamedTuple):
    """Result of :func:`find_stationary` for S starts: ``params`` (stacked pytree), ``loss``
    (S,), ``gradient`` (S, P), ``hessian`` (S, P, P), ``gradient_norm`` (S,) and ``hg_ratio``
    (S,) = ||H g|| / ||g||, all at the end points."""

    params: object
    loss: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    gradient_norm: np.ndarray
    hg_ratio: np.ndarray


def find_stationary(loss: Callable, starts, batch, *, steps: int = 300,
                    damping: float = 1e-8) -> Search:
    """Search for stationary points of any index from many starts in one vmapped call.

    Minimises 1/2 ||grad L||^2 by Levenberg-Marquardt steps on the gradient:
    ``delta = -(H^2 + mu I)^{-1} H g`` with ``mu = damping * (1 + ||H||^2)``, which converges to
    minima, saddles and maxima alike (unlike descent on L, which runs away from saddles). Uses
    the full Hessian, so it is meant for small models.

    Such searches can stall where ``g`` is not zero but lies in the near-kernel of ``H`` (a
    gradient-flat region, Frye et al. 2021): there ``||H g|| / ||g||`` is tiny while ``||g||``
    is not. :func:`label` reports those as such rather than as critical points.

    Args:
      loss: ``loss(params, batch) -> scalar``.
      starts: a pytree whose leaves have a leading axis of S starting points.
      batch: the data.
      steps: Levenberg-Marquardt iterations (inside ``lax.fori_loop``).
      damping: the relative damping ``mu``.
    """
    with jax.enable_x64(True):
        starts = hessian_lib.as_float64(starts)
        batch = hessian_lib.as_float64(batch)
        first = jax.tree.map(lambda a: a[0], starts)
        _, unravel = jax.flatten_util.ravel_pytree(first)
        f = lambda v: loss(unravel(v), batch)  # noqa: E731
        grad, hess = jax.grad(f), jax.hessian(f)

        def solve(v0):
            def body(_, v):
                g, h = grad(v), hess(v)
                mu = damping * (1.0 + jnp.sum(h * h))
                a = h @ h + mu * jnp.eye(v.shape[0], dtype=v.dtype)
                return v - jnp.linalg.solve(a, h @ g)

            v = jax.lax.fori_loop(0, steps, body, v0)
            g, h = grad(v), hess(v)
            h = (h + h.T) / 2
            gn = jnp.linalg.norm(g)
            return v, f(v), g, h, gn, jnp.linalg.norm(h @ g) / jnp.maximum(gn, 1e-300)

        flat0 = jax.vmap(lambda p: jax.flatten_util.ravel_pytree(p)[0])(starts)
        v, value, g, h, gn, ratio = jax.jit(jax.vmap(solve))(flat0)
        params = jax.vmap(unravel)(v)
    return Search(params, *(np.asarray(a) for a in (value, g, h, gn, ratio)))


def label(search: Search, *, grad_tol: float = 1e-8,
          flat_tol: float = 1e-6, rel_tol: float = 1e-8) -> list[Classification | str]:
    """Classify each search result: a :class:`Classification` for points that reached
    ``||g|| <= grad_tol``; ``"gradient-flat"`` where ``||g||`` stayed larger but
    ``||H g|| / ||g|| <= flat_tol``; ``"not converged"`` otherwise."""
    out = []
    for s in range(len(search.loss)):
        if search.gradient_norm[s] <= grad_tol:
            out.append(classify_matrix(search.gradient[s], search.hessian[s], search.loss[s],
                                       grad_tol=grad_tol, rel_tol=rel_tol))
        elif search.hg_ratio[s] <= flat_tol:
            out.append("gradient-flat")
        else:
            out.append("not converged")
    return out
