"""Weight-space symmetry (C13), made numerical: the whole group, distinct minima, alignment.

The chapter counts M! permutations of M hidden units and concludes that the loss has many
equivalent minima, so it cannot be convex. Here:

* **The group, verified.** Every element of the group of a network with ``width`` hidden units
  (7! 2^7 = 645,120 for tanh and sigmoid, 7! = 5,040 for relu) is applied to its parameters in
  one compiled call and the outputs compared; for the chapter's 7-18-10 network (18! 2^18
  elements) a random sample. The group sizes by activation and width are tabulated.
* **Distinct minima.** The two-sample network, XOR 2-2-1 and the seven-segment network are
  trained from ``seeds`` initialisations each (on the seed runner); the end points that reach
  a low loss are clustered (relative distance below ``tolerance``) before and after mapping
  each to its canonical form (:func:`analysis.symmetry.canonical`), which counts the minima
  modulo symmetry.
* **Alignment.** Pairs of independently trained networks (seven-segment, and an MLP on the
  UCI digits) are matched unit by unit (weight matching) and the loss barrier on the straight
  path between them measured before and after; the barrier between a network and its own
  permuted copy makes the chapter's argument numerically.

The barrier of a path is Entezari et al.'s (2022): the largest excess of the loss over the
straight line between the end losses, max_t [L((1 - t) A + t B) - ((1 - t) L(A) + t L(B))].
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from ch6jax import data, train
from ch6jax.mlp import MLP

from .. import plots, seeds, studies
from .. import symmetry as sym
from . import nonconvexity
from ._base import Erratum, Result, study_dir

NAME = "symmetry"
TITLE = "Weight-space symmetry: the whole group, canonical forms, distinct minima, alignment"
ITEMS = ("C13",)

#: A run counts as a minimum when its final loss is below this (by network).
CONVERGED = {"two_sample": 1e-3, "xor": 1e-2, "seven_segment": 5e-2}


@dataclasses.dataclass(frozen=True)
class Settings:
    """``width``: hidden units of the fully verified network; ``sampled``: random elements for
    the 7-18-10 network; ``seeds`` end points per network, clustered within ``tolerance``
    (relative distance); ``pairs`` of networks aligned, on the seven-segment digits and on an
    MLP with ``digits_hidden`` sigmoid units trained ``digits_steps`` Adam steps on the first
    1,000 UCI digits; ``path_points`` along each straight path."""

    width: int = 7
    sampled: int = 10000
    seeds: int = 1000
    tolerance: float = 0.05
    pairs: int = 20
    digits_hidden: int = 32
    digits_steps: int = 500
    path_points: int = 25
    chunk: int = 1000
    POSITIVE = ("width", "sampled", "seeds", "tolerance", "pairs", "digits_hidden",
                "digits_steps", "path_points", "chunk")
    QUICK = {"width": 4, "sampled": 500, "seeds": 32, "pairs": 2, "digits_steps": 50}


# ---------------------------------------------------------------------------------------------
# the group, verified

def verify_group(settings: Settings, key: jax.Array) -> tuple[dict, dict]:
    """All elements for width ``settings.width`` (three activations) and a sample for the
    chapter's 7-18-10 network; (numbers, per-element deviations for the figure)."""
    numbers, deviations = {}, {}
    with jax.enable_x64(True):
        x, _ = data.seven_segment(jnp.float64)
        for activation in ("tanh", "sigmoid", "relu"):
            model = MLP((7, settings.width, 10), activation=activation, output="softmax")
            params = _random_params(model, jax.random.fold_in(key, len(numbers)))
            elements = sym.all_elements(settings.width, activation)
            start = time.perf_counter()
            worst, each = sym.max_deviation(model, params, x, elements)
            numbers[f"{activation}_{settings.width}"] = {
                "elements": int(each.size), "max_deviation": worst,
                "seconds": time.perf_counter() - start}
            deviations[activation] = each
        model = studies.SEVEN_SEGMENT_NET
        params = _random_params(model, jax.random.fold_in(key, 99))
        sample = sym.random_elements(jax.random.fold_in(key, 100), (18,), settings.sampled,
                                     model.activation)
        worst, _ = sym.max_deviation(model, params, x, sample)
        numbers["sigmoid_18_sampled"] = {"elements": settings.sampled, "max_deviation": worst,
                                         "group_size": sym.group_size((18,), "sigmoid")}
        deep = MLP((7, 6, 5, 10), activation="tanh", output="softmax")
        params = _random_params(deep, jax.random.fold_in(key, 101))
        sample = sym.random_elements(jax.random.fold_in(key, 102), (6, 5), settings.sampled,
                                     "tanh")
        worst, _ = sym.max_deviation(deep, params, x, sample)
        numbers["tanh_6_5_sampled"] = {"elements": settings.sampled, "max_deviation": worst,
                                       "group_size": sym.group_size((6, 5), "tanh")}
    return numbers, deviations


