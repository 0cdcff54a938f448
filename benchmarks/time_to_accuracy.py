"""Time to accuracy of a study's training recipe: per epoch, the accuracy on the monitored test
images (the first 1,000 in official order: on the rebuilt CIFAR-10 copy, the ones with exact
pixels) and the training speed in images/s, for each arm (BN, no BN) of each model and seed,
from the runs' histories (finished, still training, or committed in results/<study>/).

    python benchmarks/time_to_accuracy.py [paper-accuracy]

Speeds are as measured while the runs trained (two one-thread jobs side by side on the 2-core
machines here, with other work at times): compare arms within one run of this script's table,
not with other machines.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from analognoise import runs, studies
from analognoise.paths import RESULTS_DIR, resolve


def history(cell: studies.Cell, study_name: str) -> pd.DataFrame | None:
    """The run's per-epoch history wherever it is: finished, partial, or committed."""
    places = [runs.run_dir(cell.run_id) / runs.HISTORY, runs.partial_dir(cell.run_id) / runs.HISTORY,
              resolve(RESULTS_DIR) / study_name / "models" / f"{cell.run_id}.history.csv",
              resolve(RESULTS_DIR) / study_name / "partial" / cell.run_id / runs.HISTORY]
    found = next((p for p in places if Path(p).is_file()), None)
    return pd.read_csv(found) if found else None


def main() -> None:
    config = studies.load_study(sys.argv[1] if len(sys.argv) > 1 else "paper-accuracy")
    rows = []
    for cell in studies.expand(config):
        table = history(cell, config["name"])
        if table is None or "test_accuracy" not in table:
            continue
        images = 50_000 if cell.params["train_subset"] is None else cell.params["train_subset"]
        for r in table.itertuples():
            rows.append(dict(model=cell.model, arm=cell.variant, seed=cell.params["seed"], epoch=r.epoch,
                             test_accuracy=100 * r.test_accuracy, images_per_s=images / r.seconds))
    if not rows:
        sys.exit(f"no run of {config['name']} has a history with test accuracy yet: train it first")
    frame = pd.DataFrame(rows)
    label = frame.model + ", " + frame.arm + ", seed " + frame.seed.astype(str)
    print(f"study {config['name']}: test accuracy (%) on the monitored test images after each epoch")
    print(frame.assign(run=label).pivot_table(index="epoch", columns="run", values="test_accuracy").round(1)
          .to_string())
    print("\ntraining speed (images/s, median over epochs)")
    print(frame.assign(run=label).groupby("run").images_per_s.median().round(0).to_string())
    best = frame.assign(run=label).groupby("run").test_accuracy.agg(["max", "last"]).round(1)
    print("\nbest and last test accuracy (%)")
    print(best.to_string())


if __name__ == "__main__":
    main()
