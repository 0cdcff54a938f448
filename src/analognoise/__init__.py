"""analognoise: weight-noise robustness of deep networks with and without batch normalization.

Modules: ``data``, ``models``, ``training``, ``noise``, ``metrics``, ``plots``, ``paths``.
Import them explicitly (``from analognoise import noise``); importing the package itself is
cheap and does not load TensorFlow.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ INFO/WARNING lines (CPU features, missing CUDA) would fill every notebook.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
