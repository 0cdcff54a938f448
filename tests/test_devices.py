"""The device-noise evaluation of committed models (analognoise.devicenoise) and its analysis
(analognoise.analysis.devices): config checks, the exported folder, and verdicts that can say no."""
import json
import shutil
from pathlib import Path

import numpy as np
import papermill as pm
import pandas as pd
import pytest
import yaml

from analognoise import analysis, devicenoise, params, runs, training


@pytest.fixture(scope="module")
def committed(tmp_path_factory, data_root):
    """A results folder with the committed weights of a tiny BN and no-BN ResNet-8."""
    folder = tmp_path_factory.mktemp("device")
    trained = [training.train_run(params.make_params(depth=8, epochs=1, batch_size=64, bn=bn), folder / "runs",
                                  data_root, verbose=0) for bn in ("all", "none")]
    for run_dir in trained:
        runs.export_model(run_dir, folder / "results/tiny/models")
    return folder


def write_config(folder, data_root, **overrides):
    config = dict(name="tiny-device", description="test", study=str(folder / "results/tiny"), data_dir=str(data_root),
                  test_subset=40, seed=0, targets=["kernels", "folded"],
                  noise_models=[dict(noise_model="paper", etas=[0.0, 0.3], repeats=2),
                                dict(noise_model={"name": "pcm", "compensation": True}, etas=[1.0, 3600.0], repeats=2),
                                dict(noise_model={"name": "paper", "bits": 4}, etas=[0.0], repeats=1)],
                  sensitivity=dict(eta=0.3, repeats=1, modes=["only"]),
                  recalibration=dict(images=[16, 32], targets=["kernels", "folded"],
                                     noise_models=[dict(noise_model="paper", etas=[0.3], repeats=2)]))
    config.update(overrides)
    path = folder / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_config_is_checked_before_any_compute(committed, data_root):
    with pytest.raises(ValueError, match="no committed weights.*make commit-runs"):
        devicenoise.load_config(write_config(committed, data_root, name="a", runs=["cifar10-resnet8-bnall-00000000"]))
    with pytest.raises(ValueError, match="noise_model name 'drift' is unknown"):
        devicenoise.load_config(write_config(committed, data_root, name="b",
                                             noise_models=[dict(noise_model="drift", etas=[1], repeats=1)]))
    with pytest.raises(ValueError, match="targets.*unknown"):
        devicenoise.load_config(write_config(committed, data_root, name="c", targets=["weights"]))
    with pytest.raises(ValueError, match="unknown key `epochs`"):
        devicenoise.load_config(write_config(committed, data_root, name="d", epochs=3))
    with pytest.raises(ValueError, match=r"recalibration targets \['weights'\]: choose from"):
        devicenoise.load_config(write_config(committed, data_root, name="e", recalibration=dict(
            targets=["kernels", "weights"], noise_models=[dict(noise_model="paper", etas=[0.1], repeats=1)])))
    single = devicenoise.load_config(write_config(committed, data_root, name="f", recalibration=dict(
        targets="folded", noise_models=[dict(noise_model="paper", etas=[0.1], repeats=1)])))
    assert single["recalibration"]["targets"] == ["folded"]


