"""The chapter's networks, trained, for the second-order instruments (``hessian``, ``landscape``).

Each is the network of a seed study (:mod:`analysis.studies`), on its own data, trained by
full-batch gradient descent in float64 (second-order analysis needs float64: eigenvalues near
zero decide minimum against saddle) from the initialisation its key draws.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ch6jax import train
from ch6jax.mlp import MLP

from .. import studies


class Spec(NamedTuple):
    model: MLP
    initializer: str
    learning_rate: float
    steps: int
    description: str


DESCRIPTIONS = {
    "two_sample": "Fig 6.11's 1-2-1 sigmoid network on its two samples, loss (6.53)",
    "xor": "XOR with a 2-2-1 sigmoid network, squared error",
    "seven_segment": "Fig 6.9's 7-18-10 network on the ten digits, softmax cross-entropy",
}

#: name -> how it is built and trained: the seed studies' settings (:data:`studies.NETWORKS`).
MODELS = {name: Spec(*studies.NETWORKS[name], DESCRIPTIONS[name]) for name in DESCRIPTIONS}


def batch(name: str):
    """The network's training data in float64."""
    with jax.enable_x64(True):
        return studies.network_batch(name, jnp.float64)


class Trained(NamedTuple):
    name: str
    model: MLP
    params: Any          # the end point (float64 pytree)
    batch: Any
    trajectory: Any      # the parameters at snapshots+1 evenly spaced steps, start and end included
    steps: int
    snapshot_steps: list[int]   # the step of each snapshot


def train_model(name: str, key: jax.Array, *, steps: int = 0, learning_rate: float = 0.0,
                snapshots: int = 20) -> Trained:
    """Train the chapter network ``name`` from the initialisation ``key`` draws; ``steps`` and
    ``learning_rate`` of 0 mean the network's own (:data:`MODELS`)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    spec = MODELS[name]
    steps = steps or spec.steps
    learning_rate = learning_rate or spec.learning_rate
    snapshots = max(1, min(snapshots, steps))
    with jax.enable_x64(True):
        b = batch(name)
        params = spec.model.init(key=key, initializer=spec.initializer, dtype=jnp.float64)
        path, at = [params], [0]
        done = 0
        for k in range(snapshots):   # equal segments (the last takes the remainder)
            n = (steps - done) // (snapshots - k)
            params = train.gradient_descent(spec.model.loss, params, b,
                                            learning_rate=learning_rate, steps=n).params
            done += n
            path.append(params)
            at.append(done)
        trajectory = jax.tree.map(lambda *a: jnp.stack(a), *path)
    return Trained(name, spec.model, params, b, trajectory, steps, at)


def parameter_count(params) -> int:
    return int(sum(np.size(a) for a in jax.tree.leaves(params)))
