"""Evaluate a device-noise config (analognoise.devicenoise) into results/<name>/.

    python workflow/scripts/evaluate_device_noise.py studies/device/paper-accuracy-device.yaml
"""
import sys

from analognoise.runtime import use_threads

use_threads()
from analognoise import devicenoise  # noqa: E402

print("wrote", devicenoise.evaluate(sys.argv[1]))
