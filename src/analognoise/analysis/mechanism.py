"""Why BN networks lose accuracy under weight noise: the mechanism study's results
(``results/mechanism/``, :mod:`analognoise.mechanism`) as eq. 14 per model, variant and noise
condition, the paired effects of the interventions, the checks that they keep clean accuracy,
and the verdicts.

Units of replication (the book's rule): an intervention on a trained model (silencing its dead
channels, another noise convention) is a claim about *that model*, tested over noise draws,
paired (both variants get the same draws). A claim about *recipes* or *depth* rests on one
trained model per recipe and depth here, so its verdicts say so and give draw intervals only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .. import metrics
from ..paths import resolve
from ..significance import NOT_SUPPORTED, PARTLY, SUPPORTED, contrast, slope

#: the noise conditions in reading order: (variant, targets, noise model) -> column label
CONDITIONS = {
    ("original", "kernels", "paper"): "kernels",
    ("silenced", "kernels", "paper"): "kernels, dead silenced",
    ("original", "trainable", "paper"): "+ BN γ, β",
    ("silenced", "trainable", "paper"): "+ BN γ, β, dead silenced",
    ("original", "trainable", "additive-rms"): "+ BN γ, β, σ ∝ rms",
    ("original", "folded", "paper"): "BN folded",
}
RECIPES = {"keras-200": "Keras, 200 ep. (CrossSim)", "keras-30": "Keras, 30 ep. (ours)",
           "fast": "fast, γ₀ = 0", "fast-unit-gamma": "fast, γ₀ = 1"}
#: largest change of clean accuracy (percentage points) that the surgery may make and still
#: count as keeping the clean output, fixed before the results were seen
CLEAN_MARGIN_PP = 0.5


def _all_or_some(flags) -> str:
    """Supported if every check passed, partly if some did, not supported if none did."""
    flags = list(flags)
    return SUPPORTED if all(flags) else (PARTLY if any(flags) else NOT_SUPPORTED)


def _claim_row(claim: str, flags, evidence, unit: str) -> dict:
    """A verdicts-table row: one check per evidence item, :func:`_all_or_some` of them."""
    return dict(claim=claim, verdict=_all_or_some(flags), evidence="; ".join(evidence), unit=unit)


def load_mechanism(folder="results/mechanism") -> dict[str, pd.DataFrame]:
    """The mechanism study's tables: ``models``, ``sites``, ``noise`` (its level column read as
    ``eta``, the paper's), and ``clean`` (``"<model>|<variant>"`` -> which test image is right)."""
    folder = resolve(folder)
    if not (folder / "noise.csv").is_file():
        raise FileNotFoundError(f"{folder} has no noise.csv: run `make mechanism` first")
    noise = pd.read_csv(folder / "noise.csv").rename(columns={"level": "eta"})
    with np.load(folder / "clean.npz") as saved:
        images = int(saved["images"])
        clean = {k: np.unpackbits(saved[k], count=images).astype(bool) for k in saved.files if k != "images"}
    return dict(models=pd.read_csv(folder / "models.csv"), sites=pd.read_csv(folder / "sites.csv"),
                noise=noise, clean=clean, folder=Path(folder))


def _groups(noise: pd.DataFrame):
    yield from noise.groupby(["model", "variant", "targets", "noise_model"], sort=False)


