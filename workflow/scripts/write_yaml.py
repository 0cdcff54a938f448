"""Write YAML given as text (flow style) to a file in block style, atomically.

    python workflow/scripts/write_yaml.py OUT.yml "{a: 1, b: [x, y]}"
"""
import os
import sys
from pathlib import Path

import yaml

target = Path(sys.argv[1])
target.parent.mkdir(parents=True, exist_ok=True)
tmp = target.with_name(target.name + ".tmp")
tmp.write_text(yaml.safe_dump(yaml.safe_load(sys.argv[2]), sort_keys=False))
os.replace(tmp, target)
