"""Any user's Keras classifier under weight noise (analognoise.external and its notebook)."""
from pathlib import Path

import keras
import numpy as np
import papermill as pm
import pandas as pd
import pytest

from analognoise import external, noise, params, runs, training

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "steps" / "evaluate_model.ipynb"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    """A run of ours, and its model saved as a .keras and as a legacy .h5 file."""
    folder = tmp_path_factory.mktemp("external")
    run_dir = training.train_run(params.make_params(depth=8, epochs=1, batch_size=64), folder / "runs",
                                 data_root, verbose=0)
    model, record = runs.load_run(run_dir)
    model.save(folder / "ours.keras")
    model.save(folder / "ours.h5")
    return run_dir, record, folder


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_model_file_gives_the_same_table_as_its_run(trained, data_root, suffix):
    run_dir, record, folder = trained
    table = external.evaluate_model(folder / f"ours{suffix}", preprocessing="per_channel",
                                    etas=[0.0, 0.2], repeats=2, data_dir=data_root, batch_size=50)
    ours = noise.inject_run(run_dir, etas=[0.0, 0.2], repeats=2, data_dir=data_root, batch_size=50)
    assert table.clean_accuracy.iloc[0] == pytest.approx(record["test_accuracy"])
    assert table.clean_accuracy.iloc[0] == ours.clean_accuracy.iloc[0]
    assert {"run_id", "eta", "repeat", "accuracy", "normalized_accuracy", "nonfinite_fraction", "targets",
            "model_file", "preprocessing", "test_images"} <= set(table.columns)
    assert table.run_id.iloc[0].startswith("ours-") and len(table) == 4


def test_per_pixel_mean_is_the_keras_example_preprocessing():
    train = np.random.default_rng(0).integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    x = external.preprocess(train[:3], train, "per_pixel_mean")
    np.testing.assert_allclose(x, (train[:3] - train.mean(axis=0)) / 255, atol=1e-6)
    with pytest.raises(ValueError, match="per_pixel_mean, per_channel"):
        external.preprocess(train, train, "imagenet")


def test_folding_a_foreign_model_keeps_its_outputs(trained, data_root):
    _, _, folder = trained
    plain = external.evaluate_model(folder / "ours.h5", preprocessing="per_channel", etas=[0.0], repeats=1,
                                    data_dir=data_root, batch_size=50)
    folded = external.evaluate_model(folder / "ours.h5", preprocessing="per_channel", etas=[0.0], repeats=1,
                                     targets="folded", data_dir=data_root, batch_size=50)
    assert folded.clean_accuracy.iloc[0] == plain.clean_accuracy.iloc[0]


def _model(shape, classes):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(inputs)))


def test_files_that_cannot_be_evaluated_are_refused_before_any_compute(tmp_path, data_root):
    (tmp_path / "notes.keras").write_text("not a model")
    _model((28, 28, 1), 10).save(tmp_path / "mnist.keras")
    _model((32, 32, 3), 100).save(tmp_path / "cifar100.keras")
    cases = [(tmp_path / "missing.keras", FileNotFoundError, "does not exist"),
             (tmp_path / "notes.keras", ValueError, "not a Keras model"),
             (tmp_path / "mnist.keras", ValueError, "not 32x32x3"),
             (tmp_path / "cifar100.keras", ValueError, "100.*dataset has 10 classes"),
             (tmp_path / "weights.weights.h5", ValueError, "weights-only")]
    (tmp_path / "weights.weights.h5").write_bytes(b"")
    for model_file, error, message in cases:
        with pytest.raises(error, match=message):
            external.evaluate_model(model_file, data_dir=data_root)
    with pytest.raises(ValueError, match="preprocessing"):
        external.evaluate_model(tmp_path / "cifar100.keras", preprocessing="imagenet", data_dir=data_root)


def test_the_notebook_runs_on_a_model_file(trained, data_root, tmp_path):
    _, _, folder = trained
    pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                        parameters=dict(model_file=str(folder / "ours.keras"), preprocessing="per_channel",
                                        etas="0,0.1", repeats="2", data_dir=str(data_root),
                                        output=str(tmp_path / "table.csv")))
    assert len(pd.read_csv(tmp_path / "table.csv")) == 4
    executed = (tmp_path / "out.ipynb").read_text()
    assert "BN sites" in executed and "dead channels" in executed.lower(), "the fragility report is printed"


def test_a_pretrained_models_config_into_a_results_folder(trained, data_root, tmp_path):
    import yaml

    _, _, folder = trained
    config = dict(name="mine", description="two files of one model", models=[str(folder / "ours.keras"),
                                                                                 str(folder / "ours.h5")],
                  dataset="cifar10", preprocessing="per_channel", data_dir=str(data_root),
                  noise=dict(etas=[0.0, 0.2], repeats=2, targets="trainable", scale="tensor", test_subset=None, seed=0),
                  ablation=dict(targets=["kernels"], repeats=1))
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    dest = external.evaluate_models(tmp_path / "mine.yaml", tmp_path / "results" / "mine", work=tmp_path / "work")
    models, noise_table = pd.read_csv(dest / "models.csv"), pd.read_csv(dest / "noise.csv")
    assert len(models) == 2 and models.clean_accuracy.nunique() == 1 and (models.model == "ours").all()
    assert len(noise_table) == 2 * (2 * 2 + 2 * 1) and set(noise_table.targets) == {"trainable", "kernels"}
    assert len(list((dest / "correct").glob("*.correct.npz"))) == 4
    again = external.evaluate_models(tmp_path / "mine.yaml", tmp_path / "results" / "mine", work=tmp_path / "work")
    pd.testing.assert_frame_equal(pd.read_csv(again / "noise.csv"), noise_table)  # resumed, not recomputed


def test_a_pretrained_models_config_with_a_typo_is_refused(tmp_path):
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "studies/pretrained/crosssim-keras-resnet.yaml").read_text())
    config["noise"]["repeat"] = config["noise"].pop("repeats")
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"unknown key `noise.repeat` \(did you mean `repeats`\?\)"):
        external.evaluate_models(tmp_path / "typo.yaml", tmp_path / "out", tmp_path / "work")
    assert not (tmp_path / "out").exists()