def _random_params(model: MLP, key: jax.Array):
    """float64 parameters with non-zero biases, so that no two units coincide."""
    k1, k2 = jax.random.split(key)
    params = model.init(key=k1, initializer="normal", dtype=jnp.float64)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(k2, len(leaves))
    return jax.tree.unflatten(tree, [a + 0.5 * jax.random.normal(k, a.shape, a.dtype)
                                     for a, k in zip(leaves, keys)])


def group_sizes() -> dict:
    return {a: {str(m): sym.group_size((m,), a) for m in (*range(1, 9), 18)}
            for a in ("tanh", "sigmoid", "relu")}


# ---------------------------------------------------------------------------------------------
# distinct minima

def cluster_count(vectors: np.ndarray, tolerance: float) -> tuple[int, np.ndarray]:
    """Greedy leader clustering: a vector joins the first cluster whose leader is within
    ``tolerance`` times the larger of their norms, else it leads a new one. Returns the number
    of clusters and each vector's cluster."""
    leaders, labels = [], np.empty(len(vectors), int)
    norms = np.linalg.norm(vectors, axis=1)
    for i, v in enumerate(vectors):
        for c, j in enumerate(leaders):
            if np.linalg.norm(v - vectors[j]) <= tolerance * max(norms[i], norms[j]):
                labels[i] = c
                break
        else:
            labels[i] = len(leaders)
            leaders.append(i)
    return len(leaders), labels


def distinct_minima(settings: Settings, root: int, workdir, progress: bool) -> dict:
    fn, defaults = studies.STUDIES["endpoint"]
    out = {}
    for name in ("two_sample", "xor", "seven_segment"):
        config = dict(defaults, network=name)
        table = seeds.run_study(fn, settings.seeds, config=config, chunk=settings.chunk,
                                root_seed=root, out=study_dir(workdir, f"endpoint-{name}", root,
                                                              config),
                                resume=True, progress=progress, name="endpoint")
        net = studies.NETWORKS[name][0]
        params = table.tree("params", like=net.init(key=jax.random.key(0)))
        done = np.asarray(table.columns["final_loss"]) < CONVERGED[name]
        chosen = jax.tree.map(lambda a: a[done], params)
        raw = np.asarray(jax.vmap(sym.flat)(chosen))
        canon = np.asarray(jax.vmap(lambda p: sym.flat(sym.canonical(p, net.activation)[0]))(
            chosen))
        n_raw, _ = cluster_count(raw, settings.tolerance)
        n_canon, labels = cluster_count(canon, settings.tolerance)
        sizes = np.bincount(labels) if len(labels) else np.zeros(0, int)
        out[name] = {"runs": settings.seeds, "converged": int(done.sum()),
                     "loss_threshold": CONVERGED[name], "tolerance": settings.tolerance,
                     "clusters_raw": n_raw, "clusters_canonical": n_canon,
                     "largest_canonical_cluster": int(sizes.max()) if sizes.size else 0,
                     "group_size": sym.group_size(sym.hidden_widths(
                         jax.tree.map(lambda a: a[0], params)), net.activation)}
    return out


# ---------------------------------------------------------------------------------------------
# alignment and barriers

def barrier_curve(loss, a, b, batch, ts: jax.Array) -> np.ndarray:
    """Loss along (1 - t) a + t b minus the straight line between the end losses."""
    va, unravel = jax.flatten_util.ravel_pytree(a)
    vb, _ = jax.flatten_util.ravel_pytree(b)
    values = jax.vmap(lambda t: loss(unravel((1 - t) * va + t * vb), batch))(ts)
    return values - ((1 - ts) * values[0] + ts * values[-1])


def _trained_pairs(name: str, settings: Settings, key: jax.Array):
    """2 x pairs trained networks, as (model, params stacked (2 P, ...), batch)."""
    keys = jax.random.split(key, 2 * settings.pairs)
    if name == "seven_segment":
        model = studies.SEVEN_SEGMENT_NET
        batch = studies.network_batch(name)
        params = jax.jit(jax.vmap(lambda k: studies.endpoint(k, network=name)["params"]))(keys)
        return model, params, batch
    model = MLP((64, settings.digits_hidden, 10), activation="sigmoid", output="softmax")
    x, labels = data.digits()
    batch = (x[:1000], labels[:1000])

    def fit(k):
        p = model.init(key=k)
        return train.gradient_descent(model.loss, p, batch, optimizer=optax.adam(1e-2),
                                      steps=settings.digits_steps).params

    return model, jax.jit(jax.vmap(fit))(keys), batch


