"""The paper's tables from our runs beside the paper's: summaries, eq. 14 (plain and chance-corrected), Tables II-IV, BN vs no BN, which runs count as trained, and the study's budget caveat."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..significance import welch
from .paper import DATASET_LABELS, MODEL_ORDER, paper_accuracy, paper_table4


#: the columns that identify what a result is about (training seeds are pooled)
SETTINGS = ["dataset", "model", "variant", "learning_rate", "batch_size", "train_noise"]


def _settings(frame: pd.DataFrame) -> list[str]:
    return [c for c in SETTINGS if c in frame]


def summarize(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per setting (dataset, model, variant, learning rate, batch size) and eta: accuracy and
    normalised accuracy with CIs (:func:`analognoise.metrics.summarize_by_eta`)."""
    keys = _settings(noise)
    parts = [metrics.summarize_by_eta(g, confidence).assign(**dict(zip(keys, key)))
             for key, g in noise.groupby(keys)]
    table = pd.concat(parts, ignore_index=True)
    return table[[*keys, *[c for c in table if c not in keys]]]


def eq14(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 per setting (dataset, model, variant, ...) with a CI (over repeats, or over seeds)."""
    rows = []
    keys = _settings(noise)
    for key, g in noise.groupby(keys):
        if g["seed"].nunique() > 1:
            per_seed = [metrics.average_normalized_accuracy(s) for _, s in g.groupby("seed")]
            mean, lo, hi = metrics.mean_ci(per_seed, confidence)
        else:
            mean, lo, hi = metrics.average_normalized_accuracy_ci(g, confidence)
        rows.append(dict(zip(keys, key), a_avr=mean, a_avr_lo=lo, a_avr_hi=hi))
    return pd.DataFrame(rows)


def _ordered_models(models) -> list[str]:
    """The paper's models in its order, then any others (e.g. ResNet-8) by name."""
    models = set(models)
    return [m for m in MODEL_ORDER if m in models] + sorted(models - set(MODEL_ORDER))


def _pct(mean, lo=None, hi=None, digits: int = 2) -> str:
    if mean is None or pd.isna(mean):
        return ""
    if lo is None or hi - lo < 5e-5:
        return f"{100 * mean:.{digits}f}"
    return f"{100 * mean:.{digits}f} ± {100 * (hi - lo) / 2:.{digits}f}"


def _variants(ours: pd.DataFrame) -> list[str]:
    return [v for v in ("BN", "partial BN", "no BN") if v in set(ours.variant) or v != "partial BN"]


def accuracy_table(summary: pd.DataFrame, dataset: str, digits: int = 2) -> pd.DataFrame:
    """Table II (cifar10) / III (cifar100): accuracy (%, ``digits`` decimals) per model and
    variant (rows) and eta (columns), ours (mean ± 95% CI half-width) beside the paper's."""
    paper = paper_accuracy()
    paper = paper[paper.dataset == dataset]
    ours = summary[summary.dataset == dataset]
    rows = []
    for model in _ordered_models(set(ours.model) | set(paper.model)):
        for variant in _variants(ours):
            row = {"model": model, "variant": variant}
            for eta in sorted(set(ours.eta) | set(paper.eta)):
                label = f"{100 * eta:g}%"
                o = ours[(ours.model == model) & (ours.variant == variant) & np.isclose(ours.eta, eta)]
                p = paper[(paper.model == model) & (paper.variant == variant) & np.isclose(paper.eta, eta)]
                row[(label, "ours")] = (_pct(o.accuracy.iloc[0], o.accuracy_lo.iloc[0], o.accuracy_hi.iloc[0], digits)
                                        if len(o) else "")
                row[(label, "paper")] = _pct(p.accuracy.iloc[0], digits=digits) if len(p) else ""
            rows.append(row)
    return _tidy_table(rows, ["eta", "source"])


def _tidy_table(rows: list[dict], column_names: list[str]) -> pd.DataFrame:
    """Rows keyed by (model, variant), without the rows that have no number at all."""
    table = pd.DataFrame(rows).set_index(["model", "variant"])
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=column_names)
    table = table[(table != "").any(axis=1)]
    return table.replace("", "–")


