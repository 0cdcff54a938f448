import numpy as np
import pandas as pd
import pytest
import yaml

from analognoise import data, noise, params, runs, training


def tiny(**kw):
    return params.make_params(**{"depth": 8, "epochs": 1, "batch_size": 64} | kw)


def test_run_id_is_stable_and_follows_every_parameter():
    a, b = tiny(), tiny()
    assert params.run_id(a) == params.run_id(b)
    assert params.run_id(a).startswith("cifar10-resnet8-bnall-")
    assert params.run_id(tiny(seed=1)) != params.run_id(a)
    assert params.run_id(tiny(bn="first:2")).startswith("cifar10-resnet8-bnfirst2-")
    assert params.make_params(arch="vgg16", depth=56)["depth"] is None


def test_checkpoint_epochs_are_initialisation_powers_of_two_and_the_last():
    assert training.checkpoint_epochs(8) == [0, 1, 2, 4, 8]
    assert training.checkpoint_epochs(200) == [0, 1, 2, 4, 8, 16, 32, 64, 128, 200]
    assert training.checkpoint_epochs(1) == [0, 1]


def test_step_schedule_is_the_keras_example_at_200_epochs():
    p = params.make_params(preset="keras-cifar10-resnet")
    lr = {e: training.learning_rate_at(e, p) for e in (0, 80, 81, 120, 121, 160, 161, 180, 181)}
    assert lr[0] == lr[80] == pytest.approx(1e-3)
    assert lr[81] == pytest.approx(1e-4) and lr[120] == pytest.approx(1e-4)
    assert lr[121] == pytest.approx(1e-5) and lr[161] == pytest.approx(1e-6)
    assert lr[181] == pytest.approx(5e-7)
    assert p["batch_size"] == 32 and p["weight_decay"] == 1e-4 and p["epochs"] == 200


def test_warmup_cosine_rises_linearly_then_falls_to_zero_every_step():
    p = params.make_params("fast", learning_rate=0.2)  # 30 epochs, 2 of warmup to 0.2
    assert training.learning_rate_at(0, p) == 0
    assert training.learning_rate_at(1.0, p) == pytest.approx(0.1)
    assert training.learning_rate_at(2.0, p) == pytest.approx(0.2)
    assert training.learning_rate_at(16.0, p) == pytest.approx(0.1, abs=1e-6)
    assert training.learning_rate_at(30.0, p) == pytest.approx(0.0, abs=1e-7)
    schedule = training.RunSchedule(p, steps_per_epoch=391)
    assert float(schedule(391 * 16 + 100)) == pytest.approx(training.learning_rate_at(16 + 100 / 391, p))
    assert float(schedule(391 * 16 + 100)) < float(schedule(391 * 16)), "changes within an epoch"


def test_a_value_typed_beside_a_preset_overrides_it_and_changes_the_run_id(capsys):
    """`-p preset keras-cifar10-resnet -p epochs 8` trains 8 epochs, not the preset's 200 (a value
    that differs from the notebook's default was typed); untyped keys keep the preset's values."""
    p = params.notebook_params("keras-cifar10-resnet", depth=56, epochs=8, bn="none")
    assert p["epochs"] == 8 and p["batch_size"] == 32 and p["depth"] == 56 and p["bn"] == "none"
    assert "preset 'keras-cifar10-resnet' with epochs=8 (the preset's epochs is 200)" in capsys.readouterr().out
    full = params.notebook_params("keras-cifar10-resnet", depth=56, epochs=10, bn="none")  # 10: the default
    assert full["epochs"] == 200 and params.run_id(full) != params.run_id(p)
    assert params.notebook_params("", epochs=3)["epochs"] == 3
    # a study config's training section beside its preset overrides it the same way
    study = dict(name="s", grid=dict(dataset=["cifar10"], model=["resnet20"], bn=["all"], seed=[0]),
                 training=dict(preset="keras-cifar10-resnet", epochs=8), noise=dict(etas=[0.0], repeats=1))
    from analognoise import studies
    assert studies.expand(study)[0].params["epochs"] == 8


