"""workflow/scripts/train_cells.py: a study's runs trained side by side, one process each, with
their noise tables; a run that fails is reported, the others finish; a rerun trains nothing."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_runs_train_side_by_side_and_a_failure_is_reported(tmp_path, data_root):
    study = tmp_path / "side.yaml"
    study.write_text(yaml.safe_dump(dict(
        name="side", description="two runs, the second diverges",
        grid=dict(dataset=["cifar10"], model=["resnet8"], bn=["none"], seed=[0], learning_rate=[0.01, 1.0e6]),
        training=dict(epochs=1, batch_size=32, lr_schedule="constant", train_subset=64, data_dir=str(data_root)),
        noise=dict(etas=[0.0, 0.1], repeats=1, test_subset=20))))
    command = [sys.executable, str(ROOT / "workflow/scripts/train_cells.py"), str(study), "--jobs", "2",
               "--runs-dir", str(tmp_path / "runs")]
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert first.returncode != 0 and first.stdout.count(": done") == 1 and "failed (exit" in first.stdout, first.stdout
    finished = [p.parent for p in (tmp_path / "runs").glob("*/params.yaml")]
    assert len(finished) == 1 and len(pd.read_csv(finished[0] / "noise.csv")) == 2
    assert (tmp_path / "logs" / "train_cells" / f"{finished[0].name}.log").is_file()
    only = subprocess.run([*command, "--match", finished[0].name], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert only.returncode == 0 and only.stdout.strip() == f"{finished[0].name}: done", only.stdout
    assert "found finished run" in (tmp_path / "logs" / "train_cells" / f"{finished[0].name}.log").read_text()
