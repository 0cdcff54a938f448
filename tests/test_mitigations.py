"""The designer's recommendation of the Mitigations chapter: its numbers come from the effect
tables, and its advice follows their verdicts."""
import pandas as pd
import pytest

from analognoise import analysis


def recalibration(folded_pp, p=1e-4):
    """A recalibration effect table: paper noise on kernels (BN recalibrated, no BN not) and
    on folded (both calibrated at 256 images, BN minus no BN ``folded_pp``)."""
    rows = []
    for targets in ("kernels", "folded"):
        for count in (0, 64, 256):
            diff = (-0.2 if count == 0 else folded_pp / 100) if targets == "folded" else -0.02 + 0.01 * (count > 0)
            rows.append(dict(model="ResNet-20", train_noise=0.0, noise_model="paper", targets=targets,
                             calibration_images=count,
                             bn_eq14=0.7 + 0.001 * count, bn_lo=0.69, bn_hi=0.71,
                             no_bn_calibration_images=count if targets == "folded" else 0,
                             no_bn_eq14=0.9 + 0.0001 * count, difference=diff, difference_lo=diff - 0.01,
                             difference_hi=diff + 0.01, p=1e-6 if count == 0 else p, bn_ahead=diff > 0 and p < 0.05))
    return pd.DataFrame(rows)


def noise_aware():
    return pd.DataFrame([dict(dataset="cifar10", model="ResNet-20", train_noise=t, bn_clean=0.91 - t / 10,
                              no_bn_clean=0.89 - t / 10, bn_eq14=0.75 + t, no_bn_eq14=0.94 + t / 10,
                              penalty=-0.19 + t / 2, change=float("nan") if t == 0 else t / 2,
                              change_lo=float("nan") if t == 0 else t / 2 - 0.02,
                              change_hi=float("nan") if t == 0 else t / 2 + 0.02) for t in (0.0, 0.1, 0.2)])


@pytest.mark.parametrize("folded_pp, p, advice", [(-3.0, 1e-4, "BN adds nothing to it"),
                                                  (+3.0, 1e-4, "BN adds to it"),
                                                  (-3.0, 0.3, "depends on the noise model")])
def test_the_advice_follows_the_equal_budget_verdict(folded_pp, p, advice):
    text = analysis.mitigation_recommendation(recalibration(folded_pp, p), noise_aware())
    assert advice in text
    assert "from 70.0% to 95.6% with BN and from 90.0% to 92.6% without" in text  # 0 and 256 images, folded
    assert "recalibrate its statistics after programming (256 images)" in text
    assert "eta_train 20%" in text and "change +10.0 pp [+8.0, +12.0]" in text and "eta_train 10%" not in text


def test_without_results_it_says_so():
    empty = analysis.recalibration_effect(pd.DataFrame(), pd.DataFrame())
    assert analysis.mitigation_recommendation(empty, None) == "Neither mitigation has results in these folders."
    only_aware = analysis.mitigation_recommendation(empty, noise_aware())
    assert only_aware.startswith("- **Noise-aware training**") and "What to do" not in only_aware


def test_both_mitigations_together_are_set_against_calibration_alone():
    alone = recalibration(-3.0)
    both = recalibration(-1.0).assign(train_noise=0.2, bn_eq14=lambda t: t.bn_eq14 + 0.02)
    stacked = pd.concat([alone, both], ignore_index=True)
    text = analysis.mitigation_recommendation(alone, noise_aware(), stacked)
    assert "- **Both together** (paper, ResNet-20, noise on folded): trained at eta_train 20% and recalibrated on " \
           "256 images, eq. 14 97.6% with BN and 92.6% without (recalibrated alike), against 95.6% and 92.6% with " \
           "the calibration alone; BN minus no BN -1.0 pp [-2.0, +0.0]." in text
    assert "noise on kernels): trained at eta_train 20%" in text and "(not recalibrated)" in text
    assert "the lines \"Both together\" give what it adds to calibration" in text and "not measured" not in text
