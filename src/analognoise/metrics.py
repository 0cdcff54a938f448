"""The paper's summary metrics (eq. 13, 14) and confidence intervals; pure numpy/pandas.

A *noise table* is the tidy output of :func:`analognoise.noise.noise_grid`: one row per
(eta, repeat) with columns ``eta`` (fraction, 0.1 = 10%), ``repeat``, ``accuracy`` (fraction
of test images classified correctly), ``nonfinite_fraction`` and ``clean_accuracy``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def normalized_accuracy(accuracy, clean_accuracy):
    """Eq. 13: A = a / a_0 (accuracy under noise over the noise-free accuracy)."""
    return np.asarray(accuracy, dtype=float) / float(clean_accuracy)


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper) of a Student-t confidence interval of the mean.

    With one value (or zero spread) the interval collapses to the mean.
    """
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2 or np.all(values == values[0]):
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def wilson_ci(accuracy: float, images: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(accuracy, lower, upper): the Wilson score interval of an accuracy measured on
    ``images`` test images (a binomial proportion), for a clean accuracy, which has no draws
    to take an interval over."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    centre = (accuracy + z * z / (2 * images)) / (1 + z * z / images)
    half = z * np.sqrt(accuracy * (1 - accuracy) / images + z * z / (4 * images * images)) / (1 + z * z / images)
    return float(accuracy), float(centre - half), float(centre + half)


def samples(group: pd.DataFrame, column: str) -> np.ndarray:
    """What a CI is taken over: per-training-seed means if the rows come from several training
    seeds (column ``seed``), else the individual noise trials."""
    if "seed" in group and group["seed"].nunique() > 1:
        return group.groupby("seed")[column].mean().to_numpy()
    return group[column].to_numpy()


def summarize_by_eta(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per eta: mean accuracy and normalised accuracy (eq. 13) with CIs (see :func:`samples`;
    the clean accuracy of one model: a Wilson interval over the test images), the number of
    trials and of training seeds, and the mean non-finite fraction."""
    rows = []
    for eta, group in table.groupby("eta", sort=True):
        acc, acc_lo, acc_hi = mean_ci(samples(group, "accuracy"), confidence)
        if eta == 0 and acc_lo == acc_hi and "test_images" in group:  # clean: binomial over the test images
            acc, acc_lo, acc_hi = wilson_ci(acc, int(group["test_images"].iloc[0]), confidence)
        norm, norm_lo, norm_hi = mean_ci(samples(group, "normalized_accuracy"), confidence)
        rows.append(dict(
            eta=eta, trials=len(group), seeds=group["seed"].nunique() if "seed" in group else 1,
            accuracy=acc, accuracy_lo=acc_lo, accuracy_hi=acc_hi,
            normalized_accuracy=norm, normalized_lo=norm_lo, normalized_hi=norm_hi,
            nonfinite_fraction=float(group["nonfinite_fraction"].mean()),
        ))
    return pd.DataFrame(rows)


def average_normalized_accuracy(table: pd.DataFrame) -> float:
    """Eq. 14: mean over the non-zero etas of the repeat-averaged normalised accuracy."""
    noisy = table[table["eta"] > 0]
    if noisy.empty:
        raise ValueError("eq. 14 needs at least one non-zero eta in the noise table")
    return float(noisy.groupby("eta")["normalized_accuracy"].mean().mean())


def average_normalized_accuracy_ci(table: pd.DataFrame, confidence: float = 0.95):
    """Eq. 14 with a confidence interval over repeats: (mean, lower, upper).

    Repeat r's A_avr averages the r-th trial of every non-zero eta (trials have independent
    seeds); with the same number of repeats at every eta the mean equals eq. 14 exactly.
    """
    return mean_ci(eq14_per_repeat(table), confidence)


def eq14_per_repeat(table: pd.DataFrame, column: str = "normalized_accuracy") -> np.ndarray:
    """Repeat r's A_avr: the mean normalised accuracy of the r-th trial of every non-zero eta
    (one value per repeat, and per training seed where there are several; what
    :func:`average_normalized_accuracy_ci` takes its CI over). ``column="accuracy"``: the same
    mean of the accuracy itself, not normalised. The table must be one model's (one dataset,
    variant, noise target ...): a mixed table raises ValueError."""
    noisy = table[table["eta"] > 0]
    if noisy.empty:
        raise ValueError("eq. 14 needs at least one non-zero eta in the noise table")
    settings = [c for c in ("dataset", "model", "variant", "targets", "scale", "learning_rate", "batch_size",
                                 "train_noise")
                if c in noisy and noisy[c].nunique() > 1]
    if settings:
        raise ValueError(f"eq. 14 of one model: this table mixes several {', '.join(settings)}; group it first")
    draws = [c for c in ("seed", "repeat") if c in noisy]  # several training seeds: one value per seed and draw
    return noisy.groupby(draws)[column].mean().to_numpy()
