"""The statistical tests behind the claims' verdicts: differences with Welch intervals, Holm's
correction across models, rank correlations with exact p-values for few points, slopes with
intervals, and the verdict a set of checks adds up to. No TensorFlow.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats

SUPPORTED, PARTLY, NOT_SUPPORTED, INCONCLUSIVE, UNTESTABLE = (
    "supported", "partly supported", "not supported", "inconclusive", "not testable in this study")
#: the verdict of a claim about models (BN vs no BN, depth, ...) where an arm has one trained model:
#: its noise draws give that model's interval, never an inference over training
ONE_MODEL = "one model per arm: no inference over training"
#: rank correlations over at most this many points get an exact permutation p-value
EXACT_UP_TO = 8


def verdict(passed: int, total: int, failed: int | None = None) -> str:
    """What ``total`` checks add up to, ``passed`` of them supporting the claim and ``failed``
    contradicting it (by default every check that did not pass); the rest are undecided.
    "Partly supported" needs at least one supporting check; with none supporting, any
    contradicting check makes it "not supported", and none at all "inconclusive"."""
    failed = total - passed if failed is None else failed
    if total == 0:
        return UNTESTABLE
    if passed == total:
        return SUPPORTED
    if passed == 0:
        return NOT_SUPPORTED if failed > 0 else INCONCLUSIVE
    return PARTLY


def welch(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Difference of means a - b with a Welch CI and p-value: (diff, lo, hi, p). Without spread
    to test against, the difference is exact (CI of zero width; p 0, or 1 if no difference)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    if len(a) > 1 and len(b) > 1 and (a.std() > 0 or b.std() > 0):
        test = stats.ttest_ind(a, b, equal_var=False)
        lo, hi = test.confidence_interval(confidence)
        return diff, lo, hi, test.pvalue
    return diff, diff, diff, 0.0 if diff != 0 else 1.0


def contrast(groups, weights, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """A weighted sum of independent group means, sum_i w_i mean(x_i) (e.g. weights 1, -1, -1, 1:
    a difference of differences), with a Welch-Satterthwaite CI and two-sided p-value:
    (estimate, lo, hi, p). With no spread in any group the estimate is exact (CI of zero
    width; p 0, or 1 if it is 0)."""
    groups = [np.asarray(g, float) for g in groups]
    estimate = float(sum(w * g.mean() for w, g in zip(weights, groups)))
    terms = [w * w * g.var(ddof=1) / len(g) if len(g) > 1 else 0.0 for w, g in zip(weights, groups)]
    variance = sum(terms)
    if variance == 0:
        return estimate, estimate, estimate, 0.0 if estimate != 0 else 1.0
    df = variance ** 2 / sum(t * t / (len(g) - 1) for t, g in zip(terms, groups) if len(g) > 1 and t > 0)
    half = stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(variance)
    p = 2 * stats.t.sf(abs(estimate) / math.sqrt(variance), df)
    return estimate, estimate - half, estimate + half, float(p)


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given): compare each with the level."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def spearman(x, y) -> tuple[float, float]:
    """Spearman's rho and its two-sided p-value; exact (all permutations of the ranks) for up
    to :data:`EXACT_UP_TO` points, where the asymptotic p-value is wrong (scipy gives p = 0 for
    |rho| = 1 with 3 points, whose exact p is 1/3)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # a constant: no rank correlation to speak of
        return float("nan"), 1.0
    rho = stats.spearmanr(x, y).statistic
    if len(x) > EXACT_UP_TO:
        return float(rho), float(stats.spearmanr(x, y).pvalue)
    if not np.isfinite(rho):
        return float("nan"), 1.0
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    extreme = total = 0
    for permuted in itertools.permutations(ry):
        total += 1
        extreme += abs(stats.spearmanr(rx, permuted).statistic) >= abs(rho) - 1e-12
    return float(rho), extreme / total


def smallest_p(points: int) -> float:
    """The smallest two-sided p-value a rank correlation over ``points`` distinct values can
    reach (2 / n!): with 3 points 1/3, with 4 points 1/12, so such a trend can never be
    significant at 5%."""
    return min(1.0, 2 / math.factorial(points))


def slope(x, y, confidence: float = 0.95) -> tuple[float, float, float]:
    """Least-squares slope of y on x with its confidence interval: (slope, lo, hi)."""
    fit = stats.linregress(np.asarray(x, float), np.asarray(y, float))
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


def equivalence(estimate_lo_hi: tuple[float, float, float], margin: float) -> int:
    """Two one-sided tests from an estimate's (1 - 2 alpha) interval (a 90% interval for tests at
    5%): +1 if the interval lies within (-margin, +margin) (equivalent), -1 if it lies wholly
    beyond the margin on one side (different by more than the margin), 0 otherwise."""
    _, lo, hi = estimate_lo_hi
    if -margin < lo and hi < margin:
        return 1
    if lo >= margin or hi <= -margin:
        return -1
    return 0


def direction(lo: float, hi: float, expected_sign: int) -> int:
    """+1 if an interval [lo, hi] lies on the expected side of 0, -1 if on the other, 0 if it
    spans 0 (undecided)."""
    if lo > 0 or hi < 0:
        return 1 if (lo > 0) == (expected_sign > 0) else -1
    return 0
