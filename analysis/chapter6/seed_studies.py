"""Seed studies: the same training from thousands of initialisations (C14).

The chapter says backpropagation is sensitive to its initialisation and ends in different
minima. Three studies measure how much: Fig 6.11's two-sample network (does every seed reach a
near-zero loss?), the seven-segment network (how stable is its reading of irregular digits?) and
XOR with two hidden units (how often does gradient descent fail within its step budget?).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ch6jax import data

from .. import plots, seeds, studies
from ._base import Result, study_dir

NAME = "seed_studies"
TITLE = "Seed studies: thousands of initialisations"
ITEMS = ("C14", "C10", "C13")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Seeds per study; ``chunk`` seeds per compiled call (results do not depend on it)."""

    two_sample_seeds: int = 10000
    seven_segment_seeds: int = 1000
    xor_seeds: int = 1000
    chunk: int = 1024
    POSITIVE = ("two_sample_seeds", "seven_segment_seeds", "xor_seeds", "chunk")
    QUICK = {"two_sample_seeds": 512, "seven_segment_seeds": 64, "xor_seeds": 256}


def _run(name: str, n: int, settings: Settings, root: int, workdir, progress: bool):
    fn, config = studies.STUDIES[name]
    out = study_dir(workdir, name, root, config)
    return seeds.run_study(fn, n, config=config, chunk=settings.chunk, root_seed=root, out=out,
                           resume=True, progress=progress, name=name)


def summarise(name: str, table: seeds.SeedTable, config: dict) -> dict:
    """The numbers a study run with ``config`` reports, from its table."""
    c = table.columns
    base = {"seeds": len(table), "non_finite": int((~table.finite).sum()), "config": config}
    loss = c["final_loss"]
    base["final_loss_quantiles"] = dict(zip(
        ("p1", "p10", "p50", "p90", "p99"), np.percentile(loss, [1, 10, 50, 90, 99]).tolist()))
    if name == "two_sample":
        base["fraction_converged"] = float(np.mean(c["converged"]))
        base["near_zero_threshold"] = studies.NEAR_ZERO_LOSS
    elif name == "seven_segment":
        acc = c["irregular_accuracy"]
        _, labels, why = data.seven_segment_irregular()
        agree = (c["irregular_predicted"] == np.asarray(labels)).mean(axis=0)
        base.update(irregular_accuracy_mean=float(acc.mean()),
                    irregular_accuracy_std=float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                    standard_accuracy_mean=float(c["standard_accuracy"].mean()),
                    per_glyph_agreement={w: float(a) for w, a in zip(why, agree)})
    elif name == "xor":
        base["fraction_failed"] = float(np.mean(c["failed"]))
    return base


def figure(tables: dict, numbers: dict):
    fig, axes = plots.figure(1, 3, width=4.0, height=3.4, layout="constrained")
    ax = axes[0, 0]
    loss = tables["two_sample"].columns["final_loss"]
    ax.hist(np.log10(np.maximum(loss, 1e-18)), bins=50, color=plots.PALETTE[0])
    ax.axvline(np.log10(studies.NEAR_ZERO_LOSS), color="k", ls="--", lw=1, label="near zero")
    ax.set(title=f"Two-sample net\n{numbers['two_sample']['fraction_converged']:.1%} reach "
                 f"~0 ({len(loss)} seeds)", xlabel="log10 final loss", ylabel="seeds")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    n7 = numbers["seven_segment"]
    agree = n7["per_glyph_agreement"]
    ax.barh(range(len(agree)), list(agree.values()), color=plots.PALETTE[2])
    ax.set_yticks(range(len(agree)))
    ax.set_yticklabels([f"{label} = {lit}" for lit, label, _ in data.IRREGULAR], fontsize=7)
    ax.set(xlim=(0, 1), xlabel="fraction of seeds reading it as a person does",
           title=f"Irregular digits\naccuracy {n7['irregular_accuracy_mean']:.2f} "
                 f"± {n7['irregular_accuracy_std']:.2f}")
    ax = axes[0, 2]
    x = tables["xor"].columns
    failed = np.asarray(x["failed"], bool)
    bins = np.linspace(np.log10(max(x["final_loss"].min(), 1e-12)), np.log10(x["final_loss"].max()) + 1e-9, 40)
    ax.hist(np.log10(x["final_loss"][~failed]), bins=bins, color=plots.PALETTE[2], label="solved")
    ax.hist(np.log10(x["final_loss"][failed]), bins=bins, color=plots.PALETTE[3], label="failed")
    ax.set(title=f"XOR 2-2-1\n{numbers['xor']['fraction_failed']:.1%} fail "
                 f"({len(failed)} seeds)", xlabel="log10 final loss", ylabel="seeds")
    ax.legend(fontsize=7)
    return fig


def run(settings: Settings, key: jax.Array, workdir=None, progress: bool = True) -> Result:
    root = int(jax.random.randint(key, (), 0, 2 ** 31 - 1))
    sizes = {"two_sample": settings.two_sample_seeds,
             "seven_segment": settings.seven_segment_seeds, "xor": settings.xor_seeds}
    tables = {name: _run(name, n, settings, root, workdir, progress) for name, n in sizes.items()}
    numbers = {name: summarise(name, t, studies.STUDIES[name][1]) for name, t in tables.items()}
    numbers["root_seed"] = root
    n2, n7, nx = numbers["two_sample"], numbers["seven_segment"], numbers["xor"]
    summary = (f"Two-sample network: {n2['fraction_converged']:.1%} of {n2['seeds']} seeds reach a "
               f"loss below {studies.NEAR_ZERO_LOSS:g}. Seven segments: irregular accuracy "
               f"{n7['irregular_accuracy_mean']:.3f} ± {n7['irregular_accuracy_std']:.3f} over "
               f"{n7['seeds']} seeds (standard digits {n7['standard_accuracy_mean']:.3f}). "
               f"XOR 2-2-1: {nx['fraction_failed']:.1%} of {nx['seeds']} seeds fail within "
               f"{studies.STUDIES['xor'][1]['steps']} steps.")
    return Result({"seeds": numbers}, {"seed_studies": figure(tables, numbers)}, [], summary)
