"""The mechanism study (analognoise.mechanism) and its analysis (analognoise.analysis.mechanism):
config checks before compute, the exported folder with both variants on the same draws, and
verdicts that can say no."""
import numpy as np
import pandas as pd
import pytest
import yaml

from analognoise import analysis, mechanism
from analognoise.analysis import mechanism as mech
from analognoise.significance import NOT_SUPPORTED, SUPPORTED


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, data_root):
    """A ResNet-8 with BN that has two dead channels (kernel 0, moving variance ~0) and one
    without BN, each fitted for a few steps to the fixture's colour-coded classes, saved as
    model files."""
    import keras

    from analognoise.data import load_cifar
    from analognoise.external import preprocess
    from analognoise.models import build_model

    folder = tmp_path_factory.mktemp("mechanism-models")
    keras.utils.set_random_seed(0)
    cifar = load_cifar("cifar10", data_root)
    x = preprocess(cifar.x_train, cifar.x_train, "per_pixel_mean")
    fitted = {}
    for bn in ("all", "none"):
        fitted[bn] = build_model("resnet", 8, 10, bn)
        fitted[bn].compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        fitted[bn].fit(x, cifar.y_train, batch_size=50, epochs=3, verbose=0)
    with_bn = fitted["all"]
    conv, bn = with_bn.get_layer("s0_b0_conv1"), with_bn.get_layer("s0_b0_conv1_bn")
    kernel = conv.get_weights()[0]
    kernel[..., :2] = 0.0
    conv.set_weights([kernel, *conv.get_weights()[1:]])
    gamma, beta, mean, variance = bn.get_weights()
    variance[:2] = 1e-12
    bn.set_weights([gamma, beta, mean, variance])
    files = {}
    for name, model in (("bn", with_bn), ("nobn", fitted["none"])):
        files[name] = folder / f"resnet8-{name}.keras"
        model.save(files[name])
    return files


def write_config(folder, data_root, files, **overrides):
    config = dict(name="tiny-mechanism", description="test", data_dir=str(data_root), test_subset=100, seed=0,
                  etas=[0.0, 0.1, 0.3], repeats=3,
                  models=[dict(name="BN-8", recipe="fast", file=str(files["bn"]), preprocessing="per_pixel_mean"),
                          dict(name="no BN-8", recipe="fast", file=str(files["nobn"]), preprocessing="per_pixel_mean")],
                  conditions=[dict(variant="original", targets="kernels", noise_model="paper"),
                              dict(variant="original", targets="trainable", noise_model="additive-rms"),
                              dict(variant="original", targets="folded", noise_model="paper"),
                              dict(variant="silenced", targets="kernels", noise_model="paper")])
    config.update(overrides)
    path = folder / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_config_is_checked_before_any_compute(tmp_path, data_root, model_files):
    with pytest.raises(ValueError, match=r"`conditions.0.variant`: Input should be 'original' or 'silenced' \(got 'pruned'\)"):
        mechanism.load_config(write_config(tmp_path, data_root, model_files, name="a", conditions=[
            dict(variant="pruned", targets="kernels", noise_model="paper")]))
    with pytest.raises(ValueError, match="noise_model name 'rms' is unknown"):
        mechanism.load_config(write_config(tmp_path, data_root, model_files, name="b", conditions=[
            dict(variant="original", targets="kernels", noise_model="rms")]))
    with pytest.raises(ValueError, match="no committed weights.*make commit-runs STUDY=nothing"):
        mechanism.load_config(write_config(tmp_path, data_root, model_files, name="c", models=[
            dict(name="x", recipe="fast", study="nothing", run="cifar10-resnet8-bnall-00000000")]))
    with pytest.raises(ValueError, match="unique 'name'"):
        mechanism.load_config(write_config(tmp_path, data_root, model_files, name="d", models=[
            dict(name="x", recipe="fast", file=str(model_files["bn"]))] * 2))
    with pytest.raises(ValueError, match="unknown key `epochs`"):
        mechanism.load_config(write_config(tmp_path, data_root, model_files, name="e", epochs=3))