def alignment(name: str, settings: Settings, key: jax.Array) -> tuple[dict, dict]:
    model, params, batch = _trained_pairs(name, settings, key)
    ts = jnp.linspace(0.0, 1.0, settings.path_points)
    curve = jax.jit(lambda a, b: barrier_curve(model.loss, a, b, batch, ts))
    before, after, own = [], [], []
    member = lambda i: jax.tree.map(lambda a: a[i], params)  # noqa: E731
    for i in range(settings.pairs):
        a, b = member(2 * i), member(2 * i + 1)
        aligned, _ = sym.align(a, b, model.activation)
        before.append(np.asarray(curve(a, b)))
        after.append(np.asarray(curve(a, jax.tree.map(jnp.asarray, aligned))))
        shuffle = jax.tree.map(lambda v: v[0], sym.random_elements(
            jax.random.fold_in(key, i), sym.hidden_widths(a), 1, model.activation))
        own.append(np.asarray(curve(a, sym.apply(a, shuffle, model.activation))))
    before, after, own = np.array(before), np.array(after), np.array(own)
    accuracy = jax.vmap(lambda p: model.accuracy(p, batch[0], _labels(batch)))(params)

    def stats(curves):
        peaks = curves.max(axis=1)
        return {"mean": float(peaks.mean()), "std": float(peaks.std(ddof=1))
                if len(peaks) > 1 else 0.0, "min": float(peaks.min()), "max": float(peaks.max())}

    numbers = {"pairs": settings.pairs, "barrier_before": stats(before),
               "barrier_after": stats(after), "barrier_to_own_permuted_copy": stats(own),
               "train_accuracy_mean": float(np.mean(accuracy)),
               "end_loss_mean": float(np.mean(jax.vmap(model.loss, in_axes=(0, None))(
                   params, batch)))}
    return numbers, {"t": np.asarray(ts), "before": before, "after": after, "own": own}


def _labels(batch):
    t = batch[1]
    return t if t.ndim == 1 else jnp.argmax(t, axis=-1)


def fig_6_11_swap_path(points: int) -> np.ndarray:
    """The chapter's own example: (a) to its hidden-unit swap (b), as a barrier curve."""
    with jax.enable_x64(True):
        a = {k: jnp.float64(v) for k, v in nonconvexity.CONFIG_A.items()}
        b = nonconvexity.swap_hidden_units(a)
        ts = jnp.linspace(0.0, 1.0, points)
        return np.asarray(barrier_curve(nonconvexity.loss, a, b, nonconvexity._batch(), ts))


# ---------------------------------------------------------------------------------------------
# figures

def group_figure(numbers: dict, deviations: dict, settings: Settings):
    fig, axes = plots.figure(1, 3, width=4.2, height=3.3, layout="constrained")
    ax = axes[0, 0]
    for (activation, dev), color in zip(deviations.items(), plots.PALETTE):
        ax.hist(np.log10(np.maximum(dev, 1e-18)), bins=60, histtype="step", lw=1.3,
                color=color, label=f"{activation}: {dev.size:,} elements")
    ax.set(title=f"Every group element, width {settings.width}: output change",
           xlabel="log10 max |f_g(x) - f(x)| (float64)", ylabel="elements")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    widths = np.arange(1, 9)
    for activation, color in zip(("tanh", "sigmoid", "relu"), plots.PALETTE):
        ax.semilogy(widths, [numbers["group_size"][activation][str(m)] for m in widths], "o-",
                    color=color, label=activation + (" (= sigmoid)" if activation == "tanh"
                                                      else ""), ms=4)
    ax.set(title="Discrete group of one hidden layer", xlabel="hidden units M",
           ylabel="elements (M! 2^M, or M!)")
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    dm = numbers["distinct_minima"]
    names = list(dm)
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [dm[n]["clusters_raw"] for n in names], 0.4, color=plots.PALETTE[4],
           label="as trained")
    ax.bar(xs + 0.2, [dm[n]["clusters_canonical"] for n in names], 0.4, color=plots.PALETTE[2],
           label="canonical form")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{n}\n({dm[n]['converged']} minima)" for n in names], fontsize=7)
    ax.set(title=f"Distinct end points (within {settings.tolerance:g})", ylabel="clusters")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    return fig


