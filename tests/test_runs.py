"""The run directory: atomic writes, and runs that travel through committed results
(finished weights a fresh clone uses without training, partial runs resumed elsewhere)."""
import numpy as np
import pandas as pd
import pytest

from analognoise import noise, params, runs, training


def tiny(**kw):
    return params.make_params(**{"depth": 8, "epochs": 2, "batch_size": 64} | kw)


def test_atomic_path_leaves_the_old_result_when_writing_fails(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with runs.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
    with runs.atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with runs.atomic_path(tmp_path / "folder", directory=True) as tmp:
        (tmp / "a.csv").write_text("a")
    assert (tmp_path / "folder" / "a.csv").read_text() == "a"


def test_committed_weights_make_a_finished_run_without_training(tmp_path, data_root, monkeypatch):
    trained = training.train_run(tiny(), tmp_path / "here", data_root, verbose=0)
    monkeypatch.setattr(runs, "resolve", lambda path: tmp_path / path)  # a fresh clone's project root
    monkeypatch.setattr(runs, "RUNS_DIR", str(tmp_path / "here"))
    states = runs.export_runs([trained.name, "cifar10-resnet8-bnall-00000000"], tmp_path / "results/study")
    assert states == {trained.name: "model", "cifar10-resnet8-bnall-00000000": "not started"}
    exported = tmp_path / "results/study/models" / f"{trained.name}.weights.h5"
    assert exported.stat().st_size < 2_000_000, "weights only, no optimizer state"
    assert runs.committed_models(trained.name) == [exported]
    diagnostics = pd.read_csv(exported.with_name(f"{trained.name}.diagnostics.csv"))
    assert list(diagnostics.epoch) == [0, 1, 2] and (diagnostics.bn_sites == 9).all(), \
        "the BN diagnostics of every kept checkpoint travel with the weights"
    shared = runs.export_runs([trained.name], tmp_path / "results/another-study")
    assert shared == {trained.name: "model (committed in study)"}, "a run two studies share is committed once"
    assert runs.committed_models(trained.name) == [exported]

    def no_training(*args, **kwargs):
        raise AssertionError("a committed run must not be trained again")

    monkeypatch.setattr(training.keras.Model, "fit", no_training)
    restored = training.train_run(tiny(), tmp_path / "fresh-clone", data_root, verbose=0)
    assert restored.name == trained.name and runs.read_record(restored)["restored_from"]
    again = runs.export_model(restored, tmp_path / "results/again")
    assert again.with_suffix("").with_suffix(".yaml").read_text() == exported.with_suffix("").with_suffix(".yaml").read_text(), \
        "re-exporting a restored run leaves its committed record as it was"
    assert not (tmp_path / "results/again" / f"{trained.name}.diagnostics.csv").exists(), \
        "a restored run (last checkpoint only) does not replace the committed trajectory"
    a = noise.inject_run(trained, etas=[0.0, 0.2], repeats=2, data_dir=data_root, batch_size=50)
    b = noise.inject_run(restored, etas=[0.0, 0.2], repeats=2, data_dir=data_root, batch_size=50)
    pd.testing.assert_frame_equal(a, b)


def test_a_committed_partial_run_resumes_to_the_same_weights(tmp_path, data_root, monkeypatch):
    p = tiny(epochs=3)
    straight = training.train_run(p, tmp_path / "straight", data_root, verbose=0)
    original = training.EpochCheckpoint.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochCheckpoint, "on_epoch_end", stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(p, tmp_path / "machine-a", data_root, verbose=0)
    monkeypatch.setattr(training.EpochCheckpoint, "on_epoch_end", original)
    rid = params.run_id(p)
    monkeypatch.setattr(runs, "resolve", lambda path: tmp_path / path)
    committed = runs.export_partial(tmp_path / "machine-a" / f"{rid}.partial", tmp_path / "results/study/partial", p)
    assert runs.committed_partial(rid) == [committed] and runs.epochs_done(committed) == 1
    assert pd.read_csv(committed / "diagnostics.csv").epoch.tolist() == [0, 1], "dead channels so far travel too"
    resumed = training.train_run(p, tmp_path / "machine-b", data_root, verbose=0)
    assert pd.read_csv(resumed / "history.csv").epoch.tolist() == [1, 2, 3]
    a, _ = runs.load_run(straight)
    b, _ = runs.load_run(resumed)
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_second_process_asked_for_a_run_in_training_waits_then_finds_it(tmp_path, data_root, capsys):
    """Two trainers of one run (a search beside a study): the second waits for the first's lock,
    then finds the finished run instead of writing the same folder."""
    import subprocess
    import sys
    import time

    p = params.make_params(depth=8, epochs=1, batch_size=64)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from analognoise import runs\n"
        f"with runs.training_lock({params.run_id(p)!r}, {str(tmp_path)!r}):\n"
        "    print('locked', flush=True); time.sleep(3)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    started = time.perf_counter()
    with runs.training_lock(params.run_id(p), tmp_path):
        waited = time.perf_counter() - started
    holder.wait()
    assert waited > 1.0 and "another process is training it" in capsys.readouterr().out
    first = training.train_run(p, tmp_path, data_root, verbose=0)
    assert training.train_run(p, tmp_path, data_root, verbose=0) == first  # found, not trained again
    assert [path.name for path in tmp_path.iterdir()] == [first.name], "no lock file is left beside a finished run"