def intervention_eq14(noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Eq. 14 per model, variant, targets and noise model: ``a_avr`` with ``lo`` / ``hi`` (a
    t-interval over the noise draws of the one model) and ``draws``."""
    rows = []
    for (model, variant, targets, noise_model), g in _groups(noise):
        per_draw = metrics.eq14_per_repeat(g.drop(columns=["variant"]))
        mean, lo, hi = metrics.mean_ci(per_draw, confidence)
        rows.append(dict(model=model, variant=variant, targets=targets, noise_model=noise_model,
                         a_avr=mean, lo=lo, hi=hi, draws=len(per_draw)))
    return pd.DataFrame(rows)


def _per_draw(noise: pd.DataFrame, model: str, variant: str, targets: str, noise_model: str = "paper") -> np.ndarray:
    g = noise[(noise.model == model) & (noise.variant == variant) & (noise.targets == targets)
              & (noise.noise_model == noise_model)]
    return metrics.eq14_per_repeat(g.drop(columns=["variant"])) if len(g) else np.array([])


def _cell(mean: float, lo: float, hi: float, digits: int = 1) -> str:
    return f"{100 * mean:.{digits}f} [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"


def factor_table(models: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """The chapter's factor table: one row per model (recipe, depth, BN, clean accuracy, dead
    channels), one column per noise condition (:data:`CONDITIONS`), eq. 14 in % as
    "mean [lo, hi]" over the noise draws ("" where a condition does not apply)."""
    eq14 = intervention_eq14(noise).set_index(["model", "variant", "targets", "noise_model"])
    rows = []
    original = models[models.variant == "original"]
    for m in original.itertuples():
        row = {"model": m.model, "recipe": RECIPES.get(m.recipe, m.recipe), "depth": int(m.depth),
               "BN": "yes" if m.bn != "none" else "no", "clean (%)": f"{100 * m.clean_accuracy:.1f}",
               "dead BN channels (%)": f"{100 * m.dead_fraction:.1f}" if m.bn != "none" else ""}
        for key, label in CONDITIONS.items():
            at = (m.model, *key)
            row[label] = _cell(*eq14.loc[at, ["a_avr", "lo", "hi"]]) if at in eq14.index else ""
        rows.append(row)
    return pd.DataFrame(rows)


def surgery_effect(models: pd.DataFrame, noise: pd.DataFrame, clean: dict, confidence: float = 0.95) -> pd.DataFrame:
    """What silencing the dead channels does, per model that has them and noise target: eq. 14
    before and after, the paired difference (after - before, same draws) with its t-interval
    over draws, and the clean accuracy before / after with an exact McNemar p over the test
    images (``clean_p``; 1 when no image changes)."""
    rows = []
    for m in models[models.variant == "silenced"].itertuples():
        before_clean, after_clean = clean[f"{m.model}|original"], clean[f"{m.model}|silenced"]
        changed_to_right = int((~before_clean & after_clean).sum())
        changed_to_wrong = int((before_clean & ~after_clean).sum())
        discordant = changed_to_right + changed_to_wrong
        p_clean = float(stats.binomtest(changed_to_right, discordant).pvalue) if discordant else 1.0
        for targets in sorted(set(noise[(noise.model == m.model) & (noise.variant == "silenced")].targets)):
            before = _per_draw(noise, m.model, "original", targets)
            after = _per_draw(noise, m.model, "silenced", targets)
            diff, lo, hi = metrics.mean_ci(after - before, confidence)
            rows.append(dict(model=m.model, recipe=m.recipe, depth=int(m.depth), targets=targets,
                             silenced_channels=int(m.silenced_channels), before=before.mean(), after=after.mean(),
                             change=diff, change_lo=lo, change_hi=hi, draws=len(before),
                             clean_before=before_clean.mean(), clean_after=after_clean.mean(),
                             clean_changed_images=discordant, clean_p=p_clean))
    return pd.DataFrame(rows)


def bn_penalty_by_recipe(models: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """BN's penalty (eq. 14 with BN - without, pp) per recipe, depth and noise condition
    where both arms exist, with a Welch interval over the noise draws of the one model per arm
    (so it says nothing about training-seed variation; the ``unit`` column says so)."""
    original = models[models.variant == "original"]
    rows = []
    for (recipe, depth), g in original.groupby(["recipe", "depth"]):
        with_bn, without = g[g.bn != "none"], g[g.bn == "none"]
        if with_bn.empty or without.empty:
            continue
        for (variant, targets, noise_model), label in CONDITIONS.items():
            if variant != "original":
                continue
            a = _per_draw(noise, with_bn.model.iloc[0], "original", targets, noise_model)
            # a network without BN has nothing to fold: its folded deployment is its trainable one
            b = _per_draw(noise, without.model.iloc[0], "original", "trainable" if targets == "folded" else targets,
                          noise_model)
            if not len(a) or not len(b):
                continue
            test = stats.ttest_ind(a, b, equal_var=False)
            lo, hi = test.confidence_interval(confidence)
            rows.append(dict(recipe=recipe, depth=int(depth), condition=label, bn=a.mean(), no_bn=b.mean(),
                             penalty=a.mean() - b.mean(), lo=lo, hi=hi, p=float(test.pvalue),
                             unit="noise draws of one model per arm"))
    return pd.DataFrame(rows)


def depth_trend(models: pd.DataFrame, noise: pd.DataFrame, recipe: str, variant: str = "original",
                targets: str = "kernels", confidence: float = 0.95) -> dict:
    """Eq. 14 of a recipe's BN models against depth: the per-model means, and the least-squares
    slope (pp per layer) over every draw of every model with its interval (one model per depth:
    the interval is over noise draws, not over training)."""
    chosen = models[(models.recipe == recipe) & (models.bn != "none") & (models.variant == "original")]
    xs, ys, means = [], [], {}
    for m in chosen.sort_values("depth").itertuples():
        draws = _per_draw(noise, m.model, variant, targets)
        if not len(draws):
            draws = _per_draw(noise, m.model, "original", targets)  # no dead channel: silencing changes nothing
        means[int(m.depth)] = float(draws.mean())
        xs += [m.depth] * len(draws)
        ys += list(draws)
    if len(means) < 2:
        return dict(means=means, slope=float("nan"), lo=float("nan"), hi=float("nan"))
    b, lo, hi = slope(xs, 100 * np.asarray(ys), confidence)
    return dict(means=means, slope=b, lo=lo, hi=hi)


def mechanism_claims(models: pd.DataFrame, noise: pd.DataFrame, clean: dict) -> pd.DataFrame:
    """The chapter's verdicts, each with its evidence and the unit its interval is over."""
    surgery = surgery_effect(models, noise, clean)
    rows = []
    keras = models[(models.recipe == "keras-200") & (models.variant == "original")].sort_values("depth")
    dead = keras.dead_fraction.to_numpy()
    grows = bool(len(dead) > 1 and np.all(np.diff(dead) >= 0) and dead[-1] > dead[0])
    rows.append(dict(
        claim="With the Keras recipe, dead BN channels grow with depth",
        verdict=SUPPORTED if grows else NOT_SUPPORTED,
        evidence=", ".join(f"ResNet-{int(d)}: {100 * f:.1f}%" for d, f in zip(keras.depth, dead)),
        unit="one model per depth (CrossSim's); a count, no interval"))
    if not surgery.empty:
        kept = surgery.drop_duplicates("model")
        keeps = (np.abs(kept.clean_after - kept.clean_before) * 100 <= CLEAN_MARGIN_PP) & (kept.clean_p >= 0.05)
        rows.append(_claim_row(
            f"Silencing dead channels keeps clean accuracy (within {CLEAN_MARGIN_PP} pp, McNemar p >= 0.05)", keeps,
            [f"{r.model}: {100 * r.clean_before:.1f} -> {100 * r.clean_after:.1f}% "
             f"({r.clean_changed_images} images change, p = {r.clean_p:.2g})" for r in kept.itertuples()],
            "paired over the test images"))
        kernels = surgery[surgery.targets == "kernels"]
        lifted = kernels.change_lo > 0
        rows.append(_claim_row(
            "Silencing dead channels lifts eq. 14 under kernel noise", lifted,
            [f"{r.model}: {100 * r.before:.1f} -> {100 * r.after:.1f}% "
             f"({_interval_pp(r.change, r.change_lo, r.change_hi)} pp)" for r in kernels.itertuples()],
            "paired over noise draws of each model"))
    before = depth_trend(models, noise, "keras-200", "original")
    after = depth_trend(models, noise, "keras-200", "silenced")
    if before["means"]:
        vanished = after["lo"] <= 0 <= after["hi"] or after["slope"] > 0
        rows.append(dict(
            claim="The Keras recipe's depth trend under kernel noise is carried by the dead channels",
            verdict=SUPPORTED if before["hi"] < 0 and vanished else (PARTLY if before["hi"] < 0 and
                                                                    after["slope"] > before["slope"] else NOT_SUPPORTED),
            evidence=(f"slope over depth {before['slope']:+.2f} pp/layer [{before['lo']:+.2f}, {before['hi']:+.2f}] "
                      f"before, {after['slope']:+.2f} [{after['lo']:+.2f}, {after['hi']:+.2f}] with dead channels "
                      "silenced (eq. 14 by depth: "
                      + ", ".join(f"{d}: {100 * before['means'][d]:.1f} -> {100 * after['means'][d]:.1f}%"
                                  for d in before["means"]) + ")"),
            unit="one model per depth: draws of each, no inference over training"))
    penalty = bn_penalty_by_recipe(models, noise)
    fast = penalty[(penalty.recipe == "fast") & penalty.condition.isin(["kernels", "+ BN γ, β"])] \
        if len(penalty) else penalty
    if len(fast) and fast.condition.nunique() == 2:
        pivot = fast.pivot(index="depth", columns="condition", values="penalty")
        gamma_share = pivot["+ BN γ, β"] - pivot["kernels"]
        rows.append(dict(
            claim="With the fast recipe, BN's penalty comes from the noise on BN's γ, β",
            verdict=SUPPORTED if (gamma_share < pivot["kernels"]).all() and (pivot["+ BN γ, β"] < 0).all() else PARTLY,
            evidence="; ".join(f"ResNet-{d}: penalty {100 * pivot.loc[d, 'kernels']:+.1f} pp on kernels, "
                               f"{100 * pivot.loc[d, '+ BN γ, β']:+.1f} pp with γ, β" for d in pivot.index),
            unit="noise draws of one model per arm"))
    convention = convention_effect(models, noise)
    if len(convention):
        larger = convention.hi < 0
        rows.append(_claim_row(
            "Noise relative to each tensor's size (σ = η·rms) makes BN's penalty larger than the paper's σ = η·std",
            larger, [f"{RECIPES.get(r.recipe, r.recipe)} ResNet-{r.depth}: penalty {100 * r.std_penalty:+.1f} pp "
                     f"(σ ∝ std) -> {100 * r.rms_penalty:+.1f} pp (σ ∝ rms), change {_interval_pp(r.change, r.lo, r.hi)}"
                     for r in convention.itertuples()],
            "noise draws of one model per arm (a difference of differences)"))
    return pd.DataFrame(rows)


