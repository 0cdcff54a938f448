"""Noise-aware training's analysis on generated studies with known answers: eq. 14 by eta_train,
BN's penalty and whether it shrinks (a difference of differences that can say no)."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analognoise import analysis
from analognoise.significance import contrast


def arms(levels: dict, repeats: int = 12, spread: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """A noise table of ResNet-20, BN and no BN at each eta_train: every noisy trial's
    normalised accuracy is levels[(variant, eta_train)] plus draw-to-draw noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for (variant, train_noise), level in levels.items():
        for eta in (0.0, 0.1, 0.2):
            for repeat in range(1 if eta == 0 else repeats):
                normalized = 1.0 if eta == 0 else level + rng.normal(0, spread)
                rows.append(dict(run_id=f"{variant}-{train_noise}", dataset="cifar10", model="ResNet-20",
                                 variant=variant, train_noise=train_noise, seed=0, eta=eta, repeat=repeat,
                                 accuracy=0.9 * normalized, clean_accuracy=0.9, normalized_accuracy=normalized,
                                 nonfinite_fraction=0.0,
                                 targets="trainable", scale="tensor", test_images=1000))
    return pd.DataFrame(rows)


def test_a_contrast_is_a_welch_test_when_it_is_a_difference():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 0.2, 8), rng.normal(0.7, 0.4, 11)
    estimate, lo, hi, p = contrast([a, b], [1, -1])
    test = stats.ttest_ind(a, b, equal_var=False)
    assert estimate == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx(tuple(test.confidence_interval(0.95))) and p == pytest.approx(test.pvalue)
    assert contrast([np.ones(3), np.ones(3)], [1, -1]) == (0.0, 0.0, 0.0, 1.0)


def test_the_penalty_and_its_change_per_training_noise():
    levels = {("BN", 0.0): 0.75, ("no BN", 0.0): 0.93, ("BN", 0.1): 0.88, ("no BN", 0.1): 0.95}
    effect = analysis.noise_aware_effect(arms(levels)).set_index("train_noise")
    assert effect.loc[0.0, "penalty"] == pytest.approx(-0.18, abs=0.01)
    assert effect.loc[0.1, "penalty"] == pytest.approx(-0.07, abs=0.01)
    assert effect.loc[0.1, "change"] == pytest.approx(0.11, abs=0.01) and effect.loc[0.1, "change_lo"] > 0
    assert np.isnan(effect.loc[0.0, "change"])  # the reference has no change of its own
    assert (effect.penalty_holm_p < 0.05).all()


@pytest.mark.parametrize("bn_at_01, verdict", [(0.88, "supported"), (0.60, "not supported"), (0.77, "inconclusive")])
def test_the_shrinking_penalty_claim_can_say_no(bn_at_01, verdict):
    levels = {("BN", 0.0): 0.75, ("no BN", 0.0): 0.93, ("BN", 0.1): bn_at_01, ("no BN", 0.1): 0.93}
    spread = 0.01 if verdict != "inconclusive" else 0.05
    claims = analysis.noise_aware_claims(analysis.noise_aware_effect(arms(levels, spread=spread)))
    assert claims.set_index("id").loc["noise-aware-shrinks-bn-penalty", "verdict"] == verdict


def test_without_a_noise_free_reference_nothing_is_claimed():
    levels = {("BN", 0.1): 0.88, ("no BN", 0.1): 0.95}
    effect = analysis.noise_aware_effect(arms(levels))
    assert len(effect) == 1 and np.isnan(effect.change.iloc[0])
    assert analysis.noise_aware_claims(effect).verdict.iloc[0] == "not testable in this study"


def test_the_designer_summary_says_whether_the_penalty_shrinks():
    levels = {("BN", 0.0): 0.75, ("no BN", 0.0): 0.93, ("BN", 0.1): 0.88, ("no BN", 0.1): 0.95,
              ("BN", 0.2): 0.60, ("no BN", 0.2): 0.95}
    text = analysis.noise_aware_summary(analysis.noise_aware_effect(arms(levels)))
    lines = text.splitlines()
    assert len(lines) == 2 and "eta_train 10%" in lines[0] and "eta_train 20%" in lines[1]
    assert "the penalty shrinks (+11." in lines[0] and "the penalty grows (-16." in lines[1]
    assert "BN minus no BN -7." in lines[0]
    alone = analysis.noise_aware_summary(analysis.noise_aware_effect(arms({("BN", 0.1): 0.88, ("no BN", 0.1): 0.95})))
    assert "no model trained without noise to compare with" in alone and "nan" not in alone
    unpaired = {("BN", 0.0): 0.75, ("no BN", 0.0): 0.93, ("BN", 0.1): 0.80}  # no BN at 10% still training
    assert analysis.noise_aware_summary(analysis.noise_aware_effect(arms(unpaired))).startswith(
        "No BN and no-BN pair trained with the same weight noise has finished")


def test_the_accuracy_table_gives_the_accuracy_itself_per_training_noise():
    table = analysis.noise_aware_accuracy(arms({("BN", 0.0): 0.8, ("no BN", 0.0): 0.95, ("BN", 0.1): 0.9,
                                                ("no BN", 0.1): 0.97}, spread=0.0))
    assert table.variant.tolist() == ["BN", "BN", "no BN", "no BN"]
    assert table["eta_train (%)"].tolist() == ["0", "10", "0", "10"]
    assert table["eta 20%"].tolist() == ["72.0 [72.0, 72.0]", "81.0 [81.0, 81.0]", "85.5 [85.5, 85.5]",
                                         "87.3 [87.3, 87.3]"]  # 0.9 clean x the normalised level
    assert table["eta 0%"].iat[0].startswith("90.0 [88.") and table["eta 0%"].iat[0] != "90.0 [90.0, 90.0]"


def test_the_figure_shows_both_arms_and_the_penalty_per_training_noise():
    from analognoise import device_plots
    levels = {("BN", 0.0): 0.75, ("no BN", 0.0): 0.93, ("BN", 0.1): 0.88, ("no BN", 0.1): 0.95}
    effect = analysis.noise_aware_effect(arms(levels))
    fig = device_plots.noise_aware_figure(effect)
    left, right = fig.axes
    assert left.get_legend_handles_labels()[1] == ["BN", "no BN"]
    penalty = right.get_lines()[0].get_ydata()
    assert penalty == pytest.approx(100 * effect.sort_values("train_noise").penalty.to_numpy())


def noise_aware_results(tmp_path, monkeypatch):
    """A generated noise-aware study (ResNet-8, BN and no BN, eta_train 0 and 10%) exported as
    a results folder, as `make results STUDY=noise-aware` writes it."""
    from test_results import fake_study

    config = fake_study(tmp_path, monkeypatch, dict(
        name="aware", description="noise-aware, generated", grid=dict(dataset=["cifar10"], model=["resnet8"],
        bn=["all", "none"], seed=[0], train_noise=[0.0, 0.1]), training=dict(epochs=2, train_subset=100),
        noise=dict(etas=[0.0, 0.1], repeats=2, test_subset=50)))
    return analysis.export_results(config, tmp_path / "results" / "aware")
