"""Commit a study's runs as they stand into results/<study>/ (analognoise.commit.commit_study):
finished runs' weights (models/), runs still training (partial/, their last finished epoch) and
the tidy results of every finished run that has its noise tables, so a fresh clone uses the
first without training, another machine resumes the second bit-identically, and the book shows
the third. A study's ``weights:`` narrows the weights committed (``front``, ``none``).

    python workflow/scripts/commit_runs.py paper-accuracy
"""
import sys

from analognoise.commit import commit_study

for run_id, state in commit_study(sys.argv[1]).items():
    print(f"{run_id}: {state}")
