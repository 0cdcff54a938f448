"""Run a BN-placement search config (analognoise.bnsearch.run_search) into results/<name>/.

    python workflow/scripts/bn_search.py studies/bnsearch/vgg16-cifar10.yaml
"""
import sys

from analognoise.runtime import use_threads

use_threads()
from analognoise import bnsearch  # noqa: E402

print("wrote", bnsearch.run_search(sys.argv[1]))
