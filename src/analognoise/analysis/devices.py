"""Device noise beyond the paper's: BN vs no BN under each noise model (with the claims
mechanism's statistics), PCM accuracy over time, quantisation, per-layer sensitivity and the
max|W| / std(W) conversion, from the tidy results of :mod:`analognoise.devicenoise`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from .. import metrics
from ..paths import resolve
from ..significance import holm, welch
from .claims import CLAIMS, Evidence, Study, checked

VARIANTS = {"all": "BN", "none": "no BN"}
#: how a BN network is deployed when the noise hits these targets (recalibration's two settings)
DEPLOYMENTS = {"kernels": "BN digital (noise on the kernels)",
               "folded": "BN folded into the crossbar (noise on the folded kernels and biases; recalibrated as a "
                         "digital per-channel gain and offset)"}
#: what one row of :func:`recalibration_effect` compares BN and no BN within
EFFECT_KEYS = ["model", "train_noise", "noise_model", "targets"]
#: PCM inference times as a reader says them (seconds -> label)
TIME_LABELS = {1.0: "1 s", 3600.0: "1 hour", 86_400.0: "1 day", 2_592_000.0: "30 days", 31_536_000.0: "1 year"}


def load_device_results(folder) -> dict[str, pd.DataFrame]:
    """The tables of an exported device-noise folder: ``models``, ``noise`` (labelled with
    dataset, model, variant, training ``seed`` and ``train_noise`` (eta_train of noise-aware
    training, 0 for none); the noise base seed is ``noise_seed``; ``eta``
    is the noise model's level, so the paper's summaries apply), ``sensitivity`` (labelled the
    same way, empty if not run) and ``scale_ratios``; ``config`` and ``provenance`` as dicts."""
    folder = resolve(folder)
    models = pd.read_csv(folder / "models.csv")
    models["variant"] = models.bn.map(VARIANTS).fillna("partial BN")
    if "train_noise" not in models:  # exported before noise-aware training existed
        models["train_noise"] = 0.0
    labels = models[["run_id", "model", "variant", "bn", "seed", "train_noise"]].assign(dataset="cifar10")

    def labelled(table: pd.DataFrame) -> pd.DataFrame:
        table = table.rename(columns={"seed": "noise_seed"})
        return table.merge(labels, on="run_id", how="left")

    noise = labelled(pd.read_csv(folder / "noise.csv"))
    noise["eta"] = noise["level"]
    recalibration_file = folder / "recalibration.csv"
    recalibration = labelled(pd.read_csv(recalibration_file)) if recalibration_file.is_file() else pd.DataFrame()
    if len(recalibration):
        recalibration["eta"] = recalibration["level"]
    sensitivity_file = folder / "sensitivity.csv"
    sensitivity = labelled(pd.read_csv(sensitivity_file)) if sensitivity_file.is_file() else pd.DataFrame()
    ratios = pd.read_csv(folder / "scale_ratios.csv").merge(labels, on="run_id", how="left")
    return dict(models=models, noise=noise, sensitivity=sensitivity, scale_ratios=ratios, recalibration=recalibration,
                config=yaml.safe_load((folder / "config.yaml").read_text()),
                provenance=yaml.safe_load((folder / "provenance.yaml").read_text()))


PENALTY_COLUMNS = ["noise_model", "targets", "model", "level_name", "levels", "bn_eq14", "bn_lo", "bn_hi",
                   "no_bn_eq14", "no_bn_lo", "no_bn_hi", "difference", "difference_lo", "difference_hi", "holm_p",
                   "seeds", "verdict"]


def bn_penalty(noise: pd.DataFrame) -> pd.DataFrame:
    """Per noise model and targets: eq. 14 (the mean normalised accuracy over the model's
    non-zero levels, CI over draws and training seeds; a model with no non-zero level, e.g.
    quantisation alone, is left to :func:`quantization_table`) of BN and of no-BN models, BN minus no
    BN with a Welch CI per model (Holm-corrected across models), and the verdict of the
    paper's claim ``bn-loses-larger-fraction`` under that noise model, from the claims
    mechanism itself."""
    rows = []
    claim = CLAIMS["bn-loses-larger-fraction"]
    for (noise_model, targets), g in noise[noise.level > 0].groupby(["noise_model", "targets"], sort=False):
        tests = []
        for model, m in g.groupby("model"):
            arms = {v: metrics.eq14_per_repeat(a) for v, a in m.groupby("variant")}
            if {"BN", "no BN"} <= set(arms):
                tests.append((model, arms, *welch(arms["BN"], arms["no BN"])))
        adjusted = holm([t[-1] for t in tests]) if tests else []
        verdict = claim.check(Study(g))["verdict"]
        for (model, arms, diff, lo, hi, _), p in zip(tests, adjusted):
            bn, no_bn = (metrics.mean_ci(arms[v]) for v in ("BN", "no BN"))
            rows.append(dict(noise_model=noise_model, targets=targets, model=model,
                             level_name=g.level_name.iat[0], levels=len(set(g.level)),
                             bn_eq14=bn[0], bn_lo=bn[1], bn_hi=bn[2],
                             no_bn_eq14=no_bn[0], no_bn_lo=no_bn[1], no_bn_hi=no_bn[2],
                             difference=diff, difference_lo=lo, difference_hi=hi, holm_p=p,
                             seeds=int(g.seed.nunique()), verdict=verdict))
    return pd.DataFrame(rows, columns=PENALTY_COLUMNS)  # no BN / no-BN pair: no rows, same columns


def recalibration_effect(noise: pd.DataFrame, recalibration: pd.DataFrame) -> pd.DataFrame:
    """Per model, eta_train of noise-aware training (``train_noise``, 0: none), noise model,
    targets (``kernels``: BN digital; ``folded``: BN folded into the crossbar, recalibrated as a
    digital per-channel gain and offset) and number of calibration images (0: none, the trials
    of the plain grid on the same targets): eq. 14 of the BN model with a 95% CI over draws, the no-BN model's on the same targets (recalibrated on as many
    images where it was, ``no_bn_calibration_images``; else not, nothing to recalibrate), and
    BN minus no BN with a Welch interval and p-value; ``bn_ahead``: the recalibrated BN model
    keeps significantly more than the no-BN model. ``bn_accuracy``, ``no_bn_accuracy`` and
    ``accuracy_difference`` (with ``accuracy_lo``, ``accuracy_hi``, ``accuracy_p``): the same
    for the accuracy itself averaged over the levels, not normalised by each model's own clean
    accuracy (what the chip gives)."""
    columns = [*EFFECT_KEYS, "calibration_images", "bn_eq14", "bn_lo", "bn_hi",
               "no_bn_calibration_images", "no_bn_eq14", "difference", "difference_lo", "difference_hi", "p",
               "bn_ahead", "bn_accuracy", "no_bn_accuracy", "accuracy_difference", "accuracy_lo", "accuracy_hi",
               "accuracy_p"]
    if recalibration.empty:
        return pd.DataFrame(columns=columns)
    levels = set(zip(recalibration.noise_model, recalibration.level))  # eq. 14 over the same levels
    plain = noise[noise.targets.isin(set(recalibration.targets)) & (noise.level > 0)
                  & np.array([key in levels for key in zip(noise.noise_model, noise.level)], dtype=bool)
                  ].assign(calibration_images=0)
    trials = pd.concat([plain, recalibration[recalibration.level > 0]], ignore_index=True)
    if "train_noise" not in trials:
        trials["train_noise"] = 0.0
    rows = []
    for key, g in trials.groupby(EFFECT_KEYS, sort=False):
        no_bn = dict(iter(g[g.variant == "no BN"].groupby("calibration_images")))
        if 0 not in no_bn:
            continue
        for count, bn in g[g.variant == "BN"].groupby("calibration_images"):
            baseline_count = count if count in no_bn else 0
            baseline = metrics.eq14_per_repeat(no_bn[baseline_count])
            per_repeat = metrics.eq14_per_repeat(bn)
            mean, lo, hi = metrics.mean_ci(per_repeat)
            diff, diff_lo, diff_hi, p = welch(per_repeat, baseline)
            accuracy, no_bn_accuracy = (metrics.eq14_per_repeat(t, "accuracy") for t in (bn, no_bn[baseline_count]))
            acc_diff, acc_lo, acc_hi, acc_p = welch(accuracy, no_bn_accuracy)
            rows.append(dict(zip(EFFECT_KEYS, key), calibration_images=int(count),
                             bn_eq14=mean, bn_lo=lo, bn_hi=hi, no_bn_calibration_images=int(baseline_count),
                             no_bn_eq14=baseline.mean(), difference=diff, difference_lo=diff_lo,
                             difference_hi=diff_hi, p=p, bn_ahead=bool(diff > 0 and p < 0.05),
                             bn_accuracy=accuracy.mean(), no_bn_accuracy=no_bn_accuracy.mean(),
                             accuracy_difference=acc_diff, accuracy_lo=acc_lo, accuracy_hi=acc_hi, accuracy_p=acc_p))
    return pd.DataFrame(rows, columns=columns)


def _trained_with(train_noise: float) -> str:
    return f" trained at eta_train {100 * train_noise:g}%" if train_noise else ""


def stacked_effect(*folders) -> pd.DataFrame:
    """:func:`recalibration_effect` over several exported device-noise folders at once (e.g.
    the paper-accuracy models and the noise-aware ones: eta_train 0, 10% and 20%), on the noise
    models and calibration budgets every folder has: do noise-aware training and recalibration
    add up?"""
    results = [load_device_results(folder) for folder in folders]
    if any(r["recalibration"].empty for r in results):
        raise ValueError(f"every folder of stacked_effect needs recalibration results: {[str(f) for f in folders]}")
    noise_models = set.intersection(*(set(r["recalibration"].noise_model) for r in results))
    counts = set.intersection(*(set(r["recalibration"].calibration_images) for r in results))
    recalibration = pd.concat([r["recalibration"] for r in results], ignore_index=True)
    noise = pd.concat([r["noise"] for r in results], ignore_index=True)
    return recalibration_effect(noise[noise.noise_model.isin(noise_models)],
                                recalibration[recalibration.noise_model.isin(noise_models)
                                              & recalibration.calibration_images.isin(counts)])


def pcm_over_time(noise: pd.DataFrame) -> pd.DataFrame:
    """PCM trials per model, variant, drift compensation, targets and time: accuracy and
    normalised accuracy with 95% CIs over draws (and training seeds)."""
    pcm = noise[noise.noise_model.str.startswith("pcm")].copy()
    pcm["compensation"] = pcm.noise_model.str.contains("compensation=True")
    rows = []
    for key, g in pcm.groupby(["model", "variant", "compensation", "targets", "level"]):
        accuracy, normalized = metrics.mean_ci(g.accuracy), metrics.mean_ci(g.normalized_accuracy)
        rows.append(dict(zip(["model", "variant", "compensation", "targets", "time_s"], key),
                         time=TIME_LABELS.get(float(key[-1]), f"{key[-1]:g} s"),
                         accuracy=accuracy[0], accuracy_lo=accuracy[1], accuracy_hi=accuracy[2],
                         normalized_accuracy=normalized[0], normalized_lo=normalized[1],
                         normalized_hi=normalized[2], clean_accuracy=g.clean_accuracy.mean(), trials=len(g)))
    return pd.DataFrame(rows)


def quantization_table(noise: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of every model under weight quantisation alone (deterministic noise models
    with ``bits``), one row per model, variant, targets and bits."""
    quantized = noise[noise.noise_model.str.contains("bits=") & (noise.level == 0)]
    quantized = quantized[~quantized.noise_model.str.startswith("pcm")]  # PCM at t = 0 still has programming noise
    if quantized.empty:
        return pd.DataFrame()
    quantized = quantized.assign(bits=quantized.noise_model.str.extract(r"bits=(\d+)")[0].astype(int))
    return (quantized.groupby(["model", "variant", "seed", "targets", "bits"], as_index=False)
            .agg(accuracy=("accuracy", "first"), clean_accuracy=("clean_accuracy", "first"))
            .assign(drop=lambda t: t.clean_accuracy - t.accuracy)
            .sort_values(["targets", "bits", "model", "variant"], ascending=[True, False, True, True]))