def test_the_interventions_export_paired_tables(tmp_path, data_root, model_files):
    dest = mechanism.evaluate(write_config(tmp_path, data_root, model_files), tmp_path / "out", tmp_path / "work")
    results = mech.load_mechanism(dest)
    models, noise = results["models"], results["noise"]
    assert list(models.variant) == ["original", "silenced", "original"]
    silenced = models[models.variant == "silenced"].iloc[0]
    assert silenced.silenced_channels == 2 and silenced.dead == 2 and (models.depth == 8).all()
    # the surgery keeps every clean prediction here (the dead channels' output is constant)
    np.testing.assert_array_equal(results["clean"]["BN-8|original"], results["clean"]["BN-8|silenced"])
    # no folded condition for the network without BN (nothing to fold), no silenced variant for it
    assert set(noise[noise.model == "no BN-8"].targets) == {"kernels", "trainable"}
    assert len(noise) == 3 * 3 * (4 + 2)
    assert set(results["sites"].model) == {"BN-8"}
    table = mech.factor_table(models, noise)
    assert list(table.model) == ["BN-8", "no BN-8"] and table.loc[1, "BN folded"] == ""
    effect = mech.surgery_effect(models, noise, results["clean"])
    assert list(effect.targets) == ["kernels"] and effect.clean_p.iloc[0] == 1.0
    penalty = mech.bn_penalty_by_recipe(models, noise)
    # the folded deployment needs the no-BN network's paper noise on every trainable tensor: not run here
    assert set(penalty.condition) == {"kernels", "+ BN γ, β, σ ∝ rms"}
    assert (penalty.unit == "noise draws of one model per arm").all()
    assert not mech.mechanism_claims(models, noise, results["clean"]).empty
    # the chapter builds from the folder alone (no training study committed here)
    import json
    from pathlib import Path

    import papermill as pm
    chapter = Path(__file__).resolve().parents[1] / "notebooks/chapters/mechanism.ipynb"
    executed = pm.execute_notebook(str(chapter), str(tmp_path / "mechanism.ipynb"), progress_bar=False,
                                   parameters={"study": str(dest), "training_studies": ""}, kernel_name="python3")
    text = json.dumps(executed["cells"])
    assert "What this chapter finds" in text and "Traceback" not in text and text.count("image/png") == 2
    # a fresh checkout (empty work folder) resumes from the committed folder: no table is recomputed
    fresh = tmp_path / "fresh-work"
    fresh.mkdir()
    config = mechanism.load_config(write_config(tmp_path, data_root, model_files))
    assert mechanism.seed_kept_tables(dest, fresh, config) == 4 + 2
    kept = {f.name: f.stat().st_mtime_ns for f in fresh.iterdir()}
    again = mechanism.evaluate(write_config(tmp_path, data_root, model_files), tmp_path / "again", fresh)
    assert {f.name: f.stat().st_mtime_ns for f in fresh.iterdir()} == kept
    pd.testing.assert_frame_equal(pd.read_csv(again / "noise.csv"), pd.read_csv(dest / "noise.csv"))
    # other noise settings: nothing is taken from the committed folder
    other = mechanism.load_config(write_config(tmp_path, data_root, model_files, repeats=2))
    assert mechanism.seed_kept_tables(dest, tmp_path / "other-work", other) == 0


def synthetic(depth_means: dict, silenced_means: dict, dead: dict, clean_flip: int = 0):
    """Models and noise tables of a 'keras-200' recipe at several depths: eq. 14 per draw around
    the given means (kernels), before and after silencing."""
    rng = np.random.default_rng(0)
    models, rows, clean = [], [], {}
    for depth, mean in depth_means.items():
        name = f"R{depth}"
        for variant, level in (("original", mean), ("silenced", silenced_means[depth])):
            models.append(dict(model=name, recipe="keras-200", variant=variant, depth=depth, bn="all",
                               clean_accuracy=0.9, dead_fraction=dead[depth],
                               silenced_channels=10 if variant == "silenced" else 0))
            right = np.ones(1000, bool)
            right[:clean_flip if variant == "silenced" else 0] = False
            clean[f"{name}|{variant}"] = right
            for repeat in range(10):
                value = level + rng.normal(0, 0.005)
                for eta in (0.0, 0.1, 0.2):
                    rows.append(dict(model=name, variant=variant, targets="kernels", noise_model="paper", eta=eta,
                                     repeat=repeat, normalized_accuracy=1.0 if eta == 0 else value))
    return pd.DataFrame(models), pd.DataFrame(rows), clean


def claim(table, start):
    return table[table.claim.str.startswith(start)].verdict.iloc[0]


def test_the_verdicts_can_say_yes_and_no():
    dead = {14: 0.0, 20: 0.05, 32: 0.17}
    models, noise, clean = synthetic({14: 0.85, 20: 0.70, 32: 0.55}, {14: 0.85, 20: 0.86, 32: 0.86}, dead)
    yes = mech.mechanism_claims(models, noise, clean)
    assert claim(yes, "With the Keras recipe, dead") == SUPPORTED
    assert claim(yes, "Silencing dead channels keeps") == SUPPORTED
    assert claim(yes, "The Keras recipe's depth trend") == SUPPORTED
    # silencing that changes nothing, a clean accuracy that moves, dead channels that do not grow
    models, noise, clean = synthetic({14: 0.85, 20: 0.70, 32: 0.55}, {14: 0.85, 20: 0.70, 32: 0.55},
                                     {14: 0.2, 20: 0.1, 32: 0.0}, clean_flip=30)
    no = mech.mechanism_claims(models, noise, clean)
    assert claim(no, "With the Keras recipe, dead") == NOT_SUPPORTED
    assert claim(no, "Silencing dead channels keeps") == NOT_SUPPORTED
    assert claim(no, "Silencing dead channels lifts") == NOT_SUPPORTED
    assert claim(no, "The Keras recipe's depth trend") == NOT_SUPPORTED
