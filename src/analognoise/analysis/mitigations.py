"""The Mitigations chapter's recommendation: what a hardware designer should do about BN's
penalty, generated from the recalibration and noise-aware effect tables (every number and every
verdict comes from them; nothing is written in advance)."""
from __future__ import annotations

import pandas as pd

from ..significance import direction
from .devices import EFFECT_KEYS, largest_budget


def _pp(value: float) -> str:
    return f"{100 * value:+.1f} pp"


def _interval(lo: float, hi: float) -> str:
    return f"[{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _accuracy(row) -> str:
    """The accuracy itself under the noise, BN against no BN, of one effect row."""
    return (f"the accuracy itself, averaged over the levels: {100 * row.bn_accuracy:.1f}% with BN, "
            f"{100 * row.no_bn_accuracy:.1f}% without ({_pp(row.accuracy_difference)} "
            f"{_interval(row.accuracy_lo, row.accuracy_hi)})")


def _together(stacked: pd.DataFrame) -> tuple[list[str], list[pd.Series]]:
    """One bullet per model, noise model and deployment of a stacked effect: the largest
    eta_train with the largest calibration budget, against calibration alone (eta_train 0);
    and those rows."""
    lines, rows = [], []
    largest = largest_budget(stacked)
    for (model, noise_model, targets), g in largest.groupby(["model", "noise_model", "targets"], sort=False):
        alone, both = g[g.train_noise == 0], g[g.train_noise == g.train_noise.max()]
        if alone.empty or both.empty or both.train_noise.iat[0] == 0:
            continue
        alone, both = alone.iloc[0], both.iloc[0]
        rows.append(both)
        no_bn = "recalibrated alike" if both.no_bn_calibration_images else "not recalibrated"
        lines.append(f"- **Both together** ({noise_model}, {model}, noise on {targets}): trained at eta_train "
                     f"{100 * both.train_noise:g}% and recalibrated on {both.calibration_images:,} images, eq. 14 "
                     f"{100 * both.bn_eq14:.1f}% with BN and {100 * both.no_bn_eq14:.1f}% without ({no_bn}), against "
                     f"{100 * alone.bn_eq14:.1f}% and {100 * alone.no_bn_eq14:.1f}% with the calibration alone; BN "
                     f"minus no BN {_pp(both.difference)} {_interval(both.difference_lo, both.difference_hi)}; "
                     f"{_accuracy(both)}.")
    return lines, rows


def _advice(robustness: list[int], accuracy: list[int], spread: float) -> str:
    """What to do, from the equal-budget verdicts on eq. 14 (``robustness``) and on the
    accuracy itself (``accuracy``, also over both mitigations together); ``spread``: the largest
    BN minus no BN in accuracy among them, in absolute value."""
    if all(v < 0 for v in robustness):
        kept = "the network without BN keeps more of its own accuracy (eq. 14) under every noise model measured"
    elif all(v > 0 for v in robustness):
        kept = "the network with BN keeps more of its own accuracy (eq. 14) under every noise model measured"
    elif all(v == 0 for v in robustness):
        kept = "neither network keeps distinguishably more of its own accuracy (eq. 14)"
    else:
        kept = "which network keeps more of its own accuracy (eq. 14) depends on the noise model"
    if all(v == robustness[0] != 0 for v in robustness + accuracy):
        choice = ("and the accuracy itself agrees, so deploy " + ("without BN where the network trains without it, "
                  "and fold BN and calibrate where it needs BN." if robustness[0] < 0 else "with BN, folded and "
                  "calibrated."))
    else:
        choice = (f"but in the accuracy itself the two are within {100 * spread:.1f} points of each other, one way or "
                  "the other (eq. 14 divides by each model's own clean accuracy): calibrate either way, and "
                  "choose BN by clean accuracy and trainability, not by robustness to the noise.")
    return (f"per-channel output calibration is the mitigation. With it, {kept}; {choice} One training seed per "
            "model: the intervals are over noise draws and leave out the seed-to-seed spread of clean accuracy.")


