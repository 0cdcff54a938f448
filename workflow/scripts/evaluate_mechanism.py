"""The mechanism study's interventions (analognoise.mechanism.evaluate): diagnostics and noise
grids of trained models before and after silencing their dead BN channels, into results/<name>/.

    python workflow/scripts/evaluate_mechanism.py studies/mechanism/interventions.yaml
"""
import sys

from analognoise.mechanism import evaluate

print(evaluate(sys.argv[1]))
