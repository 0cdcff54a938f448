"""The companion studies: the learning-rate sweet spot and the architecture benchmark, with their claims."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..significance import spearman
from .claims import Evidence, checked
from .tables import _settings, eq14, is_trained


def learning_rate_table(noise: pd.DataFrame, checkpoints: pd.DataFrame | None = None,
                        confidence: float = 0.95) -> pd.DataFrame:
    """One row per (dataset, model, variant, batch size, learning rate): clean accuracy, mean
    accuracy under noise (over the non-zero etas; CI over repeats), eq. 14 with a CI,
    ``trained`` (see :func:`is_trained`) and, with the theory ``checkpoints``,
    the last checkpoint's C and the per-step noise power lr^2 C / |B| (eq. 7)."""
    rows = []
    keys = _settings(noise)
    for key, g in noise.groupby(keys):
        noisy = g[g.eta > 0]
        per_repeat = noisy.groupby(["seed", "repeat"])["accuracy"].mean()
        mean, lo, hi = metrics.mean_ci(per_repeat.to_numpy(), confidence)
        a_avr, a_lo, a_hi = eq14(g, confidence)[["a_avr", "a_avr_lo", "a_avr_hi"]].iloc[0]
        row = dict(zip(keys, key), run_id=g.run_id.iloc[0], clean_accuracy=g.clean_accuracy.mean(),
                   noisy_accuracy=mean, noisy_lo=lo, noisy_hi=hi, a_avr=a_avr, a_avr_lo=a_lo, a_avr_hi=a_hi)
        row["trained"] = bool(is_trained(row["clean_accuracy"], row["dataset"]))
        rows.append(row)
    table = pd.DataFrame(rows)
    if checkpoints is not None:
        last = checkpoints.loc[checkpoints.groupby("run_id")["epoch"].idxmax(), ["run_id", "c", "relative_c"]]
        table = table.merge(last, on="run_id", how="left")
        table["step_noise_power"] = table.learning_rate ** 2 * table.c / table.batch_size
    return table.sort_values([*[k for k in keys if k != "learning_rate"], "learning_rate"]).reset_index(drop=True)


def sweet_spots(table: pd.DataFrame) -> pd.DataFrame:
    """Per model (and batch size): the learning rate with the best clean accuracy, the best
    eq. 14 among runs that trained, and the best accuracy under noise (the sweet spot), and
    whether the sweet spot lies strictly inside the grid."""
    rows = []
    for key, g in table.groupby([k for k in _settings(table) if k != "learning_rate"]):
        trained = g[g.trained]
        best = g.loc[g.noisy_accuracy.idxmax()]
        rows.append(dict(zip([k for k in _settings(table) if k != "learning_rate"], key),
                         best_clean_lr=g.loc[g.clean_accuracy.idxmax(), "learning_rate"],
                         best_eq14_lr=trained.loc[trained.a_avr.idxmax(), "learning_rate"] if len(trained) else np.nan,
                         sweet_spot_lr=best.learning_rate, sweet_spot_noisy_accuracy=best.noisy_accuracy,
                         interior=g.learning_rate.min() < best.learning_rate < g.learning_rate.max()))
    return pd.DataFrame(rows)


def learning_rate_claims(table: pd.DataFrame) -> pd.DataFrame:
    """The learning-rate paper's claims and the eq. 7 link, checked (verdicts as elsewhere)."""
    rows = []

    trained_runs = table[table.trained].groupby("model").size()
    spots = sweet_spots(table)
    spots = spots[spots.model.map(trained_runs).fillna(0) >= 3]
    rows.append(checked(
        "lr-sweet-spot", "learning-rate study", "There is a sweet spot: the learning rate with the best accuracy under "
        "noise lies strictly inside the range, with worse results at both ends.", "three or more trained runs per model",
        Evidence(int(spots.interior.sum()), len(spots), "; ".join(
            f"{r.model}: sweet spot {r.sweet_spot_lr:g} (accuracy under noise {100 * r.sweet_spot_noisy_accuracy:.1f}%), "
            f"best clean accuracy at {r.best_clean_lr:g}" for r in spots.itertuples()))))

    groups = [(m, g[g.trained]) for m, g in table.groupby("model")]
    groups = [(m, g) for m, g in groups if len(g) >= 3]
    for id, x, y, claim in (("lr-higher-more-robust", "learning_rate", "a_avr", "Among models that trained, a higher "
                             "learning rate gives a more noise-resistant model (eq. 14 rises with the learning rate)."),
                            ("lr-raises-step-noise", "learning_rate", "step_noise_power", "The per-step gradient noise "
                             "alpha^2 C / |B| (eq. 7) rises with the learning rate."),
                            ("step-noise-more-robust", "step_noise_power", "a_avr", "More per-step gradient noise in "
                             "training gives a more noise-resistant model (eq. 14 rises with alpha^2 C / |B|).")):
        usable = [(m, g) for m, g in groups if {x, y} <= set(g) and g[[x, y]].notna().all().all()]
        tests = [(m, len(g), *spearman(g[x], g[y])) for m, g in usable]
        rows.append(checked(id, "learning-rate study", claim + " Spearman rank correlation, significant at p < 0.05 "
                            "(exact p for few runs).", "three or more trained runs per model", Evidence(
                                sum(rho > 0 and p < 0.05 for _, _, rho, p in tests), len(tests),
                                "; ".join(f"{m}: rho {rho:+.2f} (p = {p:.2g}) over {n} trained runs" for m, n, rho, p in tests),
                                failed=sum(rho < 0 and p < 0.05 for _, _, rho, p in tests))))
    return pd.DataFrame(rows)