def table4(noise: pd.DataFrame) -> pd.DataFrame:
    """Table IV: eq. 14 (%) per model and variant (rows) and dataset (columns), ours (± 95% CI
    half-width) beside the paper's."""
    ours = eq14(noise)
    paper = paper_table4()
    rows = []
    for model in _ordered_models(set(ours.model) | set(paper.model)):
        for variant in _variants(ours):
            row = {"model": model, "variant": variant}
            for dataset, label in DATASET_LABELS.items():
                o = ours[(ours.model == model) & (ours.dataset == dataset) & (ours.variant == variant)]
                p = paper[(paper.model == model) & (paper.dataset == dataset) & (paper.variant == variant)]
                row[(label, "ours")] = _pct(o.a_avr.iloc[0], o.a_avr_lo.iloc[0], o.a_avr_hi.iloc[0]) if len(o) else ""
                row[(label, "paper")] = _pct(p.a_avr.iloc[0]) if len(p) else ""
            rows.append(row)
    return _tidy_table(rows, ["dataset", "source"])


def bn_effect(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """BN vs no-BN (or partial BN) per (dataset, model, eta > 0): the difference of mean
    normalised accuracy (BN minus other, percentage points) with a Welch CI and p-value.

    Both models are scored on the same test images; their noise draws are independent.
    With several training seeds the samples are per-seed means, so the CI covers training too.
    """
    rows = []
    noisy = noise[noise.eta > 0]
    keys = [*[c for c in _settings(noise) if c != "variant"], "eta"]
    for key, g in noisy.groupby(keys):
        bn = g[g.variant == "BN"]
        for other_variant in ("no BN", "partial BN"):
            other = g[g.variant == other_variant]
            if bn.empty or other.empty:
                continue
            diff, lo, hi, p_value = welch(metrics.samples(bn, "normalized_accuracy"),
                                           metrics.samples(other, "normalized_accuracy"), confidence)
            rows.append(dict(zip(keys, key), versus=other_variant,
                             bn_minus_other_pp=100 * diff, ci_lo_pp=100 * lo, ci_hi_pp=100 * hi,
                             p_value=p_value))
    columns = [*keys, "versus", "bn_minus_other_pp", "ci_lo_pp", "ci_hi_pp", "p_value"]
    return pd.DataFrame(rows, columns=columns)  # no pair yet (a study under way): no rows, same columns


#: chance accuracy of each dataset
CHANCE = {"cifar10": 0.1, "cifar100": 0.01}


#: a model "trained" when its clean accuracy is at least this multiple of chance: below it,
#: eq. 13's floor (chance / clean accuracy, reached by a model that guesses under noise) is
#: above 1/3, and a near-constant classifier looks robust. One rule for every table and claim.
TRAINED_MULTIPLE_OF_CHANCE = 3


def clean_accuracy_table(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per run: dataset, model, variant, seed, clean accuracy on the noise grid's test
    images with its Wilson interval (a binomial proportion), the number of images, and the
    paper's clean accuracy of the same model and variant (its Table II/III at eta = 0)."""
    runs = noise.groupby("run_id")[["dataset", "model", "variant", "seed", "clean_accuracy", "test_images"]].first()
    paper = paper_accuracy()
    paper = paper[paper.eta == 0].set_index(["dataset", "model", "variant"]).accuracy
    rows = []
    for run_id, r in runs.iterrows():
        accuracy, lo, hi = metrics.wilson_ci(r.clean_accuracy, int(r.test_images), confidence)
        rows.append(dict(run_id=run_id, dataset=r.dataset, model=r.model, variant=r.variant, seed=r.seed,
                         clean_accuracy=accuracy, lo=lo, hi=hi, test_images=int(r.test_images),
                         paper=paper.get((r.dataset, r.model, r.variant), float("nan"))))
    return pd.DataFrame(rows).sort_values(["dataset", "model", "variant", "seed"], ignore_index=True)


def matched_clean_accuracy(noise: pd.DataFrame, tolerance: float = 0.02, confidence: float = 0.95) -> pd.DataFrame:
    """BN vs no BN at matched clean accuracy: every pair of a BN and a no-BN run of the same
    dataset and model whose clean accuracies differ by at most ``tolerance`` (a fraction; eq. 13
    favours the weaker model, so only such pairs compare robustness alone), with eq. 14 of
    each (CI over its draws) and BN minus no BN with a Welch interval and p-value."""
    runs = noise.groupby("run_id")[["dataset", "model", "variant", "seed", "clean_accuracy"]].first().reset_index()
    rows = []
    for (dataset, model), g in runs.groupby(["dataset", "model"]):
        for bn in g[g.variant == "BN"].itertuples():
            for other in g[g.variant == "no BN"].itertuples():
                gap = bn.clean_accuracy - other.clean_accuracy
                if abs(gap) > tolerance + 1e-12:
                    continue
                a = metrics.eq14_per_repeat(noise[noise.run_id == bn.run_id])
                b = metrics.eq14_per_repeat(noise[noise.run_id == other.run_id])
                diff, lo, hi, p = welch(a, b, confidence)
                rows.append(dict(dataset=dataset, model=model, bn_run=bn.run_id, no_bn_run=other.run_id,
                                 bn_seed=bn.seed, no_bn_seed=other.seed, clean_gap=gap, bn_eq14=a.mean(),
                                 no_bn_eq14=b.mean(), difference=diff, lo=lo, hi=hi, p=p))
    columns = ["dataset", "model", "bn_run", "no_bn_run", "bn_seed", "no_bn_seed", "clean_gap", "bn_eq14",
               "no_bn_eq14", "difference", "lo", "hi", "p"]
    return pd.DataFrame(rows, columns=columns)


def is_trained(clean_accuracy, dataset: str):
    """Whether a model with this clean accuracy on ``dataset`` counts as trained (see
    :data:`TRAINED_MULTIPLE_OF_CHANCE`); works on scalars and arrays."""
    return clean_accuracy >= TRAINED_MULTIPLE_OF_CHANCE * CHANCE.get(dataset, 0.0) - 1e-9


def untrained_runs(noise: pd.DataFrame) -> pd.DataFrame:
    """The runs of a noise table that did not train: run_id, dataset, model, variant, clean."""
    runs = noise.groupby("run_id")[["dataset", "model", "variant", "clean_accuracy"]].first().reset_index()
    return runs[[not is_trained(c, d) for c, d in zip(runs.clean_accuracy, runs.dataset)]]


def eq14_chance_corrected(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 with chance taken out, per setting: the mean over non-zero etas of
    (a - c) / (a0 - c), c the dataset's chance accuracy: 1 keeps everything above chance, 0
    falls to chance. Unlike eq. 13 it does not favour the weaker model (whose floor
    chance / a0 is higher). CI over repeats."""
    rows = []
    keys = _settings(noise)
    for key, g in noise[noise.eta > 0].groupby(keys):
        chance = CHANCE.get(g.dataset.iloc[0], 0.0)
        corrected = (g.accuracy - chance) / (g.clean_accuracy - chance)
        per_repeat = corrected.groupby(g.repeat).mean().to_numpy()
        mean, lo, hi = metrics.mean_ci(per_repeat, confidence)
        rows.append(dict(zip(keys, key), a_avr_corrected=mean, lo=lo, hi=hi))
    return pd.DataFrame(rows)


def budget_caveat(noise: pd.DataFrame) -> str:
    """What a reader must know before believing this study's verdicts: how well its models
    trained against the paper's, how many draws on how many images, and what was left out."""
    runs = noise.groupby("run_id")[["dataset", "model", "variant", "clean_accuracy", "test_images"]].first()
    paper = paper_accuracy()
    paper_clean = paper[(paper.eta == 0) & paper.dataset.isin(runs.dataset)].accuracy
    draws = noise[noise.eta > 0].groupby(["run_id", "eta"]).size().min()
    text = (f"models at {100 * runs.clean_accuracy.min():.0f}-{100 * runs.clean_accuracy.max():.0f}% clean accuracy"
            + (f" (the paper's: {100 * paper_clean.min():.0f}-{100 * paper_clean.max():.0f}%)" if len(paper_clean) else "")
            + f"; {draws} noise draws per level on {int(runs.test_images.max()):,} test images")
    left_out = untrained_runs(noise)
    if len(left_out):
        text += "; left out as untrained (clean accuracy below {}x chance): ".format(TRAINED_MULTIPLE_OF_CHANCE) + ", ".join(
            f"{r.model} {r.variant} ({100 * r.clean_accuracy:.1f}%)" for r in left_out.itertuples())
    return text
