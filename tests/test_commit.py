"""The size cap on what `make commit-runs` commits (analognoise.commit): a file over the limit is
left out and said so; a commit over the budget is refused with the folders as they were."""
from pathlib import Path

import pytest

from analognoise import commit, runs


def study(tmp_path, **limits):
    config = dict(name="capped", grid=dict(dataset=["cifar10"], model=["resnet8"], bn=["all", "none"], seed=[0]),
                  training=dict(epochs=1), noise=dict(etas=[0.0], repeats=1))
    if limits:
        config["commit"] = limits
    return config, tmp_path / "results" / "capped"


def fake_export(sizes_mb):
    """export_runs writing a weights file of the given size (MB) per run id, in order."""
    def export_runs(run_ids, dest, partial=True, params=None):
        (Path(dest) / "models").mkdir(parents=True, exist_ok=True)
        for rid, size in zip(run_ids, sizes_mb):
            (Path(dest) / "models" / f"{rid}.weights.h5").write_bytes(b"0" * int(size * 2 ** 20))
            (Path(dest) / "models" / f"{rid}.yaml").write_text("record")
        return {rid: "model" for rid in run_ids}
    return export_runs


def test_a_file_over_the_limit_is_left_out_and_said_so(tmp_path, monkeypatch):
    config, dest = study(tmp_path, max_file_mb=1)
    monkeypatch.setattr(runs, "export_runs", fake_export([2, 0.5]))
    states = commit.commit_study(config, dest)
    kept = sorted(p.name for p in (dest / "models").glob("*.weights.h5"))
    assert len(kept) == 1
    big = next(rid for rid, state in states.items() if "left out" in state)
    assert "2.0 MB > commit.max_file_mb 1" in states[big] and not (dest / "models" / f"{big}.weights.h5").exists()


def test_a_commit_over_the_budget_is_refused_and_nothing_changes(tmp_path, monkeypatch):
    config, dest = study(tmp_path, max_file_mb=10, max_total_mb=3)
    (dest / "models").mkdir(parents=True)
    (dest / "models" / "earlier.weights.h5").write_text("committed before")
    monkeypatch.setattr(runs, "export_runs", fake_export([2, 2]))
    with pytest.raises(ValueError, match="would add 4 MB .* over commit.max_total_mb 3: nothing was committed"):
        commit.commit_study(config, dest)
    assert sorted(p.name for p in (dest / "models").iterdir()) == ["earlier.weights.h5"]


def test_a_training_state_over_the_limit_goes_whole(tmp_path, monkeypatch):
    config, dest = study(tmp_path, max_file_mb=1)

    def export_runs(run_ids, dest, partial=True, params=None):
        state = Path(dest) / "partial" / run_ids[0]
        (state / "checkpoints").mkdir(parents=True)
        (state / "checkpoints" / "epoch-0001.weights.h5").write_bytes(b"0" * 2 ** 21)
        (state / "state.json").write_text('{"epochs_done": 1}')
        return {run_ids[0]: "partial (1 epochs)"}

    monkeypatch.setattr(runs, "export_runs", export_runs)
    states = commit.commit_study(config, dest)
    (rid, state), = states.items()
    assert state.startswith("partial (1 epochs); epoch-0001.weights.h5 left out") and not (dest / "partial" / rid).exists()
