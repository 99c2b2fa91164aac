"""The chapter's Hopfield example (C15, C16; (6.62)-(6.68), Fig 6.14), computed exactly.

Two 5-neuron patterns xi1 = (1, -1, 1, -1, 1) and xi2 = -xi1 stored by Hebb's rule (6.68); the
printed weight matrix (6.62) compared with it; one-step recall (6.63); the perturbed probes xi3
and xi4 relaxed asynchronously in every one of the 5! orders and synchronously; the energy
(6.65) of all 32 states, drawn against the Hamming distance to xi1 so that the two basins and
their attractors show (Fig 6.14), with a probe's descent; and the chapter's claim that {0, 1}
states with bias -0.5 decide as {-1, 1} states do, checked.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import numpy as np

from ch6jax import hopfield

from .. import plots
from ._base import Erratum, Result

NAME = "hopfield"
TITLE = "Hopfield network: the chapter's example, its energy landscape and the {0, 1} encoding"
ITEMS = ("C15", "C16")

XI = {"xi1": (1, -1, 1, -1, 1), "xi2": (-1, 1, -1, 1, -1), "xi3": (1, -1, -1, -1, 1),
      "xi4": (-1, 1, 1, 1, -1)}
#: (6.62) as printed; row 5 reads (0.4, -0.4, 0.4, 0.4, 0).
PRINTED_6_62 = np.array([[0, -0.4, 0.4, -0.4, 0.4], [-0.4, 0, -0.4, 0.4, -0.4],
                         [0.4, -0.4, 0, -0.4, 0.4], [-0.4, 0.4, -0.4, 0, -0.4],
                         [0.4, -0.4, 0.4, 0.4, 0]])


@dataclasses.dataclass(frozen=True)
class Settings:
    """``random_orders`` asynchronous runs from random orders for each probe (besides all 5!
    fixed orders)."""

    random_orders: int = 1000
    POSITIVE = ("random_orders",)
    QUICK = {"random_orders": 100}


def all_states(n: int) -> np.ndarray:
    return np.array(list(itertools.product((-1, 1), repeat=n)), np.int8)


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    with jax.enable_x64(True):
        patterns = np.array([XI["xi1"], XI["xi2"]])
        w = np.asarray(hopfield.hebb(patterns))
        n = w.shape[0]
        fields = {k: (w @ np.array(v)).tolist() for k, v in XI.items()}
        recall = {}
        for name in XI:
            probe = np.array(XI[name])
            finals = set()
            for order in itertools.permutations(range(n)):
                r = hopfield.relax(w, probe, order=np.array(order))
                finals.add(tuple(int(v) for v in np.asarray(r.states)))
            rand = hopfield.relax(w, np.tile(probe, (settings.random_orders, 1)),
                                  key=jax.random.fold_in(key, len(recall)))
            finals |= {tuple(int(v) for v in row) for row in np.asarray(rand.states)}
            sync = hopfield.relax(w, probe, mode="sync")
            recall[name] = {"async_final_states": sorted(finals),
                            "sync_final": [int(v) for v in np.asarray(sync.states)],
                            "sync_cycle": bool(sync.cycle)}
        states = all_states(n)
        energies = np.asarray(hopfield.energy(w, states))
        # attractors: no single flip lowers the energy (async fixed points, ties to +1 rule)
        settled = hopfield.relax(w, states, max_sweeps=1)
        fixed = np.asarray(settled.sweeps) == 0
        # every single-neuron update from every state, in every order: the largest increase
        every = hopfield.relax(w, np.repeat(states, 20, axis=0), key=jax.random.fold_in(key, 99),
                               record_energy="update")
        max_increase = float(np.diff(np.asarray(every.energies), axis=1).max())
        descent = hopfield.relax(w, np.array(XI["xi4"]), order=np.arange(n),
                                 record_energy="update")
        # the {0, 1} encoding: the chapter's bias -0.5 against the exact equivalent
        exact_bias = np.asarray(hopfield.binary_bias(w))
        binary = hopfield.to_binary(patterns)
        chapter = hopfield.relax(w, binary, np.full(n, -0.5), encoding="binary",
                                 order=np.arange(n))
        equivalent = hopfield.relax(w, binary, exact_bias, encoding="binary",
                                    order=np.arange(n))
    numbers = {
        "example": {"W": w.tolist(), "printed_6_62": PRINTED_6_62.tolist(),
                    "printed_differs_at": [[int(i) + 1, int(j) + 1] for i, j in
                                           zip(*np.nonzero(~np.isclose(w, PRINTED_6_62)))],
                    "fields": fields, "recall": recall},
        "energy": {"states": states.tolist(), "values": energies.tolist(),
                   "attractors": [list(map(int, s)) for s in states[fixed]],
                   "max_increase_async": max_increase},
        "binary_encoding": {
            "exact_equivalent_bias": exact_bias.tolist(),
            "stored_fixed_with_bias_minus_half": [
                bool(np.array_equal(np.asarray(chapter.states)[i], np.asarray(binary)[i]))
                for i in range(2)],
            "stored_fixed_with_exact_bias": [
                bool(np.array_equal(np.asarray(equivalent.states)[i], np.asarray(binary)[i]))
                for i in range(2)]},
    }
    errata = _errata(numbers)
    figures = {"fig6_14_energy": figure(states, energies, fixed, descent, w)}
    r3, r4 = recall["xi3"]["async_final_states"], recall["xi4"]["async_final_states"]
    summary = (
        f"Hebb's rule gives W = 0.4 xi1 xi1^T with zero diagonal; the printed (6.62) differs at "
        f"{numbers['example']['printed_differs_at']} (it is not symmetric). xi3 ends in "
        f"{r3} and xi4 in {r4} over all 120 orders and {settings.random_orders} random ones. "
        f"The 32 states have {int(fixed.sum())} attractors; no single asynchronous update "
        f"raised the energy (largest change {max_increase:.1e}). With {{0, 1}} states and the "
        f"chapter's bias -0.5, the stored patterns stay fixed: "
        f"{numbers['binary_encoding']['stored_fixed_with_bias_minus_half']}; with the exact "
        f"equivalent bias {np.round(exact_bias, 3).tolist()}: "
        f"{numbers['binary_encoding']['stored_fixed_with_exact_bias']}.")
    return Result({"hopfield": numbers}, figures, errata, summary)


def _errata(numbers: dict) -> list:
    out = []
    ex = numbers["example"]
    if ex["printed_differs_at"]:
        w = np.array(ex["W"])
        where = ", ".join(f"w{i}{j}: printed {PRINTED_6_62[i - 1, j - 1]:g}, exact "
                          f"{w[i - 1, j - 1]:g}" for i, j in ex["printed_differs_at"])
        out.append(Erratum("C15, (6.62)", "the weight matrix of the two stored patterns",
                           where + " (W = 0.4 xi1 xi1^T with zero diagonal)",
                           "a sign slip in the printed row 5: the printed matrix is not "
                           "symmetric, which the network's definition requires; (6.63)'s "
                           "fields 1.6 are the exact matrix's"))
    be = numbers["binary_encoding"]
    if not all(be["stored_fixed_with_bias_minus_half"]):
        out.append(Erratum(
            "C15, {0, 1} encoding", "with {0, 1} states a bias of -0.5 gives the equivalent "
            "decision",
            f"the exactly equivalent bias is b'_i = (b_i - sum_j w_ij) / 2 = "
            f"{np.round(be['exact_equivalent_bias'], 3).tolist()} for the example; with -0.5 "
            f"the stored patterns' fixed-point status is "
            f"{be['stored_fixed_with_bias_minus_half']} (xi1, xi2)",
            "substituting s = (sigma + 1) / 2 into sum_j w_ij sigma_j turns the threshold into "
            "sum_j w_ij / 2, which is -0.5 only when a row of W sums to 1"))
    return out


def figure(states, energies, fixed, descent, w):
    fig, axes = plots.figure(1, 2, width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    xi1 = np.array(XI["xi1"])
    dist = (states != xi1).sum(axis=1)
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.18, 0.18, len(states))
    index = {tuple(s): i for i, s in enumerate(states)}
    for i, s in enumerate(states):   # arrows: single flips that lower the energy
        for j in range(len(s)):
            t = s.copy()
            t[j] = -t[j]
            k = index[tuple(t)]
            if energies[k] < energies[i] - 1e-12:
                ax.annotate("", (dist[k] + jitter[k], energies[k]),
                            (dist[i] + jitter[i], energies[i]),
                            arrowprops=dict(arrowstyle="->", color="0.75", lw=0.6))
    ax.scatter(dist + jitter, energies,
               c=np.where(fixed, plots.CLASS_COLORS[1], plots.CLASS_COLORS[0]), s=22, zorder=3)
    for name in ("xi1", "xi2", "xi3", "xi4"):
        k = index[tuple(XI[name])]
        ax.annotate(name, (dist[k] + jitter[k], energies[k]), xytext=(4, 3),
                    textcoords="offset points", fontsize=8)
    ax.set(title="Fig 6.14: energy (6.65) of all 32 states (red: attractors;\n"
                 "arrows: single flips that lower it)",
           xlabel="Hamming distance to xi1", ylabel="energy")
    ax = axes[0, 1]
    e = np.asarray(descent.energies)
    ax.step(np.arange(len(e)), e, where="post", color=plots.PALETTE[1])
    ax.set(title="xi4 relaxing (neurons 1..5 in order)", xlabel="single-neuron updates",
           ylabel="energy")
    ax.set_xlim(0, 15)
    return fig
