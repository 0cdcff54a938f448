"""analognoise: weight-noise robustness of deep networks with and without batch normalization.

Modules: ``data``, ``models``, ``training``, ``noise``, ``metrics``, ``plots``, ``paths``.
Import them explicitly (``from analognoise import noise``); importing the package itself is
cheap and does not load TensorFlow.
"""

__version__ = "0.1.0"