def test_the_train_notebooks_defaults_are_the_libraries():
    """The preset rule compares a notebook value with the default: they must be the same defaults."""
    import ast
    import json
    from pathlib import Path

    notebook = json.loads((Path(__file__).parents[1] / "notebooks/steps/train.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    defaults = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse("".join(cell["source"])).body
                if isinstance(node, ast.Assign)}
    for key, value in {**params.DEFAULTS, **params.OPTIONAL}.items():
        if key in ("data_dir", "train_subset") or key not in defaults:
            continue
        assert defaults[key] == value, key


def test_a_placement_has_one_name_so_one_network_has_one_run_id():
    sites = params.bn_sites("resnet", 20, shortcut_bn=False)
    none, every = params.make_params("fast", bn="none"), params.make_params("fast", bn="all")
    for bn in ("first:0", "last:0", "spread:0", []):
        assert params.run_id(params.make_params("fast", bn=bn)) == params.run_id(none), bn
    for bn in (f"first:{len(sites)}", f"last:{len(sites)}", list(reversed(sites))):
        assert params.run_id(params.make_params("fast", bn=bn)) == params.run_id(every), bn
    assert params.make_params("fast", bn="first:3")["bn"] == "first:3"
    assert params.make_params(bn=["s0_b0_conv2", "s0_b0_conv1"])["bn"] == ["s0_b0_conv1", "s0_b0_conv2"]


def test_every_committed_run_keeps_its_run_id():
    """Canonical placements leave the run ids of every committed model as they were."""
    from pathlib import Path

    import yaml

    records = sorted((Path(__file__).parents[1] / "results").glob("*/models/*.yaml"))
    assert len(records) >= 17
    for path in records:
        record = yaml.safe_load(path.read_text())
        assert params.run_id(params.make_params(**record["params"])) == record["run_id"], path.name


def test_a_presets_residual_init_applies_to_resnets_only():
    """The `fast` preset zeroes each residual branch's last layer; VGG16 has none, so it trains
    with the rest of the recipe (one run id whether or not the config says so), and asking for
    it explicitly on VGG16 is refused."""
    vgg = params.make_params("fast", arch="vgg16", bn="first:4")
    assert "zero_init_residual" not in vgg and vgg["optimizer"] == "sgd-nesterov"
    assert params.run_id(vgg) == params.run_id(params.make_params("fast", arch="vgg16", bn="first:4",
                                                                  zero_init_residual=False))
    assert params.make_params("fast", depth=20)["zero_init_residual"] is True
    with pytest.raises(ValueError, match="needs a ResNet"):
        params.make_params("fast", arch="vgg16", zero_init_residual=True)


@pytest.mark.parametrize("kw, message", [
    (dict(depth=21), "6n\\+2"), (dict(arch="resnot"), "resnet, vgg16"),
    (dict(dataset="svhn"), "cifar10, cifar100"), (dict(epochs=0), "epochs"),
    (dict(learning_rate=-1.0), "learning_rate"), (dict(lr_schedule="linear"), "lr_schedule"),
    (dict(train_subset=0), "train_subset"), (dict(bn="half"), "not a placement"),
])
def test_bad_parameters_fail_before_anything_is_written(tmp_path, data_root, kw, message):
    with pytest.raises(ValueError, match=message):
        training.train_run({**tiny(), **kw}, tmp_path / "runs", data_root)
    assert not (tmp_path / "runs").exists()


def test_missing_data_fails_before_anything_is_written(tmp_path):
    with pytest.raises(data.DatasetNotFoundError):
        training.train_run(tiny(), tmp_path / "runs", tmp_path / "no-data")
    assert not (tmp_path / "runs").exists()


def test_train_then_find_the_finished_run(tmp_path, data_root, capsys):
    p = tiny(epochs=2, dataset="cifar100")
    run_dir = training.train_run(p, tmp_path, data_root, verbose=0)
    assert run_dir.name == params.run_id(p)
    assert sorted(f.name for f in run_dir.iterdir()) == [
        "checkpoints", "history.csv", "model.keras", "params.yaml"]
    assert sorted(f.name for f in (run_dir / "checkpoints").iterdir()) == [
        "epoch-0000.weights.h5", "epoch-0001.weights.h5", "epoch-0002.weights.h5"]
    record = yaml.safe_load((run_dir / "params.yaml").read_text())
    assert record["params"] == p and record["bn_layers"] == 9
    assert 0 <= record["test_accuracy"] <= 1 and record["test_images"] == 200
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2] and {"loss", "accuracy", "learning_rate"} <= set(history)
    assert training.train_run(p, tmp_path, data_root) == run_dir
    assert "not training again" in capsys.readouterr().out