def test_the_evaluation_exports_tidy_tables_and_resumes(committed, data_root, monkeypatch):
    config = write_config(committed, data_root)
    dest = devicenoise.evaluate(config, committed / "out", committed / "work", committed / "fresh-runs")
    results = analysis.load_device_results(dest)
    noise = results["noise"]
    assert set(noise.variant) == {"BN", "no BN"} and set(noise.targets) == {"kernels", "folded"}
    assert set(noise.level_name) == {"eta", "time_s"}
    per_run = 2 * (2 * 2 + 2 * 2 + 1)  # targets x (paper, pcm, quantised) trials
    assert len(noise) == 2 * per_run and (noise.test_images == 40).all()
    assert not results["sensitivity"].empty and set(results["sensitivity"]["mode"]) == {"only"}
    assert (results["scale_ratios"].max_over_std > 1).all()
    assert results["provenance"]["regenerate"].startswith("make device DEVICE_CONFIG=")

    def no_compute(*args, **kwargs):
        raise AssertionError("a rerun reuses the tables it made")

    monkeypatch.setattr("analognoise.noise.noise_grid", no_compute)
    monkeypatch.setattr("analognoise.sensitivity.layer_sensitivity", no_compute)
    monkeypatch.setattr("analognoise.recalibration.BatchNormRecalibration.__call__", no_compute)
    again = devicenoise.evaluate(config, committed / "out2", committed / "work", committed / "fresh-runs")
    pd.testing.assert_frame_equal(pd.read_csv(again / "noise.csv"), pd.read_csv(dest / "noise.csv"))

    penalty = analysis.bn_penalty(noise)
    assert set(penalty.noise_model) == {"paper", "pcm (compensation=True)"}, "quantisation alone is no noise grid"
    quantized = analysis.quantization_table(noise)
    assert set(quantized.bits) == {4} and len(quantized) == 4
    over_time = analysis.pcm_over_time(noise)
    assert set(over_time.time) == {"1 s", "1 hour"} and over_time.compensation.all()
    assert set(analysis.sensitivity_by_site(results["sensitivity"])["mode"]) == {"only"}
    recalibrated = results["recalibration"]
    assert set(recalibrated.calibration_images) == {16, 32}
    assert set(recalibrated[recalibrated.variant == "BN"].targets) == {"kernels", "folded"}
    assert set(recalibrated[recalibrated.variant == "no BN"].targets) == {"folded"}, "no BN has no BN to recalibrate"
    bn_clean = recalibrated[recalibrated.variant == "BN"].groupby("targets").clean_accuracy.first()
    assert bn_clean["folded"] == pytest.approx(bn_clean["kernels"], abs=0.03), "the calibrated fold starts as the model"
    effect = analysis.recalibration_effect(noise, recalibrated)
    assert effect.targets.tolist() == ["kernels"] * 3 + ["folded"] * 3
    assert effect.calibration_images.tolist() == [0, 16, 32] * 2
    assert effect.no_bn_calibration_images.tolist() == [0, 0, 0, 0, 16, 32], "the same budget, where no BN has a use"
    assert effect[effect.targets == "kernels"].no_bn_eq14.nunique() == 1
    trials = recalibrated[(recalibrated.variant == "BN") & (recalibrated.targets == "folded")
                          & (recalibrated.calibration_images == 16) & (recalibrated.level > 0)]
    row = effect[(effect.targets == "folded") & (effect.calibration_images == 16)].iloc[0]
    assert row.bn_accuracy == pytest.approx(trials.accuracy.mean()), "the accuracy itself, not normalised"
    assert row.bn_eq14 == pytest.approx(trials.normalized_accuracy.mean())
    folded_plain = analysis.bn_penalty(noise[(noise.noise_model == "paper") & (noise.targets == "folded")])
    assert effect[effect.targets == "folded"].bn_eq14.iat[0] == pytest.approx(folded_plain.bn_eq14.iat[0])
    summary = analysis.recalibration_summary(effect, noise)
    assert summary.startswith("- **paper**, ") and "without recalibration" in summary
    assert "BN folded into the crossbar" in summary and summary.count("- **paper**") == 2
    assert "global drift compensation" in summary  # the device table has PCM with compensation on kernels
    assert "drift" not in analysis.recalibration_summary(effect, noise[noise.noise_model == "paper"])

    stacked_folder = committed / "aware-device"  # the same models, labelled as trained at eta_train 20%
    shutil.copytree(dest, stacked_folder)
    for name in ("models.csv", "noise.csv", "recalibration.csv"):
        table = pd.read_csv(stacked_folder / name).assign(run_id=lambda t: "aware-" + t.run_id)
        table.assign(train_noise=0.2).to_csv(stacked_folder / name, index=False) if name == "models.csv" else \
            table.to_csv(stacked_folder / name, index=False)
    stacked = analysis.stacked_effect(dest, stacked_folder)
    assert set(stacked.train_noise) == {0.0, 0.2} and len(stacked) == 2 * len(effect)
    assert "- **Both together** (paper, ResNet-8, noise on folded): trained at eta_train 20%" in \
        analysis.mitigation_recommendation(effect, None, stacked)

    from test_noise_aware_analysis import noise_aware_results
    aware = noise_aware_results(committed / "aware", monkeypatch)
    for name, heading, extra in (("device_noise", "Does BN", {}),
                                 ("mitigations", "Eq. 14 with and without recalibration",
                                  {"noise_aware": str(aware), "stacked": str(stacked_folder)})):
        chapter = Path(__file__).resolve().parents[1] / f"notebooks/chapters/{name}.ipynb"
        executed = pm.execute_notebook(str(chapter), str(committed / f"{name}.ipynb"),
                                       parameters={"study": str(dest), **extra}, progress_bar=False,
                                       kernel_name="python3")
        text = json.dumps(executed["cells"])
        assert heading in text and "image/png" in text and "Traceback" not in text
    assert "noise-aware-shrinks-bn-penalty" in text and "eta_train 10%" in text  # the noise-aware section ran
    assert text.count("image/png") == 2  # recalibration and noise-aware figures
    assert "recalibration-turns-bn-into-asset" in text and "What to do" in text  # the claim and the recommendation
    assert "Both together** (paper" in text


