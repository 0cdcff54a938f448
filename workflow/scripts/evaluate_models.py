"""Evaluate the models of a pretrained-models config under its noise grid (see
analognoise.external.evaluate_models) into results/<name>/.

    python workflow/scripts/evaluate_models.py studies/pretrained/crosssim-keras-resnet.yaml
"""
import sys

from analognoise.runtime import use_threads

use_threads()
from analognoise import external  # noqa: E402

print("wrote", external.evaluate_models(sys.argv[1]))
