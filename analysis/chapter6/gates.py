"""Fig 6.2 and Hebb's rule: fixed McCulloch-Pitts neurons as logic gates (C1, C2)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import data, neurons

from .. import plots
from ._base import Result

NAME = "gates"
TITLE = "McCulloch-Pitts neurons as logic gates; Hebb's rule"
ITEMS = ("C1", "C2")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Hebb's rule demo: ``hebb_steps`` co-activations of two units at learning rate ``eta``."""

    eta: float = 0.1
    hebb_steps: int = 100
    POSITIVE = ("eta", "hebb_steps")


def run(settings: Settings, key: jax.Array, workdir=None) -> Result:
    x, _ = data.logic("AND")
    numbers = {}
    fig, axes = plots.figure(1, 3, width=3.2, height=3.0)
    for ax, name in zip(axes[0], ("AND", "OR")):
        gate = neurons.GATES[name]
        out = np.asarray(gate(x))
        _, expected = data.logic(name)
        threshold_form = np.asarray(neurons.mp_neuron(x, jnp.asarray(gate.w), gate.t))
        bias_form = np.asarray(neurons.mp_neuron_bias(x, jnp.asarray(gate.w), gate.b))
        numbers[name] = {"w": list(gate.w), "t": gate.t, "truth_table": out.tolist(),
                         "correct": int((out == np.asarray(expected)).sum()),
                         "forms_agree": bool((threshold_form == bias_form).all())}
        plots.scatter_classes(ax, x, 2 * out - 1, labels=("fires (1)", "silent (0)"))
        plots.decision_line(ax, gate.w, gate.b, (-0.3, 1.3), color="k", lw=1)
        ax.set(title=f"{name}: x + y >= {gate.t}", xlabel="x", ylabel="y",
               xlim=(-0.3, 1.3), ylim=(-0.3, 1.3))
        ax.legend(loc="upper right", fontsize=7)
    not_out = np.asarray(neurons.NOT(jnp.array([[0.0], [1.0]])))
    numbers["NOT"] = {"w": list(neurons.NOT.w), "t": neurons.NOT.t,
                      "truth_table": not_out.tolist(), "correct": int((not_out == [1, 0]).sum())}

    # Hebb (6.3): two units driven by a common random source are correlated; a third is not.
    source = jnp.sign(jax.random.normal(key, (settings.hebb_steps,)))
    noise = jnp.sign(jax.random.normal(jax.random.fold_in(key, 1), (settings.hebb_steps,)))
    pre = jnp.stack([source, noise], axis=1)       # presynaptic: correlated, independent
    post = source[:, None]                          # postsynaptic follows the source
    def step(w, zs):
        w = neurons.hebb_update(w, zs[0], zs[1], settings.eta)
        return w, w[0]

    _, path = jax.lax.scan(step, jnp.zeros((1, 2)), (post, pre))
    path = np.asarray(path)
    ks = np.arange(1, settings.hebb_steps + 1)
    numbers["hebb"] = {"eta": settings.eta, "steps": settings.hebb_steps,
                       "w_correlated": float(path[-1, 0]), "w_independent": float(path[-1, 1])}
    ax = axes[0, 2]
    ax.plot(ks, path[:, 0], color=plots.PALETTE[0], label="correlated input")
    ax.plot(ks, path[:, 1], color=plots.PALETTE[1], label="independent input")
    ax.set(title="Hebb's rule (6.3): weights", xlabel="co-activations", ylabel="w")
    ax.legend(fontsize=7)
    summary = (f"AND and OR each realised by one neuron ({numbers['AND']['correct']}/4 and "
               f"{numbers['OR']['correct']}/4 rows correct). Hebb's rule, which sees no labels, "
               f"grows the weight of a perfectly correlated input by eta per co-activation (to "
               f"{path[-1, 0]:.2f} after {settings.hebb_steps}), while an independent input's "
               f"weight only random-walks ({path[-1, 1]:.2f}).")
    return Result({"gates": numbers}, {"fig6_2_gates": fig}, [], summary)
