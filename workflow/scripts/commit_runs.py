"""Commit a study's runs into results/<study>/: finished runs' weights (models/) and runs still
training (partial/, their last finished epoch), so a fresh clone uses the first without
training and another machine resumes the second bit-identically.

    python workflow/scripts/commit_runs.py paper-accuracy
"""
import sys

from analognoise import runs, studies
from analognoise.paths import RESULTS_DIR

config = studies.load_study(sys.argv[1])
for run_id, state in runs.export_runs([c.run_id for c in studies.expand(config)],
                                      f"{RESULTS_DIR}/{config['name']}").items():
    print(f"{run_id}: {state}")
