"""Section II measured: minibatch noise summaries, the power-law fit of eq. 7, the link to robustness and the theory claims."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from .claims import Evidence, checked


def minibatch_summary(minibatch: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean minibatch noise power with a CI per (run, epoch, mode, batch size), beside eq. 7's
    prediction C / |B| * (M - |B|) / (M - 1); ``ratio`` = measured / predicted."""
    keys = ["run_id", "dataset", "model", "variant", "epoch", "training", "batch_size"]
    rows = []
    for key, g in minibatch.groupby(keys):
        mean, lo, hi = metrics.mean_ci(g["power"], confidence)
        predicted = g["predicted"].iloc[0]
        rows.append(dict(zip(keys, key), power=mean, power_lo=lo, power_hi=hi, predicted=predicted,
                         ratio=mean / predicted, ratio_lo=lo / predicted, ratio_hi=hi / predicted))
    return pd.DataFrame(rows)


def power_law_fit(minibatch: pd.DataFrame) -> tuple[float, float]:
    """Least-squares slope and intercept of log(mean power) vs log(batch size); eq. 7 says -1."""
    means = minibatch.groupby("batch_size")["power"].mean()
    slope, intercept = np.polyfit(np.log(means.index.to_numpy(float)), np.log(means.to_numpy()), 1)
    return float(slope), float(intercept)


