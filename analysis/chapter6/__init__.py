"""The chapter's experiments, one module per topic; ``EXPERIMENTS`` is what ``reproduce`` walks.

Each module has ``NAME``, ``TITLE``, ``ITEMS``, a ``Settings`` dataclass (defaults: the chapter's
settings) and ``run(settings, key) -> Result``.
"""

from . import (
               approximation,
               backprop,
               gates,
               hopfield_basins,
               hopfield_capacity,
               hopfield_example,
               hopfield_recall,
               landscapes,
               nonconvexity,
               perceptron,
               saddles,
               seed_studies,
               seven_segment,
               sgd,
               spectrum,
               weight_symmetry,
               xor,
)
from ._base import Erratum, Result, check_settings, quick

#: In the chapter's order.
EXPERIMENTS = {m.NAME: m for m in (gates, perceptron, xor, backprop, sgd, seven_segment,
                                    approximation, nonconvexity, weight_symmetry, spectrum,
                                    landscapes, saddles, seed_studies, hopfield_example,
                                    hopfield_recall, hopfield_capacity, hopfield_basins)}

__all__ = ["EXPERIMENTS", "Erratum", "Result", "check_settings", "quick"]
