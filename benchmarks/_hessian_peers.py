"""PyTorch peers for the Hessian benchmark (``benchmarks/hessian.py``): second-order work on a
small MLP written the way an expert PyTorch user would write it, at its best settings.

Workload
--------
An MLP with layer sizes such as ``(64, 32, 10)`` on the first ``n`` images of scikit-learn's
8x8 digits (pixels scaled by 1/16): sigmoid hidden layers, a linear output layer, and the loss
is the mean softmax cross-entropy over the samples (``F.cross_entropy``, mean reduction).

Parameter layout (shared with the JAX side)
-------------------------------------------
One flat vector holds, for each layer ``l`` in order, the bias ``b_l`` of shape ``(out,)`` and
then the weight ``w_l`` of shape ``(in, out)`` in row-major order; the layer computes
``h @ w + b``. This is ``jax.flatten_util.ravel_pytree`` order of ``[{"b": b, "w": w}, ...]``.
For ``(64, 32, 10)`` that is P = 32 + 64*32 + 10 + 32*10 = 2410 parameters.

Peers
-----
* :func:`make_full_hessian`: the dense ``(P, P)`` Hessian by
  ``torch.autograd.functional.hessian`` of :func:`mlp_loss` as a function of the flat vector, at
  its fastest option here (the default ``vectorize=False``; measurements in the function), and
  :func:`make_full_hessian_func`, the chunked ``torch.func`` form (a little faster still).
* :func:`make_hvp` / :func:`make_hvp_at`: Hessian-vector products by double backward
  (``torch.autograd.grad(create_graph=True)``, then the gradient of ``g . v``).
  :func:`make_hvp_at` is PyHessian's arrangement: the first backward (with its graph) is done
  once at a fixed point, and each product is one more backward with ``retain_graph=True``.
* :func:`power_iteration_top_k`: PyHessian's ``hessian.eigenvalues(maxIter, tol, top_n)`` power
  iteration, step for step, on flat vectors.
* :func:`loss_landscapes_loop`: a 2-D loss slice evaluated point by point, the way the
  ``loss-landscapes`` library's ``planar_interpolation`` / ``random_plane`` do it (an
  ``nn.Module`` whose parameters are moved in place, one ``.item()`` per grid point), written at
  its best (``torch.inference_mode``, float32, all parameters views of one flat buffer so a
  step is one ``add_``).

Fairness rules
--------------
* float32 unless stated: the dense Hessian and the HVP factories take a ``dtype`` (float64 by
  default for the dense Hessian, since it is compared entry by entry and its eigenvalues are
  taken); power iteration and the landscape loop default to float32.
* The data are converted to tensors once, when a factory is built (outside any timed region);
  the returned callables do only the per-call work.
* Peers run warm: the caller does a warm-up call with the same shapes before timing.
* Thread count: chosen by the caller (``torch.set_num_threads``); nothing here sets it.
* No JAX in this file.

Run ``python benchmarks/_hessian_peers.py`` for a self-check on a tiny network (float64): the
dense Hessian against finite differences of the gradient and its symmetry, the HVP against
``H @ v``, power iteration against ``torch.linalg.eigvalsh``, and the landscape loop against
direct evaluation of :func:`mlp_loss`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# Data and the shared parameter layout


def digits(n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` images of ``sklearn.datasets.load_digits()``: X float64 ``(n, 64)`` scaled
    by 1/16 (pixels in [0, 1]), y int64 labels ``(n,)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = np.asarray(d.data[:n], np.float64) / 16.0
    y = np.asarray(d.target[:n], np.int64)
    return X, y


def num_params(sizes: Sequence[int]) -> int:
    """P for layer sizes ``sizes``: sum over layers of ``out + in * out``."""
    return sum(o + i * o for i, o in zip(sizes[:-1], sizes[1:]))


def unflatten(flat: torch.Tensor, sizes: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(b_l, w_l), ...]`` as views of ``flat`` (differentiable): per layer, bias ``(out,)``
    then weight ``(in, out)`` row-major."""
    out, k = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        b = flat[k:k + fan_out]
        k += fan_out
        w = flat[k:k + fan_in * fan_out].view(fan_in, fan_out)
        k += fan_in * fan_out
        out.append((b, w))
    if k != flat.shape[-1]:
        raise ValueError(f"flat has {flat.shape[-1]} entries, sizes {tuple(sizes)} need {k}")
    return out