def theory_vs_robustness(checkpoints: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """Per run, the final checkpoint's gradient noise and smoothness beside eq. 14."""
    final = checkpoints.loc[checkpoints.groupby("run_id")["epoch"].idxmax()]
    robust = pd.DataFrame([dict(run_id=run, **dict(zip(("a_avr", "a_avr_lo", "a_avr_hi"),
                                                       metrics.average_normalized_accuracy_ci(g))))
                           for run, g in noise.groupby("run_id")])
    columns = ["run_id", "dataset", "model", "variant", "epoch", "c", "relative_c", "full_gradient_norm",
               "loss_range", "gradient_change", "beta_smoothness"]
    return final[columns].merge(robust, on="run_id", validate="one_to_one").reset_index(drop=True)


def theory_claims(checkpoints: pd.DataFrame, minibatch: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """Section II's statements, and what the measurements say (verdicts as in claims_checklist)."""
    rows = []

    def add(id, claim, passed, total, evidence, needs="", failed=None):
        rows.append(checked(id, "II", claim, needs, Evidence(passed, total, evidence, failed)))

    summary = minibatch_summary(minibatch)
    independent = summary[~summary.training]
    inside = (independent.ratio_lo <= 1) & (1 <= independent.ratio_hi)
    add("eq7-noise-power", "Eq. 7: the minibatch gradient noise power is alpha^2 C / |B| (BN with moving statistics, "
        "samples independent).", int(inside.sum()), len(independent),
        f"measured / predicted power: median {independent.ratio.median():.2f}, range "
        f"{independent.ratio.min():.2f}-{independent.ratio.max():.2f}; the 95% CI contains 1 in "
        f"{int(inside.sum())} of {len(independent)} (run, checkpoint, batch size) cells",
        failed=int((~inside).sum()))
    slopes = []
    for (run, variant, epoch, training), g in minibatch.groupby(["run_id", "variant", "epoch", "training"]):
        if g.batch_size.nunique() >= 2:
            slopes.append(power_law_fit(g)[0])
    slopes = np.array(slopes)
    near = np.abs(slopes + 1) <= 0.25
    add("eq7-one-over-batch", "The noise power scales as 1/|B| in both BN modes (log-log slope -1 +- 0.25; the finite-pool "
        "factor steepens it slightly).", int(near.sum()), len(slopes),
        f"slopes: median {np.median(slopes):.2f}, range {slopes.min():.2f} to {slopes.max():.2f}"
        if len(slopes) else "", "two or more batch sizes", failed=int((~near).sum()))
    coupled = summary[summary.training & (summary.variant != "no BN") & (summary.epoch > 0)]
    add("eq7-with-batch-statistics", "With BN's batch statistics (what SGD sees) the power is still what eq. 7 predicts from the "
        "independent-sample C (trained checkpoints).",
        int(((coupled.ratio_lo <= 1) & (1 <= coupled.ratio_hi)).sum()), len(coupled),
        f"measured / predicted: median {coupled.ratio.median():.2f}, range "
        f"{coupled.ratio.min():.2f}-{coupled.ratio.max():.2f}: BN's batch coupling changes the noise SGD sees"
        if len(coupled) else "", "a run with BN", failed=int(((coupled.ratio_hi < 1) | (coupled.ratio_lo > 1)).sum()))

    pairs = []
    for (dataset, model), g in checkpoints.groupby(["dataset", "model"]):
        bn, other = g[g.variant == "BN"], g[g.variant != "BN"]
        if bn.empty or other.empty:
            continue
        merged = bn.merge(other, on="epoch", suffixes=("_bn", "_other"))
        pairs.append((model, merged))
    for column, id, claim in (("c", "bn-lowers-c", "BN lowers the gradient noise C (eq. 6) of training."),
                              ("relative_c", "bn-lowers-relative-c", "BN lowers the gradient noise relative to the gradient, C / ||g_D||^2."),
                              ("loss_range", "bn-smooths-loss", "BN smooths the loss: a smaller loss change along the gradient (Lipschitzness)."),
                              ("beta_smoothness", "bn-lowers-beta", "BN makes gradients more predictive: a smaller effective beta-smoothness.")):
        evidence, passed, total = [], 0, 0
        for model, merged in pairs:
            trained = merged[merged.epoch > 0]
            total += len(trained)
            passed += int((trained[f"{column}_bn"] < trained[f"{column}_other"]).sum())
            evidence.append(f"{model}: " + ", ".join(
                f"epoch {int(r.epoch)} {r[f'{column}_bn']:.3g} vs {r[f'{column}_other']:.3g}"
                for _, r in trained.iterrows()))
        add(id, claim + " (BN vs no BN, at each trained checkpoint)", passed, total, "; ".join(evidence),
            "BN and no-BN runs of one model")

    sgd = summary[summary.training & (summary.epoch > 0)]
    compared = []
    for (dataset, model), g in sgd.groupby(["dataset", "model"]):
        at = g[g.batch_size == g.batch_size.max()]
        merged = at[at.variant == "BN"].merge(at[at.variant != "BN"], on="epoch", suffixes=("_bn", "_other"))
        compared.append((model, int(at.batch_size.max()), merged))
    add("bn-lowers-sgd-noise", "BN lowers the minibatch gradient noise power SGD sees (batch statistics, largest measured "
        "batch; BN vs no BN, 95% CIs apart).",
        sum(int((m.power_hi_bn < m.power_lo_other).sum()) for _, _, m in compared),
        sum(len(m) for _, _, m in compared),
        "; ".join(f"{model}, |B| = {size}: " + ", ".join(
            f"epoch {int(r.epoch)} {r.power_bn:.3g} vs {r.power_other:.3g}" for r in m.itertuples())
            for model, size, m in compared),
        "BN and no-BN runs of one model",
        failed=sum(int((m.power_lo_bn > m.power_hi_other).sum()) for _, _, m in compared))

    link = theory_vs_robustness(checkpoints, noise)
    evidence, passed, total = [], 0, 0
    for (dataset, model), g in link.groupby(["dataset", "model"]):
        if g.variant.nunique() < 2:
            continue
        ordered = g.sort_values("c")
        total += 1
        passed += int(ordered.a_avr.is_monotonic_increasing)
        evidence.append(f"{model}: " + ", ".join(
            f"{r.variant} C {r.c:.3g}, eq. 14 {100 * r.a_avr:.1f}%" for r in ordered.itertuples()))
    add("more-noise-more-robust", "More gradient noise in training gives a more noise-resistant model (higher C, higher eq. 14).",
        passed, total, "; ".join(evidence), "two variants of one model")
    return pd.DataFrame(rows)
