"""The designer's recommendation of the Mitigations chapter: its numbers come from the effect
tables, and its advice follows their verdicts."""
import pandas as pd
import pytest

from analognoise import analysis


def recalibration(folded_pp, p=1e-4, accuracy_pp=None, accuracy_p=None, kernels_pp=-1.0):
    """A recalibration effect table: paper noise on kernels (BN recalibrated, no BN not; BN
    minus no BN ``kernels_pp`` once recalibrated) and on folded (both calibrated; BN minus no
    BN ``folded_pp``), with 0, 64 and 256 images, the recalibrated rows with Welch ``p`` (an
    interval that spans 0 where p >= 0.05); the accuracy itself differs by ``accuracy_pp``
    (default a third of ``folded_pp``) with ``accuracy_p`` (default ``p``)."""
    accuracy_pp = folded_pp / 3 if accuracy_pp is None else accuracy_pp
    accuracy_p = p if accuracy_p is None else accuracy_p

    def half_width(difference, p_value):
        return 0.01 if p_value < 0.05 else abs(difference) + 0.01

    rows = []
    for targets, recalibrated_pp in (("kernels", kernels_pp), ("folded", folded_pp)):
        for count in (0, 64, 256):
            diff = (-0.02 if targets == "kernels" else -0.2) if count == 0 else recalibrated_pp / 100
            diff_p = 1e-6 if count == 0 else p
            accuracy = accuracy_pp / 100
            rows.append(dict(model="ResNet-20", train_noise=0.0, noise_model="paper", targets=targets,
                             calibration_images=count,
                             bn_eq14=0.7 + 0.001 * count, bn_lo=0.69, bn_hi=0.71,
                             no_bn_calibration_images=count if targets == "folded" else 0,
                             no_bn_eq14=0.9 + 0.0001 * count, difference=diff,
                             difference_lo=diff - half_width(diff, diff_p),
                             difference_hi=diff + half_width(diff, diff_p),
                             p=diff_p, bn_ahead=diff > 0 and diff_p < 0.05,
                             bn_accuracy=0.8, no_bn_accuracy=0.8 - accuracy, accuracy_difference=accuracy,
                             accuracy_lo=accuracy - half_width(accuracy, accuracy_p) / 2,
                             accuracy_hi=accuracy + half_width(accuracy, accuracy_p) / 2, accuracy_p=accuracy_p))
    return pd.DataFrame(rows)


def noise_aware():
    return pd.DataFrame([dict(dataset="cifar10", model="ResNet-20", train_noise=t, bn_clean=0.91 - t / 10,
                              no_bn_clean=0.89 - t / 10, bn_eq14=0.75 + t, no_bn_eq14=0.94 + t / 10,
                              penalty=-0.19 + t / 2, change=float("nan") if t == 0 else t / 2,
                              change_lo=float("nan") if t == 0 else t / 2 - 0.02,
                              change_hi=float("nan") if t == 0 else t / 2 + 0.02) for t in (0.0, 0.1, 0.2)])


@pytest.mark.parametrize("folded_pp, p, accuracy_pp, advice", [
    (-3.0, 1e-4, -1.0, ["the network without BN keeps more", "the accuracy itself agrees, so deploy without BN"]),
    (+3.0, 1e-4, +1.0, ["the network with BN keeps more", "deploy with BN, folded and calibrated"]),
    (-3.0, 1e-4, +1.0, ["the network without BN keeps more", "within 1.0 points of each other"]),
    (-3.0, 0.3, -1.0, ["neither network keeps distinguishably more", "within 1.0 points of each other"])])
def test_the_advice_follows_the_equal_budget_verdicts(folded_pp, p, accuracy_pp, advice):
    text = analysis.mitigation_recommendation(recalibration(folded_pp, p, accuracy_pp), noise_aware())
    assert all(phrase in text for phrase in advice)
    assert "from 70.0% to 95.6% with BN and from 90.0% to 92.6% without" in text  # 0 and 256 images, folded
    assert f"80.0% with BN, {80 - accuracy_pp:.1f}% without ({accuracy_pp:+.1f} pp" in text
    assert "recalibrate its statistics after programming (256 images)" in text
    assert "eta_train 20%" in text and "change +10.0 pp [+8.0, +12.0]" in text and "eta_train 10%" not in text


def test_without_results_it_says_so():
    empty = analysis.recalibration_effect(pd.DataFrame(), pd.DataFrame())
    assert analysis.mitigation_recommendation(empty, None) == "Neither mitigation has results in these folders."
    only_aware = analysis.mitigation_recommendation(empty, noise_aware())
    assert only_aware.startswith("- **Noise-aware training**") and "What to do" not in only_aware


def test_both_mitigations_together_are_set_against_calibration_alone():
    alone = recalibration(-3.0)
    both = recalibration(-1.0, accuracy_pp=+0.5).assign(train_noise=0.2, bn_eq14=lambda t: t.bn_eq14 + 0.02)
    stacked = pd.concat([alone, both], ignore_index=True)
    text = analysis.mitigation_recommendation(alone, noise_aware(), stacked)
    assert "- **Both together** (paper, ResNet-20, noise on folded): trained at eta_train 20% and recalibrated on " \
           "256 images, eq. 14 97.6% with BN and 92.6% without (recalibrated alike), against 95.6% and 92.6% with " \
           "the calibration alone; BN minus no BN -1.0 pp [-2.0, +0.0]; the accuracy itself, averaged over the " \
           "levels: 80.0% with BN, 79.5% without (+0.5 pp [+0.0, +1.0])." in text
    assert "within 1.0 points of each other" in text  # the calibration alone's -1.0 and both together's +0.5
    assert "noise on kernels): trained at eta_train 20%" in text and "(not recalibrated)" in text
    assert "the lines \"Both together\" give what it adds to calibration" in text and "not measured" not in text


@pytest.mark.parametrize("differences_pp, p, verdict", [((+3.0, +2.0), 0.001, "supported"),
                                                        ((-3.0, -2.0), 0.001, "not supported"),
                                                        ((+3.0, -2.0), 0.001, "partly supported"),
                                                        ((+3.0, +2.0), 0.2, "inconclusive")])
def test_the_recalibration_claim_is_checked_at_the_largest_budget(differences_pp, p, verdict):
    kernels_pp, folded_pp = differences_pp
    row = analysis.recalibration_claims(recalibration(folded_pp, p, kernels_pp=kernels_pp)).iloc[0]
    assert row["id"] == "recalibration-turns-bn-into-asset" and row["verdict"] == verdict
    assert "256 images" in row["evidence"] and "64 images" not in row["evidence"]