def synthetic(bn_penalty_pp: float, draws: int = 10, seeds: int = 3) -> pd.DataFrame:
    """A device noise table of one model (``seeds`` training seeds per arm) whose BN arm loses
    ``bn_penalty_pp`` more (noisy draws)."""
    rng = np.random.default_rng(0)
    rows = []
    for variant, bn, loss in (("BN", "all", 0.2 + bn_penalty_pp / 100), ("no BN", "none", 0.2)):
        for seed in range(seeds):
            for level in (0.1, 0.2):
                for repeat in range(draws):
                    normalized = 1 - loss * level / 0.2 + rng.normal(0, 0.005)
                    rows.append(dict(run_id=f"{variant}{seed}", noise_model="multiplicative", targets="kernels",
                                     level_name="eta", level=level, eta=level, repeat=repeat, accuracy=0.9 * normalized,
                                     clean_accuracy=0.9, normalized_accuracy=normalized, dataset="cifar10",
                                     model="ResNet-20", variant=variant, bn=bn, seed=seed))
    return pd.DataFrame(rows)


def test_one_model_per_arm_gets_no_verdict_over_training():
    assert analysis.bn_penalty(synthetic(5, seeds=1)).verdict.iloc[0] == "one model per arm: no inference over training"


@pytest.mark.parametrize("penalty_pp, verdict", [(5, "supported"), (-5, "not supported"), (0, "inconclusive")])
def test_the_bn_penalty_verdict_can_say_no(penalty_pp, verdict):
    table = analysis.bn_penalty(synthetic(penalty_pp))
    row = table.iloc[0]
    assert row.verdict == verdict
    assert row.difference == pytest.approx(-penalty_pp / 100 * 0.75, abs=0.01)


def test_bn_penalty_by_site_flags_the_sites_that_carry_it():
    rows = []
    for variant, extra in (("BN", {"s0_b0_conv1": 0.1}), ("no BN", {})):
        for depth, site in enumerate(["stem_conv", "s0_b0_conv1"], 1):
            for repeat in range(6):
                drop = 0.02 + extra.get(site, 0) + 0.005 * np.sin(repeat + depth)
                rows.append(dict(model="ResNet-20", variant=variant, mode="only", depth=depth, site=site, kind="conv",
                                 repeat=repeat, clean_accuracy=0.9, accuracy=0.9 - drop))
    table = analysis.bn_penalty_by_site(pd.DataFrame(rows))
    assert table.set_index("site").carries_penalty.to_dict() == {"stem_conv": False, "s0_b0_conv1": True}