def mitigation_recommendation(recalibration: pd.DataFrame, noise_aware: pd.DataFrame | None = None,
                              stacked: pd.DataFrame | None = None) -> str:
    """Markdown bullets for a designer: per-channel calibration at an equal budget for BN and
    no BN (the folded deployment), BN's recalibration where BN stays digital, noise-aware
    training (its largest eta_train) and both together, each with eq. 14 (mean normalised
    accuracy over the noise model's levels), the accuracy itself where the tables have it, and
    Welch intervals, ending with what to do. ``recalibration``:
    :func:`analognoise.analysis.recalibration_effect` (models trained without noise);
    ``noise_aware``: :func:`analognoise.analysis.noise_aware_effect`; ``stacked``:
    :func:`analognoise.analysis.stacked_effect` (None or empty: no such bullet)."""
    lines, robustness, equal_rows = [], [], []
    largest = largest_budget(recalibration) if len(recalibration) else recalibration
    none = recalibration[recalibration.calibration_images == 0].set_index(EFFECT_KEYS)
    for row in largest[(largest.targets == "folded") & (largest.no_bn_calibration_images > 0)].itertuples():
        before = none.loc[(row.model, row.train_noise, row.noise_model, row.targets)]
        sign = direction(row.difference_lo, row.difference_hi, 1)
        robustness.append(sign)
        equal_rows.append(row)
        said = {1: "BN keeps significantly more", -1: "BN keeps significantly less",
                0: "BN makes no distinguishable difference"}
        lines.append(f"- **Calibrate every crossbar's outputs** ({row.noise_model}, {row.model}, BN folded): a digital "
                     f"gain and offset per output channel, re-estimated from {row.calibration_images:,} unlabelled "
                     f"images after programming, raises eq. 14 from {100 * before.bn_eq14:.1f}% to "
                     f"{100 * row.bn_eq14:.1f}% with BN and from {100 * before.no_bn_eq14:.1f}% to "
                     f"{100 * row.no_bn_eq14:.1f}% without. With the same calibration on both, {said[sign]} "
                     f"({_pp(row.difference)} {_interval(row.difference_lo, row.difference_hi)}); {_accuracy(row)}.")
    for row in largest[largest.targets == "kernels"].itertuples():
        before = none.loc[(row.model, row.train_noise, row.noise_model, row.targets)]
        compared = {1: "above", -1: "still below", 0: "level with"}[direction(row.difference_lo, row.difference_hi, 1)]
        lines.append(f"- **If BN stays digital** ({row.noise_model}, {row.model}, noise on the kernels): recalibrate "
                     f"its statistics after programming ({row.calibration_images:,} images): eq. 14 "
                     f"{100 * before.bn_eq14:.1f}% to {100 * row.bn_eq14:.1f}%, {compared} the no-BN model without "
                     f"any calibration ({100 * row.no_bn_eq14:.1f}%; {_pp(row.difference)} "
                     f"{_interval(row.difference_lo, row.difference_hi)}).")
    if noise_aware is not None and len(noise_aware.dropna(subset=["change"])):
        for model, g in noise_aware.groupby("model", sort=False):
            base, top = g.sort_values("train_noise").iloc[0], g.sort_values("train_noise").iloc[-1]
            change = ("shrinks" if top.change_lo > 0 else "grows" if top.change_hi < 0 else "does not distinguishably "
                      "change")
            lines.append(f"- **Noise-aware training** ({model}, eta_train {100 * top.train_noise:g}%): eq. 14 "
                         f"{100 * base.bn_eq14:.1f}% to {100 * top.bn_eq14:.1f}% with BN, {100 * base.no_bn_eq14:.1f}% "
                         f"to {100 * top.no_bn_eq14:.1f}% without; BN's penalty {change} ({_pp(base.penalty)} to "
                         f"{_pp(top.penalty)}, change {_pp(top.change)} {_interval(top.change_lo, top.change_hi)}), "
                         f"for a clean accuracy of {100 * base.bn_clean:.1f}% to {100 * top.bn_clean:.1f}% with BN and "
                         f"{100 * base.no_bn_clean:.1f}% to {100 * top.no_bn_clean:.1f}% without.")
    together, together_rows = _together(stacked) if stacked is not None and len(stacked) else ([], [])
    lines += together
    if robustness:
        compared = equal_rows + [r for r in together_rows if r.no_bn_calibration_images > 0]
        accuracy = [direction(r.accuracy_lo, r.accuracy_hi, 1) for r in compared]
        spread = max(abs(r.accuracy_difference) for r in compared)
        lines.append(f"- **What to do**: {_advice(robustness, accuracy, spread)} Noise-aware training is a further "
                     "lever" + ("; the lines \"Both together\" give what it adds to calibration." if together else
                                ", measured here without calibration; the two together are not measured."))
    return "\n".join(lines) or "Neither mitigation has results in these folders."
