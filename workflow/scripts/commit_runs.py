"""Commit a study's runs into results/<study>/: finished runs' weights (models/), runs still
training (partial/, their last finished epoch), and the tidy results of every finished run that
has its noise tables (runs.csv, histories.csv, noise.csv, ...; see
analognoise.analysis.export_results with finished_only), so a fresh clone uses the first without
training, another machine resumes the second bit-identically, and the book shows the third.

    python workflow/scripts/commit_runs.py paper-accuracy
"""
import sys

from analognoise import analysis, runs, studies
from analognoise.paths import RESULTS_DIR

config = studies.load_study(sys.argv[1])
dest = f"{RESULTS_DIR}/{config['name']}"
for run_id, state in runs.export_runs([c.run_id for c in studies.expand(config)], dest).items():
    print(f"{run_id}: {state}")
finished = analysis.finished_cells(config)
if finished:
    analysis.export_results(config, dest, finished_only=True)
    print(f"results of {len(finished)} finished run(s) exported to {dest}/")
else:
    print("no finished run has its noise tables yet: `make commit-runs` makes them first")