def mlp_loss(flat: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
             sizes: Sequence[int]) -> torch.Tensor:
    """Mean softmax cross-entropy of the MLP (sigmoid hidden layers, linear output)."""
    layers = unflatten(flat, sizes)
    h = X
    for b, w in layers[:-1]:
        h = torch.sigmoid(torch.addmm(b, h, w))
    b, w = layers[-1]
    return F.cross_entropy(torch.addmm(b, h, w), y)


def _tensors(X, y, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """X as a contiguous ``dtype`` tensor, y as int64 (accepts numpy arrays or tensors)."""
    return (torch.as_tensor(np.asarray(X), dtype=dtype).contiguous(),
            torch.as_tensor(np.asarray(y), dtype=torch.int64))


# ---------------------------------------------------------------------------------------------
# Gradient, Hessian-vector products, dense Hessian


def make_grad(X, y, sizes: Sequence[int],
              dtype: torch.dtype = torch.float32) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn(flat) -> gradient (P,)`` of :func:`mlp_loss` by one backward pass."""
    Xt, yt = _tensors(X, y, dtype)
    sizes = tuple(sizes)

    def grad(flat: torch.Tensor) -> torch.Tensor:
        p = flat.detach().to(dtype).requires_grad_(True)
        (g,) = torch.autograd.grad(mlp_loss(p, Xt, yt, sizes), p)
        return g

    return grad


def make_hvp(X, y, sizes: Sequence[int], dtype: torch.dtype = torch.float32
             ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn(flat, v) -> H(flat) v`` by double backward: the gradient with ``create_graph=True``,
    then the gradient of ``g . v``. Each call redoes the forward and first backward (use
    :func:`make_hvp_at` when many products are taken at one point)."""
    Xt, yt = _tensors(X, y, dtype)
    sizes = tuple(sizes)

    def hvp(flat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        p = flat.detach().to(dtype).requires_grad_(True)
        (g,) = torch.autograd.grad(mlp_loss(p, Xt, yt, sizes), p, create_graph=True)
        (hv,) = torch.autograd.grad(g, p, grad_outputs=v.to(dtype))
        return hv

    return hvp


def make_hvp_at(X, y, sizes: Sequence[int], flat, dtype: torch.dtype = torch.float32
                ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn(v) -> H v`` at the fixed point ``flat``, PyHessian's arrangement: the forward pass and
    the first backward (``create_graph=True``) are done once here; each call is one backward
    through that graph (``grad(g, p, grad_outputs=v, retain_graph=True)``, i.e. the gradient of
    ``g . v``). This is what :func:`power_iteration_top_k` should be given to time PyHessian."""
    Xt, yt = _tensors(X, y, dtype)
    p = torch.as_tensor(np.asarray(flat) if not torch.is_tensor(flat) else flat.detach(),
                        dtype=dtype).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(mlp_loss(p, Xt, yt, tuple(sizes)), p, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        (hv,) = torch.autograd.grad(g, p, grad_outputs=v.to(dtype), retain_graph=True)
        return hv

    return hvp


def make_full_hessian(X, y, sizes: Sequence[int], dtype: torch.dtype = torch.float64
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn(flat) -> (P, P)`` Hessian of :func:`mlp_loss` by ``torch.autograd.functional.hessian``,
    with its default ``vectorize=False`` (P double-backward passes, one per row), the fastest
    of its options here.

    Measured (torch 2.13.0+cpu, ``torch.set_num_threads(1)``, 2-core shared machine, sizes
    (64, 32, 10), n = 500, P = 2410, float64; one or two calls each, the second warm):

    ================================================================  ==============
    ``vectorize=False`` (default; reverse-over-reverse, P backwards)   2.17 s, 1.99 s
    ``vectorize=True``, ``outer_jacobian_strategy="reverse-mode"``     3.95 s, 4.21 s
    ``vectorize=True``, ``outer_jacobian_strategy="forward-mode"``    11.7 s, 8.92 s
    (not this API) ``torch.func.hessian`` (jacfwd of jacrev)           4.30 s, 4.59 s
    (not this API) ``torch.func.jacrev(jacrev, chunk_size=128)``       2.98 s, 1.65 s
    ================================================================  ==============

    All agree to 1e-16. The vectorised variants batch all P directions at once, so their
    intermediates are P times the size of one backward's (e.g. 500 x 32 x 2410 float64 = 0.3 GB)
    and most of their time went to allocating them (system time above user time); the loop of
    P small backwards stays in cache. The chunked ``torch.func`` form is offered separately as
    :func:`make_full_hessian_func` (chunk size not tuned).
    """
    Xt, yt = _tensors(X, y, dtype)
    sizes = tuple(sizes)

    def loss(p: torch.Tensor) -> torch.Tensor:
        return mlp_loss(p, Xt, yt, sizes)

    def full_hessian(flat: torch.Tensor) -> torch.Tensor:
        return torch.autograd.functional.hessian(loss, flat.detach().to(dtype))

    return full_hessian


def make_full_hessian_func(X, y, sizes: Sequence[int], dtype: torch.dtype = torch.float64, *,
                           chunk_size: int | None = 128
                           ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn(flat) -> (P, P)`` Hessian by ``torch.func``: ``jacrev(jacrev(loss), chunk_size)``,
    reverse-over-reverse vmapped over ``chunk_size`` rows at a time (see
    :func:`make_full_hessian` for the measurements; not the ``torch.autograd.functional`` API)."""
    Xt, yt = _tensors(X, y, dtype)
    sizes = tuple(sizes)
    hess = torch.func.jacrev(torch.func.jacrev(lambda p: mlp_loss(p, Xt, yt, sizes)),
                             chunk_size=chunk_size)

    def full_hessian(flat: torch.Tensor) -> torch.Tensor:
        return hess(flat.detach().to(dtype))

    return full_hessian


# ---------------------------------------------------------------------------------------------
# PyHessian's power iteration


def _normalization(v: torch.Tensor) -> torch.Tensor:
    """PyHessian ``utils.normalization``: ``v / (||v|| + 1e-6)``, the norm taken as a Python
    float."""
    s = torch.dot(v, v).sqrt().item()
    return v / (s + 1e-6)


def _orthnormal(w: torch.Tensor, v_list: list[torch.Tensor]) -> torch.Tensor:
    """PyHessian ``utils.orthnormal``: one classical Gram-Schmidt pass of ``w`` against each of
    ``v_list`` in turn (in place, as their ``group_add`` is), then :func:`_normalization`."""
    for v in v_list:
        w.add_(v, alpha=-torch.dot(w, v).item())
    return _normalization(w)


def power_iteration_top_k(hvp: Callable[[torch.Tensor], torch.Tensor], dim: int, k: int, *,
                          max_iter: int = 100, tol: float = 1e-3, generator_seed: int = 0,
                          dtype: torch.dtype = torch.float32
                          ) -> tuple[np.ndarray, np.ndarray, int]:
    """PyHessian's ``hessian.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)``, on flat vectors.

    For each of the k eigenvalues: ``v`` = a ``torch.randn`` vector, normalised (PyHessian draws
    Gaussian starts here; its ``torch.randint`` Rademacher draws are for ``trace``/``density``).
    Then up to ``max_iter`` times: orthonormalise ``v`` against the eigenvectors already found,
    ``Hv = hvp(v)``, estimate ``<Hv, v>``, ``v = Hv / (||Hv|| + 1e-6)``; from the second
    iteration on, stop when ``|old - new| / (|old| + 1e-6) < tol``. As in PyHessian, on stopping
    the *previous* estimate is kept as the eigenvalue (the new one only decided convergence) and
    the eigenvector is the last normalised ``Hv`` (not re-orthogonalised).

    Power iteration finds the eigenvalues of largest *magnitude*, deflating each found one.
    ``hvp`` maps a flat ``(dim,)`` tensor of ``dtype`` to a flat tensor. The random starts come
    from a ``torch.Generator`` seeded with ``generator_seed`` (PyHessian uses the global RNG).

    Returns (eigenvalues ``(k,)`` in the order found, eigenvectors ``(k, dim)``, number of
    Hessian-vector products used).
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    gen = torch.Generator().manual_seed(generator_seed)
    eigenvalues: list[float] = []
    eigenvectors: list[torch.Tensor] = []
    n_hvp = 0
    while len(eigenvalues) < k:
        eigenvalue = None
        v = _normalization(torch.randn(dim, generator=gen, dtype=dtype))
        for _ in range(max_iter):
            v = _orthnormal(v, eigenvectors)
            hv = hvp(v)
            n_hvp += 1
            tmp_eigenvalue = torch.dot(hv, v).item()
            v = _normalization(hv)
            if eigenvalue is None:
                eigenvalue = tmp_eigenvalue
            elif abs(eigenvalue - tmp_eigenvalue) / (abs(eigenvalue) + 1e-6) < tol:
                break
            else:
                eigenvalue = tmp_eigenvalue
        eigenvalues.append(eigenvalue)
        eigenvectors.append(v)
    return (np.asarray(eigenvalues, np.float64),
            torch.stack(eigenvectors).detach().cpu().numpy(), n_hvp)


# ---------------------------------------------------------------------------------------------
# loss-landscapes' point-by-point 2-D slice


def _to_linear_layout(flat: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """The flat vector re-ordered to ``nn.Linear`` layout: per layer, the weight ``(out, in)``
    row-major (the transpose of our ``w``), then the bias."""
    parts = []
    for b, w in unflatten(flat, sizes):
        parts += [w.t().reshape(-1), b]
    return torch.cat(parts)


def _torch_mlp(sizes: Sequence[int]) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            mods.append(nn.Sigmoid())
        mods.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*mods)


def loss_landscapes_loop(X, y, sizes: Sequence[int], start_flat: np.ndarray, d1: np.ndarray,
                         d2: np.ndarray, *, grid: int = 101, span: float = 1.0) -> np.ndarray:
    """The loss on a ``grid x grid`` plane through ``start_flat``, point by point, the way the
    ``loss-landscapes`` library evaluates ``planar_interpolation`` / ``random_plane``.

    Convention (the same as ours): with ``alpha = beta = linspace(-span, span, grid)``,
    ``loss[i, j]`` is the loss at ``start + alpha[j] * d1 + beta[i] * d2`` (``meshgrid(alpha,
    beta)``, "xy" indexing). ``start_flat``, ``d1``, ``d2`` are flat vectors in our layout.

    As the library does: an ``nn.Module`` (``nn.Linear`` layers, sigmoid between them) holds the
    parameters, which are moved *in place*; the outer loop steps along ``d1``, the inner loop
    adds one ``d2`` step per point, and each point is evaluated as
    ``F.cross_entropy(model(X), y).item()``. The library's result ``M[i][j]`` has ``i`` along
    ``dir_one`` and ``j`` along ``dir_two``, so ours is its transpose. Two differences from the
    library, both to match the grid above: it adds a step *before* each evaluation (so its grid
    is offset by one step and never reaches ``-span`` along ``d2``), and its step is
    ``2 * span / steps`` where ``linspace`` needs ``2 * span / (grid - 1)``; here each point is
    evaluated and then stepped.

    Drift: the library walks the whole plane with in-place adds (a serpentine, stepping back
    along ``d2`` on odd rows) and accepts the accumulated float32 rounding. Here each outer line
    is re-started from the start point (``start + alpha[j] * d1 - span * d2``, one fused vector
    op per line) and only the ``grid - 1`` in-place ``d2`` adds along that line accumulate, which
    bounds the drift to one line's worth (~1e-7 relative for grid 101).

    At its best: float32, ``torch.inference_mode()``, and every parameter of the module is a
    view into one flat buffer (in ``nn.Linear`` layout; the ``(in, out)`` weights are transposed
    into it), so a step is a single ``add_`` of a ``P``-vector instead of one per tensor.
    """
    dtype = torch.float32
    sizes = tuple(sizes)
    Xt, yt = _tensors(X, y, dtype)
    s = _to_linear_layout(torch.as_tensor(np.asarray(start_flat), dtype=dtype), sizes)
    u = _to_linear_layout(torch.as_tensor(np.asarray(d1), dtype=dtype), sizes)
    w = _to_linear_layout(torch.as_tensor(np.asarray(d2), dtype=dtype), sizes)

    model = _torch_mlp(sizes).to(dtype).eval().requires_grad_(False)
    buf = torch.empty_like(s)
    k = 0
    for lin in (m for m in model if isinstance(m, nn.Linear)):
        for name in ("weight", "bias"):
            t = getattr(lin, name)
            setattr(lin, name, nn.Parameter(buf[k:k + t.numel()].view_as(t), requires_grad=False))
            k += t.numel()
    assert k == buf.numel()

    alphas = np.linspace(-span, span, grid)
    step = 2.0 * span / (grid - 1) if grid > 1 else 0.0
    d2_step = w * step
    out = np.empty((grid, grid), np.float64)
    with torch.inference_mode():
        line_start = torch.add(s, w, alpha=-span)  # start - span * d2
        for j, a in enumerate(alphas):
            torch.add(line_start, u, alpha=float(a), out=buf)
            for i in range(grid):
                out[i, j] = F.cross_entropy(model(Xt), yt).item()
                if i + 1 < grid:
                    buf.add_(d2_step)
    return out


# ---------------------------------------------------------------------------------------------
# Self-check


def _selfcheck() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    dt = torch.float64
    sizes, n = (4, 3, 2), 20
    P = num_params(sizes)
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    flat = torch.as_tensor(rng.standard_normal(P))
    Xt, yt = _tensors(X, y, dt)

    # Dense Hessian: central differences of the gradient, and symmetry.
    H = make_full_hessian(X, y, sizes, dt)(flat)
    grad = make_grad(X, y, sizes, dt)
    eps = 1e-5
    fd = torch.stack([(grad(flat + eps * e) - grad(flat - eps * e)) / (2 * eps)
                      for e in torch.eye(P, dtype=dt)])
    err_fd = (H - fd).abs().max().item()
    err_sym = (H - H.T).abs().max().item()
    err_func = (make_full_hessian_func(X, y, sizes, dt, chunk_size=7)(flat) - H).abs().max().item()

    # HVPs against H @ v (both factories).
    v = torch.as_tensor(rng.standard_normal(P))
    err_hvp = (make_hvp(X, y, sizes, dt)(flat, v) - H @ v).abs().max().item()
    err_hvp_at = (make_hvp_at(X, y, sizes, flat, dt)(v) - H @ v).abs().max().item()

    # Power iteration: top-2 by magnitude against eigvalsh.
    ev = torch.linalg.eigvalsh(H)
    ref = ev[ev.abs().argsort(descending=True)][:2].numpy()
    vals, vecs, n_hvp = power_iteration_top_k(make_hvp_at(X, y, sizes, flat, dt), P, 2,
                                              dtype=dt)
    err_pow = float(np.max(np.abs(vals - ref) / np.abs(ref)))
    tight, _, n_tight = power_iteration_top_k(make_hvp_at(X, y, sizes, flat, dt), P, 2,
                                              max_iter=2000, tol=1e-13, dtype=dt)
    err_tight = float(np.max(np.abs(tight - ref) / np.abs(ref)))
    resid = float(np.max([np.linalg.norm(H.numpy() @ q - lam * q)
                          for lam, q in zip(vals, vecs)]))

    # Landscape loop (float32) against direct float64 evaluation at each grid point.
    d1, d2 = rng.standard_normal(P), rng.standard_normal(P)
    grid, span = 5, 0.7
    land = loss_landscapes_loop(X, y, sizes, flat.numpy(), d1, d2, grid=grid, span=span)
    s = np.linspace(-span, span, grid)
    direct = np.array([[mlp_loss(flat + torch.as_tensor(a * d1 + b * d2), Xt, yt, sizes).item()
                        for a in s] for b in s])
    err_land = float(np.abs(land - direct).max())

    print(f"sizes {sizes}, n {n}, P {P}, float64 (landscape loop float32)")
    print(f"  full Hessian vs central differences of grad: max |err| {err_fd:.2e}")
    print(f"  full Hessian symmetry:                      max |H - H^T| {err_sym:.2e}")
    print(f"  make_full_hessian_func vs make_full_hessian: max |err| {err_func:.2e}")
    print(f"  make_hvp vs H @ v:                          max |err| {err_hvp:.2e}")
    print(f"  make_hvp_at vs H @ v:                       max |err| {err_hvp_at:.2e}")
    print(f"  power iteration top-2 {np.round(vals, 6)} vs eigvalsh {np.round(ref, 6)}: "
          f"max rel err {err_pow:.2e} ({n_hvp} HVPs), max ||H q - lam q|| {resid:.2e}")
    print(f"  power iteration, tol 1e-13: max rel err {err_tight:.2e} ({n_tight} HVPs)")
    print(f"  landscape loop (grid {grid}) vs direct mlp_loss: max |err| {err_land:.2e}")
    assert err_fd < 1e-7, err_fd
    assert err_sym < 1e-12, err_sym
    assert err_hvp < 1e-12 and err_hvp_at < 1e-12, (err_hvp, err_hvp_at)
    assert err_func < 1e-12, err_func
    assert err_pow < 1e-3, err_pow
    # PyHessian normalises by ||v|| + 1e-6, so the v fed to each product has norm 1 - ~1e-6 and
    # the estimate <Hv, v> is low by ~2e-6 relative: faithful, and the floor here.
    assert err_tight < 1e-5, err_tight
    assert err_land < 1e-5, err_land
    print("selfcheck OK")


if __name__ == "__main__":
    _selfcheck()
