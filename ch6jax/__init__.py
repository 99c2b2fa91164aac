"""ch6jax: the models and learning rules of Chapter 6 as pure JAX functions.

Modules map onto the chapter: :mod:`neurons` (C1, C2), :mod:`perceptron` (C3, C4),
:mod:`mlp` (C5, C6), :mod:`losses` and :mod:`backprop` (C7, C8), :mod:`train` (C9),
:mod:`data` (the chapter's data sets).

Example:
  >>> import jax
  >>> from ch6jax import data, mlp, train
  >>> x, labels = data.seven_segment()
  >>> net = mlp.MLP((7, 18, 10), activation="sigmoid", output="softmax")
  >>> params = net.init(key=jax.random.key(0))
  >>> result = train.gradient_descent(net.loss, params, (x, data.one_hot(labels)),
  ...                                 learning_rate=0.5, steps=2000)
"""

from . import backprop, data, ensemble, losses, mlp, neurons, perceptron, train
from .mlp import MLP

__all__ = ["MLP", "backprop", "data", "ensemble", "losses", "mlp", "neurons", "perceptron", "train"]
__version__ = "0.1.0"
