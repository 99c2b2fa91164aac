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

The search for stationary points and the detection of gradient-flat regions are still to come
(issue 4); this module classifies given points.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

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
    import jax

    with jax.enable_x64(True):
        value = float(loss(hessian_lib._f64(params), hessian_lib._f64(batch)))
    return classify_matrix(g, h, value, grad_tol=grad_tol, rel_tol=rel_tol)