def alignment_figure(curves: dict, swap: np.ndarray):
    fig, axes = plots.figure(1, 3, width=4.2, height=3.3, layout="constrained")
    for ax, (name, c) in zip(axes[0], curves.items()):
        for key, color, label in (("before", plots.PALETTE[1], "independent pair"),
                                  ("after", plots.PALETTE[2], "after weight matching")):
            lo, mid, hi = np.percentile(c[key], [10, 50, 90], axis=0)
            ax.plot(c["t"], mid, color=color, label=label)
            ax.fill_between(c["t"], lo, hi, color=color, alpha=0.2)
        ax.set(title=f"{name}: {len(c['before'])} pairs (median, 10-90%)",
               xlabel="t in (1 - t) A + t B", ylabel="loss above the straight line")
        ax.legend(fontsize=7)
    ax = axes[0, 2]
    for (name, c), color in zip(curves.items(), plots.PALETTE):
        ax.plot(c["t"], np.median(c["own"], axis=0), color=color, label=f"{name}: A to P(A)")
    ax.plot(np.linspace(0, 1, len(swap)), swap, color="k", ls="--",
            label="Fig 6.11: (a) to (b)")
    ax.set(title="A minimum and its own permuted copy", xlabel="t",
           ylabel="loss above the straight line")
    ax.legend(fontsize=7)
    return fig


def run(settings: Settings, key: jax.Array, workdir=None, progress: bool = True) -> Result:
    if settings.width > 8:
        raise ValueError(f"width must be at most 8 to enumerate its group, got {settings.width}")
    k_group, k_seeds, k_seven, k_digits = jax.random.split(key, 4)
    root = int(jax.random.randint(k_seeds, (), 0, 2 ** 31 - 1))
    verified, deviations = verify_group(settings, k_group)
    numbers = {"group_size": group_sizes(), "max_deviation": verified,
               "activations": {a: sym.describe(a) for a in sym.FLIPS}, "root_seed": root}
    numbers["distinct_minima"] = distinct_minima(settings, root, workdir, progress)
    curves = {}
    numbers["alignment"] = {}
    for name, k in (("seven_segment", k_seven), ("digits", k_digits)):
        numbers["alignment"][name], curves[name] = alignment(name, settings, k)
    swap = fig_6_11_swap_path(settings.path_points)
    numbers["fig_6_11_swap_barrier"] = float(swap.max())
    figures = {"symmetry_group": group_figure(numbers, deviations, settings),
               "symmetry_alignment": alignment_figure(curves, swap)}
    v = verified[f"tanh_{settings.width}"]
    dm, al = numbers["distinct_minima"], numbers["alignment"]
    summary = (
        f"All {v['elements']:,} elements of the tanh group of {settings.width} hidden units "
        f"change the outputs by at most {v['max_deviation']:.1e} (sigmoid "
        f"{verified[f'sigmoid_{settings.width}']['max_deviation']:.1e}). Modulo symmetry, "
        + ", ".join(f"{n}: {d['clusters_canonical']} distinct minima among {d['converged']} "
                    f"(raw {d['clusters_raw']})" for n, d in dm.items())
        + ". Weight matching lowers the barrier between independently trained networks from "
        + ", ".join(f"{al[n]['barrier_before']['mean']:.3g} to "
                    f"{al[n]['barrier_after']['mean']:.3g} ({n})" for n in al)
        + f"; a network and its own permuted copy are separated by "
        f"{al['seven_segment']['barrier_to_own_permuted_copy']['mean']:.3g} (seven-segment), "
        f"Fig 6.11's (a) and (b) by {numbers['fig_6_11_swap_barrier']:.3g}.")
    sig = verified[f"sigmoid_{settings.width}"]
    errata = [Erratum(
        item="C13, weight-space symmetry",
        claim="M hidden units give M! equivalent parameter settings (swapping units)",
        exact=f"M! 2^M for sigmoid (and tanh) hidden units: 8 for Fig 6.11's two units, "
              f"{sym.group_size((7,), 'sigmoid'):,} for seven; all "
              f"{sig['elements']:,} elements for M = {settings.width} verified to change the "
              f"outputs by at most {sig['max_deviation']:.1e}",
        reason="each unit can also be flipped: sigma(-z) = 1 - sigma(z), so negating its "
               "incoming weights, bias and outgoing weights and adding the outgoing weights to "
               "the next layer's bias leaves the function unchanged; only relu units have the "
               "M! alone (plus a continuous rescaling)")]
    return Result({"symmetry": numbers}, figures, errata, summary)
