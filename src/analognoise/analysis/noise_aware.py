"""Noise-aware training measured: eq. 14 by training noise (eta_train), BN against no BN, and whether training with noise shrinks BN's penalty."""
from __future__ import annotations

import pandas as pd

from .. import metrics
from ..significance import contrast, holm, welch
from .claims import Evidence, checked

COLUMNS = ["dataset", "model", "train_noise", "bn_clean", "no_bn_clean", "bn_eq14", "bn_lo", "bn_hi", "no_bn_eq14",
           "no_bn_lo", "no_bn_hi", "penalty", "penalty_lo", "penalty_hi", "penalty_holm_p", "change", "change_lo",
           "change_hi", "change_p"]


def noise_aware_effect(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per dataset, model and training noise eta_train (``train_noise``, 0 = none): the clean
    accuracies and eq. 14 of the BN and the no-BN model (CI over noise draws, or over training
    seeds where there are several), BN's penalty (BN minus no BN, Welch CI, Holm-corrected
    across the eta_train of a model) and its change from eta_train = 0 (the difference of
    differences, Welch-Satterthwaite CI and p; positive: the penalty shrinks). All as fractions."""
    rows = []
    for (dataset, model), m in noise.groupby(["dataset", "model"]):
        arms = {(v, t): g for (v, t), g in m.groupby(["variant", "train_noise"])}
        levels = sorted({t for _, t in arms if ("BN", t) in arms and ("no BN", t) in arms})
        draws = {key: metrics.eq14_per_repeat(g) for key, g in arms.items() if key[1] in levels}
        tests = [welch(draws[("BN", t)], draws[("no BN", t)], confidence) for t in levels]
        adjusted = holm([t[-1] for t in tests]) if tests else []
        for t, (diff, lo, hi, _), p in zip(levels, tests, adjusted):
            bn, no_bn = (metrics.mean_ci(draws[(v, t)], confidence) for v in ("BN", "no BN"))
            change = (contrast([draws[("BN", t)], draws[("no BN", t)], draws[("BN", 0.0)], draws[("no BN", 0.0)]],
                               [1, -1, -1, 1], confidence) if 0.0 in levels and t > 0 else (float("nan"),) * 4)
            rows.append(dict(dataset=dataset, model=model, train_noise=t,
                             bn_clean=arms[("BN", t)].clean_accuracy.mean(),
                             no_bn_clean=arms[("no BN", t)].clean_accuracy.mean(),
                             bn_eq14=bn[0], bn_lo=bn[1], bn_hi=bn[2], no_bn_eq14=no_bn[0], no_bn_lo=no_bn[1],
                             no_bn_hi=no_bn[2], penalty=diff, penalty_lo=lo, penalty_hi=hi, penalty_holm_p=p,
                             change=change[0], change_lo=change[1], change_hi=change[2], change_p=change[3]))
    return pd.DataFrame(rows, columns=COLUMNS)


def noise_aware_claims(effect: pd.DataFrame) -> pd.DataFrame:
    """Does noise-aware training shrink the BN penalty? One check per model and eta_train > 0:
    supporting where the penalty's change from eta_train = 0 is positive beyond its interval,
    contradicting where negative beyond it (verdicts as in the claims checklist)."""
    trained_noisy = effect[effect.train_noise > 0].dropna(subset=["change"])
    checks = [(1 if r.change_lo > 0 else -1 if r.change_hi < 0 else 0,
               f"{r.model} at eta_train {100 * r.train_noise:g}%: penalty {100 * r.penalty:+.1f} pp "
               f"(change {100 * r.change:+.1f} pp [{100 * r.change_lo:+.1f}, {100 * r.change_hi:+.1f}])")
              for r in trained_noisy.itertuples()]
    evidence = Evidence(sum(c == 1 for c, _ in checks), len(checks), "; ".join(t for _, t in checks),
                        failed=sum(c == -1 for c, _ in checks))
    return pd.DataFrame([checked(
        "noise-aware-shrinks-bn-penalty", "beyond the paper (Joshi et al. 2020)",
        "Training with weight noise shrinks BN's penalty in eq. 14 (BN minus no BN rises from its value without "
        "noise-aware training; difference of differences, 95% interval above 0).",
        "BN and no-BN models trained with and without weight noise", evidence)])


def noise_aware_summary(effect: pd.DataFrame) -> str:
    """Markdown for a designer, one line per model and eta_train > 0: eq. 14 of the BN and the
    no-BN model, BN's penalty with its interval, and whether it shrank, grew or did not
    distinguishably change from its value without noise-aware training."""
    lines = []
    for r in effect[effect.train_noise > 0].itertuples():
        interval = f"({100 * r.change:+.1f} pp [{100 * r.change_lo:+.1f}, {100 * r.change_hi:+.1f}] from eta_train 0)"
        if pd.isna(r.change):
            change = "no model trained without noise to compare with"
        elif r.change_lo > 0:
            change = f"the penalty shrinks {interval}"
        elif r.change_hi < 0:
            change = f"the penalty grows {interval}"
        else:
            change = f"no distinguishable change in the penalty {interval}"
        lines.append(f"- **{r.model}, eta_train {100 * r.train_noise:g}%**: eq. 14 {100 * r.bn_eq14:.1f}% with BN, "
                     f"{100 * r.no_bn_eq14:.1f}% without (clean {100 * r.bn_clean:.1f}% and {100 * r.no_bn_clean:.1f}%); "
                     f"BN minus no BN {100 * r.penalty:+.1f} pp [{100 * r.penalty_lo:+.1f}, {100 * r.penalty_hi:+.1f}]"
                     f"; {change}.")
    return "\n".join(lines) or "No BN and no-BN pair trained with the same weight noise has finished in this study yet."


def noise_aware_accuracy(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The accuracy itself (not normalised) under the noise grid, for a designer who needs the
    number the chip will give: one row per dataset, model, variant and eta_train, one column per
    test noise eta, each "mean [lo, hi]" in % (CI over the noise draws, or over training seeds
    where there are several; the clean column a Wilson interval over the test images;
    :func:`analognoise.metrics.summarize_by_eta`)."""
    rows = []
    for (dataset, model, variant, train_noise), g in noise.groupby(["dataset", "model", "variant", "train_noise"]):
        by_eta = metrics.summarize_by_eta(g, confidence)
        rows.append({"dataset": dataset, "model": model, "variant": variant,
                     "eta_train (%)": f"{100 * train_noise:g}"}
                    | {f"eta {100 * r.eta:g}%": f"{100 * r.accuracy:.1f} [{100 * r.accuracy_lo:.1f}, "
                                                f"{100 * r.accuracy_hi:.1f}]" for r in by_eta.itertuples()})
    return pd.DataFrame(rows)