def convention_effect(models: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per recipe and depth with both arms: BN's penalty (eq. 14, BN - no BN) with noise on every
    trainable tensor under the paper's σ = η·std and under σ = η·rms, and the change (rms - std:
    a difference of differences with a Welch-Satterthwaite interval over the noise draws)."""
    original = models[models.variant == "original"]
    rows = []
    for (recipe, depth), g in original.groupby(["recipe", "depth"]):
        with_bn, without = g[g.bn != "none"].model, g[g.bn == "none"].model
        if with_bn.empty or without.empty:
            continue
        arms = [_per_draw(noise, name, "original", "trainable", convention)
                for convention in ("additive-rms", "paper") for name in (with_bn.iloc[0], without.iloc[0])]
        if not all(len(a) for a in arms):
            continue
        change, lo, hi, p = contrast(arms, [1, -1, -1, 1], confidence)
        rows.append(dict(recipe=recipe, depth=int(depth), std_penalty=arms[2].mean() - arms[3].mean(),
                         rms_penalty=arms[0].mean() - arms[1].mean(), change=change, lo=lo, hi=hi, p=p))
    return pd.DataFrame(rows)


STATUS_COLUMNS = ["study", "run_id", "model", "bn", "epochs", "state", "epochs_done", "diagnostics"]


def training_status(names) -> pd.DataFrame:
    """Each run of the training studies ``names`` (``studies/<name>.yaml``; a list, or a
    comma-separated text) as committed: ``study``, ``run_id``,
    ``model``, ``bn``, ``epochs`` (planned), ``state`` ("finished", "partial" or "not started"),
    ``epochs_done`` and its dead-channel trajectory file (``diagnostics``: of its kept
    checkpoints, finished or so far; or None)."""
    import json

    from ..studies import expand, load_study

    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    rows = []
    for study, cell in ((study, cell) for study in names for cell in expand(load_study(study))):
        folder = resolve(f"results/{study}")
        p = cell.params
        weights = folder / "models" / f"{cell.run_id}.weights.h5"
        state = folder / "partial" / cell.run_id / "state.json"
        done = p["epochs"] if weights.is_file() else json.loads(state.read_text())["epochs_done"] if state.is_file() else 0
        diagnostics = folder / "models" / f"{cell.run_id}.diagnostics.csv"
        if not diagnostics.is_file():  # a run still training: the diagnostics of its checkpoints so far
            diagnostics = folder / "partial" / cell.run_id / "diagnostics.csv"
        rows.append(dict(study=study, run_id=cell.run_id, model=f"ResNet-{p['depth']}", bn=str(p["bn"]), epochs=p["epochs"],
                         state="finished" if weights.is_file() else "partial" if done else "not started",
                         epochs_done=done, diagnostics=diagnostics if diagnostics.is_file() else None))
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def deepest_bn_models(models: pd.DataFrame) -> list[str]:
    """The deepest BN model of each recipe (as trained), in the order the recipes appear."""
    bn = models[(models.variant == "original") & (models.bn != "none")]
    return [g.sort_values("depth").model.iloc[-1] for _, g in bn.groupby("recipe", sort=False)]


def _interval_pp(mean: float, lo: float, hi: float) -> str:
    return f"{100 * mean:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def diagnostics_table(models: pd.DataFrame) -> pd.DataFrame:
    """The BN models' diagnostics as the chapter shows them (one row per model, as trained)."""
    bn = models[(models.variant == "original") & (models.bn != "none")]
    return pd.DataFrame({
        "model": bn.model, "recipe": bn.recipe.map(lambda r: RECIPES.get(r, r)), "depth": bn.depth,
        "BN channels": bn.bn_channels, "dead channels": bn.dead, "dead (%)": (100 * bn.dead_fraction).round(1),
        "mean g²": bn.kernel_noise_gain.round(1), "dead share of g² (%)": (100 * bn.dead_gain_share).round(0),
        "sites with zero-centred γ": [f"{z} of {n}" for z, n in zip(bn.zero_centred_sites, bn.bn_sites)]})