def sensitivity_by_site(sensitivity: pd.DataFrame) -> pd.DataFrame:
    """Per model, variant, mode and site: the accuracy drop (clean minus noisy, fraction)
    with a 95% CI over draws (and training seeds), in forward order (depth)."""
    if sensitivity.empty:
        return pd.DataFrame()
    frame = sensitivity.assign(drop=sensitivity.clean_accuracy - sensitivity.accuracy)
    rows = []
    for key, g in frame.groupby(["model", "variant", "mode", "depth", "site", "kind"]):
        mean, lo, hi = metrics.mean_ci(g["drop"])
        rows.append(dict(zip(["model", "variant", "mode", "depth", "site", "kind"], key),
                         drop=mean, drop_lo=lo, drop_hi=hi, trials=len(g)))
    return pd.DataFrame(rows).sort_values(["model", "mode", "variant", "depth"], ignore_index=True)


def bn_penalty_by_site(sensitivity: pd.DataFrame, mode: str = "only") -> pd.DataFrame:
    """Per model and site: the BN model's accuracy drop minus the no-BN model's when noise hits
    that site (``mode="only"``) or every other site (``"all_but"``), Welch CI, Holm-corrected
    across the sites; ``carries_penalty``: the BN drop is significantly larger. Sites are
    matched by name (the twins may order a shortcut and a conv differently); ``depth`` is the
    BN model's."""
    columns = ["model", "depth", "site", "bn_drop", "no_bn_drop", "penalty", "penalty_lo", "penalty_hi", "p",
               "holm_p", "carries_penalty"]
    if sensitivity.empty:
        return pd.DataFrame(columns=columns)
    frame = sensitivity[sensitivity["mode"] == mode]
    frame = frame.assign(drop=frame.clean_accuracy - frame.accuracy)
    rows = []
    for (model, site), g in frame.groupby(["model", "site"]):  # a site's depth may differ between the twins
        arms = {v: a["drop"].to_numpy() for v, a in g.groupby("variant")}
        if {"BN", "no BN"} <= set(arms):
            diff, lo, hi, p = welch(arms["BN"], arms["no BN"])
            depth = int(g[g.variant == "BN"].depth.iat[0])
            rows.append(dict(model=model, depth=depth, site=site, bn_drop=arms["BN"].mean(),
                             no_bn_drop=arms["no BN"].mean(), penalty=diff, penalty_lo=lo, penalty_hi=hi, p=p))
    table = pd.DataFrame(rows, columns=columns[:-2])
    table["holm_p"] = table.groupby("model").p.transform(holm) if len(table) else []
    table["carries_penalty"] = (table.penalty > 0) & (table.holm_p < 0.05)
    return table.sort_values(["model", "depth"], ignore_index=True)