def _weights(run_dir):
    model, _ = runs.load_run(run_dir)
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("recipe", [dict(), dict(preset="fast", epochs=3, batch_size=64)],
                         ids=["adam-step", "fast-sgd-nesterov"])
def test_interrupted_run_resumes_bit_identically(tmp_path, data_root, monkeypatch, capsys, recipe):
    """Interrupted after epoch 1 and resumed (in a fresh model, as on another machine), a run
    ends with exactly the weights of the same run trained without a break: the optimizer's
    state (Adam moments, momentum, step count) and the schedule survive the resume."""
    p = {**tiny(epochs=3), **params.make_params(**{"depth": 8, "epochs": 3, "batch_size": 64, **recipe})}
    straight = training.train_run(p, tmp_path / "straight", data_root, verbose=0)
    original = training.EpochCheckpoint.on_epoch_end

    def crash_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(training.EpochCheckpoint, "on_epoch_end", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(p, tmp_path / "broken", data_root, verbose=0)
    rid = params.run_id(p)
    assert not (tmp_path / "broken" / rid).exists(), "an interrupted run must not look finished"
    partial = tmp_path / "broken" / f"{rid}.partial"
    assert {"state.weights.h5", "state.json", "history.csv"} <= {f.name for f in partial.iterdir()}
    moved = tmp_path / "elsewhere" / partial.name  # another machine: only the folder travels
    moved.parent.mkdir()
    partial.rename(moved)
    monkeypatch.setattr(training.EpochCheckpoint, "on_epoch_end", original)
    resumed = training.train_run(p, tmp_path / "elsewhere", data_root, verbose=0)
    assert "resuming" in capsys.readouterr().out
    assert pd.read_csv(resumed / "history.csv")["epoch"].tolist() == [1, 2, 3]
    assert not moved.exists()
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_model_learns_the_fixture_classes(tmp_path, data_root):
    # no BN: after ~40 steps BN moving averages (momentum 0.99) are still far from the data
    p = tiny(epochs=4, batch_size=32, augment=False, bn="none", lr_schedule="constant")
    run_dir = training.train_run(p, tmp_path, data_root, verbose=0)
    model, record = runs.load_run(run_dir)
    assert record["test_accuracy"] > 0.5, "10 colour-coded classes, chance is 0.1"
    x, y = runs.load_test_data(record, data_dir=data_root)
    assert np.mean(np.argmax(model.predict(x, verbose=0), 1) == y) == pytest.approx(record["test_accuracy"])


def test_load_run_refuses_an_unfinished_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        runs.load_run(tmp_path)


def test_inject_run_with_folded_bn(tmp_path, data_root):
    run_dir = training.train_run(tiny(epochs=1), tmp_path, data_root, verbose=0)
    folded = noise.inject_run(run_dir, etas=[0.0, 0.2], repeats=2, targets="folded",
                              data_dir=data_root, output="noise-folded.csv", batch_size=50)
    plain = noise.inject_run(run_dir, etas=[0.0], repeats=1, data_dir=data_root, batch_size=50)
    assert (folded.targets == "folded").all() and (run_dir / "noise-folded.csv").exists()
    correct = noise.load_correctness(run_dir / "noise-folded.csv")  # per image, per trial, beside the table
    assert correct.shape == (len(folded), folded.test_images.iloc[0])
    np.testing.assert_allclose(correct.mean(axis=1), folded.accuracy)
    assert folded.clean_accuracy.iloc[0] == plain.clean_accuracy.iloc[0], "folding keeps the outputs"
    noisy = folded[folded.eta == 0.2]
    assert len(noisy) == 2 and (noisy.nonfinite_fraction == 0).all(), "no BN variance left to go negative"


def test_a_diverging_run_stops_without_saving_a_nan_state(tmp_path, data_root):
    p = tiny(epochs=2, learning_rate=1e6, lr_schedule="constant", bn="none")
    with pytest.raises(FloatingPointError, match="diverged in epoch 1"):
        training.train_run(p, tmp_path, data_root, verbose=0)
    partial = tmp_path / f"{params.run_id(p)}.partial"
    assert runs.epochs_done(partial) == 0 and not (tmp_path / params.run_id(p)).exists()
