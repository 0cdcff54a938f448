"""Print the noise tables (main and ablation) of a study's runs that have finished training or
are committed, for Snakemake to make before `make commit-runs` exports them.

    python workflow/scripts/finished_noise_targets.py paper-accuracy
"""
import sys

from analognoise import runs, studies
from analognoise.paths import RUNS_DIR

config = studies.load_study(sys.argv[1])
for cell in studies.expand(config):
    if (runs.run_dir(cell.run_id) / runs.RECORD).is_file() or runs.committed_models(cell.run_id):
        print(f"{RUNS_DIR}/{cell.run_id}/noise.csv")
        for targets in cell.ablation_runs:
            print(f"{RUNS_DIR}/{cell.run_id}/{studies.noise_file(targets)}")