def architecture_table(runs: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The architecture benchmark, ranked by eq. 14 (best first): one row per (dataset, model,
    variant) with family, depth (weight layers), width (features into the classifier),
    parameters, clean accuracy on the noise test images, mean accuracy under noise, eq. 14
    with its CI, and ``trained`` (see :func:`is_trained`). Models that did not
    train come last, unranked: a constant output is trivially "robust"."""
    keys = ["dataset", "model", "variant"]
    table = learning_rate_table(noise, confidence=confidence).drop(columns=["learning_rate", "batch_size"], errors="ignore")
    facts = runs.groupby(keys)[["family", "weight_layers", "final_channels", "parameters"]].first().reset_index()
    table = table.merge(facts, on=keys).sort_values(["dataset", "trained", "a_avr"], ascending=[True, False, False])
    rank = table[table.trained].groupby("dataset").cumcount() + 1
    table.insert(0, "rank", rank.reindex(table.index).astype("Int64"))  # <NA>: did not train, not ranked
    return table.reset_index(drop=True)


def architecture_claims(table: pd.DataFrame) -> pd.DataFrame:
    """The benchmarking paper's claims, checked on ``architecture_table`` (trained models only):
    deeper models, and models with more redundancy (more parameters; VGG), are more robust."""
    trained = table[table.trained]
    rows = []
    section = "architecture benchmark"
    for id, column, claim in (("deeper-more-robust", "weight_layers", "Deeper models are more robust to weight noise "
                               "(eq. 14 rises with the number of weight layers)."),
                              ("more-parameters-more-robust", "parameters", "Models with more redundancy are more "
                               "robust (eq. 14 rises with the parameter count)."),
                              ("wider-more-robust", "final_channels", "Wider models are more robust (eq. 14 rises "
                               "with the features entering the classifier).")):
        wording = claim + " Spearman rank correlation over the trained models, significant at p < 0.05 (exact p for few models)."
        needs = f"three or more trained models with different {column.replace('_', ' ')}"
        if trained[column].nunique() < 3:
            rows.append(checked(id, section, wording, needs, Evidence(0, 0, "")))
            continue
        rho, p_value = spearman(trained[column], trained.a_avr)
        significant = p_value < 0.05
        rows.append(checked(id, section, wording, needs, Evidence(
            int(significant and rho > 0), 1, f"rho {rho:+.2f} (p = {p_value:.2g}) over {len(trained)} models",
            failed=int(significant and rho < 0))))
    vgg, others = trained[trained.family == "VGG"], trained[trained.family != "VGG"]
    wording = "VGG, the most redundant design, is among the most robust (its eq. 14 CI lies above the other families' means)."
    needs = "a trained VGG16 and other trained models"
    if vgg.empty or others.empty:
        rows.append(checked("vgg-among-most-robust", section, wording, needs, Evidence(0, 0, "")))
    else:
        v = vgg.iloc[0]
        above = int((v.a_avr_lo > others.a_avr).sum())
        below = int((v.a_avr_hi < others.a_avr).sum())
        rows.append(checked("vgg-among-most-robust", section, wording, needs, Evidence(
            above, len(others), f"VGG16 eq. 14 {100 * v.a_avr:.1f}% [{100 * v.a_avr_lo:.1f}, {100 * v.a_avr_hi:.1f}], "
            f"rank {int(v['rank'])} of {len(trained)}; above {above}, below {below} of {len(others)} other models",
            failed=below)))
    return pd.DataFrame(rows)