def scale_ratio_summary(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per model and variant: max|W| / std(W) over the kernels (median, min, max): the factor
    that turns an eta relative to max|W| (aihwkit, CrossSim) into the paper's eta."""
    return (ratios.groupby(["model", "variant"], as_index=False)["max_over_std"]
            .agg(median="median", smallest="min", largest="max", kernels="count"))


def penalty_verdicts(penalty: pd.DataFrame) -> str:
    """One sentence per noise model and targets: does BN's penalty survive?"""
    lines = []
    for row in penalty.itertuples():
        lines.append(f"{row.noise_model} on {row.targets}, {row.model}: eq. 14 BN {100 * row.bn_eq14:.1f}% vs "
                     f"no BN {100 * row.no_bn_eq14:.1f}%, BN minus no BN {100 * row.difference:+.1f} pp "
                     f"[{100 * row.difference_lo:+.1f}, {100 * row.difference_hi:+.1f}], Holm p = {row.holm_p:.2g}: "
                     f"{row.verdict}")
    return "\n".join(lines)


def largest_budget(effect: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`recalibration_effect` table with the largest number of calibration
    images of their model, eta_train, noise model and targets (the budget fixed in advance)."""
    return effect[effect.calibration_images > 0].sort_values("calibration_images").groupby(
        EFFECT_KEYS, sort=False).tail(1)


def recalibration_claims(effect: pd.DataFrame) -> pd.DataFrame:
    """Does recalibration turn BN from a liability into an asset? One check per model, noise
    model and deployment, at its largest number of calibration images (the budget fixed in
    advance, not the best one seen): supporting where the recalibrated BN model keeps
    significantly more than the no-BN model, contradicting where significantly less (Welch,
    Holm-adjusted across the checks, 95%); verdicts as in the claims checklist.
    ``effect``: :func:`recalibration_effect`."""
    largest = largest_budget(effect)
    adjusted = holm(largest.p.tolist()) if len(largest) else []
    checks = [(0 if p >= 0.05 else 1 if r.difference > 0 else -1,
               f"{r.noise_model}, {r.model}{_trained_with(r.train_noise)}, {r.targets}, "
               f"{r.calibration_images:,} images: BN "
               f"{100 * r.bn_eq14:.1f}% vs no BN {100 * r.no_bn_eq14:.1f}%"
               f"{' (recalibrated alike)' if r.no_bn_calibration_images else ''}, {100 * r.difference:+.1f} pp "
               f"[{100 * r.difference_lo:+.1f}, {100 * r.difference_hi:+.1f}], Holm p = {p:.2g}")
              for r, p in zip(largest.itertuples(), adjusted)]
    evidence = Evidence(sum(c == 1 for c, _ in checks), len(checks), "; ".join(t for _, t in checks),
                        failed=sum(c == -1 for c, _ in checks))
    return pd.DataFrame([checked(
        "recalibration-turns-bn-into-asset", "beyond the paper (mitigations)",
        "Once BN's statistics are recalibrated on the programmed (noisy) weights, the BN model keeps more of its "
        "accuracy than the no-BN model under the same noise, also where the no-BN model gets the same per-channel "
        "calibration (BN folded) (eq. 14, BN minus no BN, Welch, Holm-adjusted).",
        "a BN and a no-BN model, the BN one recalibrated after each noise draw", evidence)])


def recalibration_summary(effect: pd.DataFrame, noise: pd.DataFrame) -> str:
    """Markdown for a designer, one line per model, eta_train, recalibrated noise model and
    deployment: eq. 14 of the BN model without recalibration and with its best number of calibration images, the no-BN
    model's, and which keeps significantly more (Welch, 95%); and, where the device table has
    PCM with global drift compensation, the no-BN model's own mitigation to compare with.
    ``effect``: :func:`recalibration_effect`; ``noise``: the device-noise table."""
    lines = []
    for (model, train_noise, noise_model, targets), g in effect.groupby(EFFECT_KEYS, sort=False):
        none, best = g[g.calibration_images == 0].iloc[0], g.sort_values("bn_eq14").iloc[-1]
        verdict = ("the recalibrated BN model keeps significantly more than the no-BN model" if best.bn_ahead else
                   "the no-BN model still keeps significantly more" if best.difference < 0 and best.p < 0.05 else
                   "the two are not distinguishable")
        no_bn = (f"no BN recalibrated alike: {100 * best.no_bn_eq14:.1f}%, {100 * none.no_bn_eq14:.1f}% without"
                 if best.no_bn_calibration_images else
                 f"no BN: {100 * best.no_bn_eq14:.1f}%, uncalibrated: unequal budgets, it has nothing to recalibrate here")
        lines.append(f"- **{noise_model}**, {model}{_trained_with(train_noise)}, {DEPLOYMENTS.get(targets, targets)}: "
                     f"eq. 14 of the BN model "
                     f"{100 * none.bn_eq14:.1f}% without "
                     f"recalibration, {100 * best.bn_eq14:.1f}% with {best.calibration_images:,} calibration images "
                     f"({no_bn}); {verdict} "
                     f"(BN minus no BN {100 * best.difference:+.1f} pp [{100 * best.difference_lo:+.1f}, "
                     f"{100 * best.difference_hi:+.1f}]).")
    pcm = noise[(noise.noise_model == "pcm (compensation=True)") & noise.targets.isin(set(effect.targets))]
    for row in (bn_penalty(pcm).itertuples() if len(pcm) else ()):
        lines.append(f"- For PCM drift the no-BN model has a mitigation of its own, global drift compensation (one "
                     f"scale per layer): eq. 14 {100 * row.no_bn_eq14:.1f}% [{100 * row.no_bn_lo:.1f}, "
                     f"{100 * row.no_bn_hi:.1f}] for the no-BN {row.model}, {100 * row.bn_eq14:.1f}% for the BN model "
                     f"with it (noise on {row.targets}); recalibrating BN replaces that compensation, so compare the "
                     "recalibrated BN model with this number too.")
    return "\n".join(lines) or "No model was recalibrated."