def surgery_table(effect: pd.DataFrame) -> pd.DataFrame:
    """:func:`surgery_effect` as the chapter shows it."""
    return pd.DataFrame({
        "model": effect.model, "noise on": effect.targets, "silenced channels": effect.silenced_channels,
        "eq. 14 before (%)": (100 * effect.before).round(1), "after (%)": (100 * effect.after).round(1),
        "change (pp) [95% CI]": [_interval_pp(r.change, r.change_lo, r.change_hi) for r in effect.itertuples()],
        "clean before → after (%)": [f"{100 * r.clean_before:.1f} → {100 * r.clean_after:.1f}" for r in effect.itertuples()],
        "images changed": effect.clean_changed_images, "McNemar p": effect.clean_p.map("{:.2g}".format)})


def penalty_table(penalty: pd.DataFrame) -> pd.DataFrame:
    """:func:`bn_penalty_by_recipe` as the chapter shows it."""
    return pd.DataFrame({
        "recipe": penalty.recipe.map(lambda r: RECIPES.get(r, r)), "depth": penalty.depth, "noise on": penalty.condition,
        "BN (%)": (100 * penalty.bn).round(1), "no BN (%)": (100 * penalty.no_bn).round(1),
        "BN − no BN (pp) [95% CI]": [_interval_pp(r.penalty, r.lo, r.hi) for r in penalty.itertuples()]})
