"""The few types every module shares, defined once."""

from __future__ import annotations

from typing import Any, Callable

import jax

#: A pytree of parameter arrays, e.g. ``{"layers": [{"w": ..., "b": ...}], "skip": {"w": ...}}``.
Params = Any
#: A pytree of arrays whose leaves share a leading sample axis, e.g. ``(x, t)``.
Batch = Any
#: A ``jax.random`` key.
Key = jax.Array
#: ``loss(params, batch) -> scalar``: the mean loss over the batch's samples.
LossFn = Callable[[Params, Batch], jax.Array]
