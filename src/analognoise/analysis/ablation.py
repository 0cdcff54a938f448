"""Which weights does the noise hit: eq. 14 by noise target, shares of the degradation, collapsed trials, and the ablation's findings."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..significance import UNTESTABLE, verdict, welch
from .tables import CHANCE, _ordered_models, _pct, _settings, is_trained, untrained_runs


#: the ablation's noise targets: each of the first four adds tensors to the one before it
ABLATION_TARGETS = {
    "kernels": "kernels",
    "kernels+biases": "+ biases",
    "trainable": "+ BN γ, β",
    "all": "+ BN moving stats",
    "folded": "BN folded",
}


#: what each cumulative step adds, for the shares of the degradation
ABLATION_STEPS = [("kernels", None, "kernels"), ("biases", "kernels", "kernels+biases"),
                  ("BN gamma, beta", "kernels+biases", "trainable"),
                  ("BN moving statistics", "trainable", "all")]


def _ordered_targets(targets) -> list[str]:
    return [t for t in ABLATION_TARGETS if t in set(targets)]


def ablation_eq14(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 per model, variant and noise target (``noise`` from
    ``load_results(..., all_targets=True)``): a_avr with its CI over repeats, and the mean
    non-finite fraction at the largest eta."""
    rows = []
    keys = [*_settings(noise), "targets"]  # every setting that defines a run: never averaged over
    for key, g in noise.groupby(keys):
        mean, lo, hi = metrics.average_normalized_accuracy_ci(g, confidence)
        top = g[g.eta == g.eta.max()]
        rows.append(dict(zip(keys, key), a_avr=mean, a_avr_lo=lo,
                         a_avr_hi=hi, nonfinite_at_max_eta=float(top.nonfinite_fraction.mean())))
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(_ordered_models(table.model))}
    return table.sort_values(["model", "variant", "targets"], key=lambda c: c.map(
        order if c.name == "model" else {v: i for i, v in enumerate([*ABLATION_TARGETS, "BN", "partial BN", "no BN"])}),
        ignore_index=True)


def ablation_table(noise: pd.DataFrame) -> pd.DataFrame:
    """Eq. 14 (%, mean ± 95% CI half-width) per model and variant (rows) and noise target
    (columns, in :data:`ABLATION_TARGETS` order)."""
    table = ablation_eq14(noise)
    table["cell"] = [_pct(r.a_avr, r.a_avr_lo, r.a_avr_hi) for r in table.itertuples()]
    wide = table.pivot(index=["model", "variant"], columns="targets", values="cell")
    wide = wide[_ordered_targets(wide.columns)].rename(columns=ABLATION_TARGETS)
    return wide.loc[[k for k in dict.fromkeys(zip(table.model, table.variant))]]


def degradation_sources(noise: pd.DataFrame) -> pd.DataFrame:
    """For every model with BN layers: the loss of eq. 14, 1 - A_avr (%), under each noise target,
    and the share (%) of the loss with every tensor noisy ("all") that each added group of
    tensors accounts for (kernels; biases; BN gamma, beta; BN moving statistics). Shares are
    differences of measured losses: noise effects need not add up, so one can fall below 0."""
    table = ablation_eq14(noise)
    rows = []
    keys = _settings(table)
    for key, g in table[table.variant != "no BN"].groupby(keys, sort=False):
        loss = {t: 100 * (1 - a) for t, a in zip(g.targets, g.a_avr)}
        row = dict(zip(keys, key), **{f"loss {ABLATION_TARGETS[t]}": v for t, v in loss.items()})
        if "all" in loss:
            for name, before, after in ABLATION_STEPS:
                if after in loss and (before is None or before in loss):
                    row[f"share: {name}"] = 100 * (loss[after] - (loss[before] if before else 0)) / loss["all"]
        rows.append(row)
    return pd.DataFrame(rows)


def collapsed_trials(noise: pd.DataFrame) -> pd.DataFrame:
    """Trials whose every output was non-finite (the network "collapsed": under noise on BN's
    moving variance it goes negative and BN takes its square root), per setting and noise
    target: how many, from which eta on, and the accuracy two scorings give them. Ours counts
    a non-finite output as wrong (0%); NumPy's argmax of an all-NaN row is class 0, so a study
    that scores that way gets exactly the share of class 0, chance on a balanced test set,
    which is what the paper's VGG16 with BN shows at every eta >= 1%. ``as_argmax_of_nan`` is
    that score: accuracy + non-finite share x chance (exact for collapsed trials)."""
    keys = [*_settings(noise), "targets"]
    rows = []
    for key, g in noise[noise.eta > 0].groupby(keys):
        collapsed = g[g.nonfinite_fraction >= 1.0]
        if collapsed.empty:
            continue
        chance = CHANCE.get(g.dataset.iloc[0], 0.0)
        rows.append(dict(zip(keys, key), collapsed=len(collapsed), trials=len(g), from_eta=float(collapsed.eta.min()),
                         accuracy_as_scored=float(collapsed.accuracy.mean()),
                         as_argmax_of_nan=float((collapsed.accuracy + collapsed.nonfinite_fraction * chance).mean())))
    return pd.DataFrame(rows, columns=[*keys, "collapsed", "trials", "from_eta", "accuracy_as_scored", "as_argmax_of_nan"])


def _welch_pp(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Difference of means a - b in percentage points with a Welch CI."""
    diff, lo, hi, _ = welch(a, b, confidence)
    return 100 * diff, 100 * lo, 100 * hi


def ablation_findings(noise: pd.DataFrame) -> pd.DataFrame:
    """The questions the ablation answers, each with a finding and the evidence in numbers.
    Models that did not train (:func:`is_trained`) are left out."""
    noise = noise[~noise.run_id.isin(untrained_runs(noise).run_id)]
    if noise.empty:
        return pd.DataFrame([dict(question="Which weights carry the loss?", finding=UNTESTABLE,
                                  evidence="needs a trained model: none of this study's models trained")])
    table = ablation_eq14(noise)
    a = table.set_index(["model", "variant", "targets"])
    sources = degradation_sources(noise)
    rows = []

    def finding(question, verdict, evidence):
        rows.append(dict(question=question, finding=verdict, evidence=evidence))

    gaps = []
    for model, g in noise[noise.targets == "kernels"].groupby("model", sort=False):
        bn, other = g[g.variant == "BN"], g[g.variant != "BN"]
        if not bn.empty and not other.empty:
            gaps.append((model, other.variant.iloc[0], *_welch_pp(metrics.eq14_per_repeat(bn), metrics.eq14_per_repeat(other))))
    below = sum(hi < 0 for *_, hi in gaps)
    finding("With noise on the conv/dense kernels only, is the BN model still less robust than the "
            "model without (or with partial) BN?",
            f"yes for {below} of {len(gaps)} models" if gaps else UNTESTABLE,
            "; ".join(f"{m} BN − {v}: {d:+.1f} pp [{lo:+.1f}, {hi:+.1f}]" for m, v, d, lo, hi in gaps))
    if not sources.empty and "share: BN moving statistics" in sources:
        shares = sources["share: BN moving statistics"]
        finding("How much of a BN model's degradation (every tensor noisy) comes from noise on the BN "
                "moving statistics?",
                f"median {shares.median():.0f}% (range {shares.min():.0f}-{shares.max():.0f}%)",
                "; ".join(f"{m} ({v}): {x:.0f}%" for m, v, x in zip(sources.model, sources.variant, shares)))
    if not sources.empty and "share: kernels" in sources:
        k = sources["share: kernels"]
        finding("And from noise on the trained kernels?",
                f"median {k.median():.0f}% (range {k.min():.0f}-{k.max():.0f}%)",
                "share of the all-tensors loss already reached with kernels-only noise")
    nonfinite = table.groupby("targets").nonfinite_at_max_eta.max()
    finding("How often do the outputs become non-finite (NaN/inf) at the largest eta?",
            ", ".join(f"{ABLATION_TARGETS.get(t, t)}: up to {100 * v:.1f}%" for t, v in
                      nonfinite.reindex(_ordered_targets(nonfinite.index)).items()),
            "largest mean fraction of test images with a non-finite output, over models")
    pairs = [(m, v) for m, v in dict.fromkeys(zip(table.model, table.variant))
             if v != "no BN" and (m, v, "folded") in a.index and (m, v, "trainable") in a.index]
    if pairs:
        diffs = [(m, v, *_welch_pp(metrics.eq14_per_repeat(noise[(noise.model == m) & (noise.variant == v) & (noise.targets == "folded")]),
                                   metrics.eq14_per_repeat(noise[(noise.model == m) & (noise.variant == v) & (noise.targets == "trainable")])))
                 for m, v in pairs]
        worse = sum(hi < 0 for *_, hi in diffs)
        finding("Deployed with BN folded into the conv kernels and biases, is a BN model less robust "
                "than with noise on its separate trainable tensors?",
                f"yes for {worse} of {len(diffs)} models",
                "; ".join(f"{m} ({v}) folded − trainable: {d:+.1f} pp [{lo:+.1f}, {hi:+.1f}]" for m, v, d, lo, hi in diffs))
    return pd.DataFrame(rows)


def pretrained_eq14(models: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 (%, with a CI over draws) of each pretrained model (rows, in the order of
    ``models``) under each choice of noise targets (columns), as "mean ± half-width"."""
    order = [t for t in ABLATION_TARGETS if t in set(noise.targets)]
    table = {}
    for model in models.itertuples():
        row = {}
        for targets in order:
            trials = noise[(noise.run_id == model.run_id) & (noise.targets == targets)]
            mean, lo, hi = metrics.average_normalized_accuracy_ci(trials, confidence)
            row[ABLATION_TARGETS[targets]] = _pct(mean, lo, hi)
        table[f"{model.model} ({100 * model.clean_accuracy:.1f}% clean)"] = row
    return pd.DataFrame.from_dict(table, orient="index")
