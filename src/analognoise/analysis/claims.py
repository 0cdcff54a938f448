"""The paper's claims as objects: an id, the paper's section and wording, what a study needs to
test it, and a function returning its evidence from a study's noise table; the checklist runs
every claim on a study. Tests and pages look claims up by id, never by position.

The unit of replication (the method chapter's rule): a claim about *models* (BN vs no BN, depth,
BN count, recipe) is tested over trained models, i.e. training seeds; the noise draws of one
model give its own interval only. Where an arm has one trained model the verdict is
:data:`~analognoise.significance.ONE_MODEL`, with the draw interval and, where other models have
several seeds, their seed-to-seed spread, stated as such. Each claim's wording says its test.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd

from .. import metrics
from ..significance import ONE_MODEL, SUPPORTED, UNTESTABLE, direction, equivalence, holm, slope, verdict, welch
from .paper import DATASET_LABELS, paper_table4
from .tables import budget_caveat, eq14, summarize, untrained_runs


@dataclass
class Evidence:
    """What a claim's checks found: ``passed`` support it, ``failed`` contradict it (default:
    every check that did not pass), of ``total``; ``text`` gives the numbers; ``size_note`` is
    added to a "supported" verdict (e.g. the direction holds but not the size)."""

    passed: int
    total: int
    text: str
    failed: int | None = None
    size_note: str = ""
    one_model: bool = False  # data, but one trained model per arm: nothing to test over training


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and how a study tests it."""

    id: str
    section: str
    wording: str
    needs: str
    evidence: Callable[["Study"], Evidence] = field(compare=False)

    def check(self, study: "Study") -> dict:
        found = self.evidence(study)
        said = ONE_MODEL if found.total == 0 and found.one_model else verdict(found.passed, found.total, found.failed)
        if found.size_note and said == SUPPORTED:
            said = f"{said} ({found.size_note})"
        return dict(id=self.id, section=self.section, claim=self.wording, verdict=said,
                    evidence=found.text if found.total or found.one_model else f"needs {self.needs}")


class Study:
    """A study's noise table (trained runs only) and what the claims compute from it, once."""

    def __init__(self, noise: pd.DataFrame):
        self.noise = noise

    @cached_property
    def summary(self) -> pd.DataFrame:
        return summarize(self.noise)

    @cached_property
    def eq14(self) -> pd.DataFrame:
        return eq14(self.noise)

    @cached_property
    def clean(self) -> pd.Series:
        """Clean accuracy by (dataset, model, variant)."""
        return self.summary[self.summary.eta == 0].set_index(["dataset", "model", "variant"])["accuracy"]

    @cached_property
    def pairs(self) -> list[tuple[str, str, str]]:
        """(dataset, model, the other variant) of every model with a BN and a no-/partial-BN run."""
        return [(d, m, other) for (d, m, v) in self.clean.index if v == "BN"
                for other in ("no BN", "partial BN") if (d, m, other) in self.clean.index]


def seed_spread(noise: pd.DataFrame) -> str:
    """The seed-to-seed standard deviation of eq. 14 (pp) of every model and variant trained with
    several seeds, as a labelled prior for the comparisons that have one model per arm ("" if none)."""
    spreads = [f"{m} {v} {100 * metrics.samples(g, 'normalized_accuracy').std(ddof=1):.1f} pp ({g.seed.nunique()} seeds)"
               for (m, v), g in noise[noise.eta > 0].groupby(["model", "variant"]) if g.seed.nunique() > 1]
    return "seed-to-seed SD of eq. 14 where measured: " + ", ".join(spreads) if spreads else ""


def _one_model_text(label: str, a: np.ndarray, b: np.ndarray, digits: int) -> str:
    diff, lo, hi, _ = welch(a, b)
    return (f"{label} {100 * diff:+.{digits}f} pp [{100 * lo:+.{digits}f}, {100 * hi:+.{digits}f}] over the noise "
            "draws of one model per arm")


def checked(id: str, section: str, wording: str, needs: str, evidence: Evidence) -> dict:
    """A claims-table row for evidence a topic's checklist computed in place (the theory and
    companion studies): the same verdicts and columns as :func:`claims_checklist`."""
    return Claim(id, section, wording, needs, lambda _: evidence).check(None)


#: every claim of the paper, in its order
CLAIMS: dict[str, Claim] = {}


def claim(id: str, section: str, wording: str, needs: str):
    """Register the decorated evidence function as the claim ``id``."""
    def register(evidence: Callable[[Study], Evidence]) -> Callable[[Study], Evidence]:
        CLAIMS[id] = Claim(id, section, wording, needs, evidence)
        return evidence
    return register


@claim("bn-higher-clean-accuracy", "IV-1, IV-2",
       "Models with BN have a higher clean (eta = 0) accuracy than without BN (per-seed clean accuracy, "
       "one Welch test per model over its training seeds, Holm-corrected across models).",
       "a model trained both with and without BN")
def _bn_higher_clean_accuracy(study: Study) -> Evidence:
    clean_rows = study.noise[study.noise.eta == 0]
    tests, single = [], []
    for d, m, v in study.pairs:
        bn, other = (clean_rows[(clean_rows.dataset == d) & (clean_rows.model == m) & (clean_rows.variant == w)]
                     for w in ("BN", v))
        if bn.seed.nunique() > 1 and other.seed.nunique() > 1:
            tests.append((f"{m}: BN minus {v} ({bn.seed.nunique()} and {other.seed.nunique()} seeds)",
                          *welch(metrics.samples(bn, "accuracy"), metrics.samples(other, "accuracy"))))
        else:
            single.append(f"{DATASET_LABELS[d]} {m}: BN {100 * study.clean[(d, m, 'BN')]:.2f}% vs {v} "
                          f"{100 * study.clean[(d, m, v)]:.2f}% (one model each: no test over training)")
    adjusted = holm([t[-1] for t in tests]) if tests else []
    text = [f"{label} {100 * diff:+.2f} pp [{100 * lo:+.2f}, {100 * hi:+.2f}], Holm p = {p:.2g}"
            for (label, diff, lo, hi, _), p in zip(tests, adjusted)]
    return Evidence(sum(t[1] > 0 and p < 0.05 for t, p in zip(tests, adjusted)), len(tests),
                    "; ".join(text + single), failed=sum(t[1] < 0 and p < 0.05 for t, p in zip(tests, adjusted)),
                    one_model=bool(single) and not tests)


@claim("accuracy-falls-with-eta", "IV-1", "Accuracy decreases as the noise factor eta grows, with and without BN.",
       "a noise grid")
def _accuracy_falls_with_eta(study: Study) -> Evidence:
    rises, monotone = [], 0
    groups = study.summary.groupby(["dataset", "model", "variant"])
    for (d, m, v), g in groups:
        g = g.sort_values("eta")
        steps = [(e1, a1, e2, a2) for e1, a1, e2, a2 in zip(g.eta, g.accuracy, g.eta[1:], g.accuracy[1:])
                 if a2 - a1 > 0.01]
        monotone += not steps
        rises += [f"{m} {v}: {100 * a1:.2f}% at {100 * e1:g}% -> {100 * a2:.2f}% at {100 * e2:g}%"
                  for e1, a1, e2, a2 in steps]
    return Evidence(monotone, groups.ngroups, "no rise of more than 1 pp between consecutive etas" if not rises
                    else "rises: " + "; ".join(rises))


def _bn_lower_by_model(tests: list[tuple], digits: int) -> Evidence:
    """Evidence from one Welch test per model, ``tests`` = (label, diff, lo, hi, p) with diff = BN
    minus the other arm: Holm-corrected across them, supporting where BN is significantly lower,
    contradicting where significantly higher."""
    adjusted = holm([t[-1] for t in tests]) if tests else []
    rows = [(label, diff, lo, hi, p) for (label, diff, lo, hi, _), p in zip(tests, adjusted)]
    return Evidence(sum(diff < 0 and p < 0.05 for _, diff, lo, hi, p in rows), len(rows),
                    "; ".join(f"{label} {100 * diff:+.{digits}f} pp [{100 * lo:+.{digits}f}, {100 * hi:+.{digits}f}], "
                              f"Holm p = {p:.2g}" for label, diff, lo, hi, p in rows),
                    failed=sum(diff > 0 and p < 0.05 for _, diff, lo, hi, p in rows))


@claim("bn-loses-larger-fraction", "IV-1, IV-2, VI",
       "BN models lose a larger fraction of their accuracy under noise than the same models without BN "
       "(eq. 14 per training seed, BN minus no BN, one Welch test per model over its seeds, Holm-corrected "
       "across models).",
       "BN and no-BN runs of one model")
def _bn_loses_larger_fraction(study: Study) -> Evidence:
    tests, single = [], []
    noise = study.noise
    for (d, m), g in noise[noise.eta > 0].groupby(["dataset", "model"]):
        bn = g[g.variant == "BN"]
        for other_variant in ("no BN", "partial BN"):
            other = g[g.variant == other_variant]
            if not (len(bn) and len(other)):
                continue
            if bn.seed.nunique() > 1 and other.seed.nunique() > 1:
                tests.append((f"{m} vs {other_variant} ({bn.seed.nunique()} and {other.seed.nunique()} seeds):",
                              *welch(metrics.samples(bn, "normalized_accuracy"), metrics.samples(other, "normalized_accuracy"))))
            else:
                single.append(_one_model_text(f"{m} vs {other_variant}:", metrics.eq14_per_repeat(bn),
                                              metrics.eq14_per_repeat(other), 1))
    return _with_single(_bn_lower_by_model(tests, digits=1), single, noise)


def _with_single(found: Evidence, single: list[str], noise: pd.DataFrame) -> Evidence:
    """``found`` (the seed-level tests) with the one-model comparisons added to its text, labelled,
    and the seed-to-seed spread where seeds exist; one-model evidence alone gives :data:`ONE_MODEL`."""
    if single:
        spread = seed_spread(noise)
        found.text = "; ".join(t for t in (found.text, *single, spread) if t)
        found.one_model = not found.total
    return found


@claim("bn-below-no-bn-at-10", "IV-1",
       "By eta = 10% the BN models have kept less of their accuracy than the no-BN models (normalised accuracy, "
       "eq. 13, at 10%, so that a gap in clean accuracy is not counted; per training seed, one Welch test per "
       "model over its seeds, Holm-corrected).",
       "eta = 10% and BN / no-BN pairs")
def _bn_below_at_10(study: Study) -> Evidence:
    at10 = study.noise[np.isclose(study.noise.eta, 0.1)]
    tests, single = [], []
    for d, m, v in study.pairs:
        bn, other = (at10[(at10.dataset == d) & (at10.model == m) & (at10.variant == w)] for w in ("BN", v))
        if not (len(bn) and len(other)):
            continue
        if bn.seed.nunique() > 1 and other.seed.nunique() > 1:
            tests.append((f"{m}: BN minus {v} ({bn.seed.nunique()} and {other.seed.nunique()} seeds)",
                          *welch(metrics.samples(bn, "normalized_accuracy"), metrics.samples(other, "normalized_accuracy"))))
        else:
            single.append(_one_model_text(f"{m}: BN minus {v}", bn.normalized_accuracy.to_numpy(),
                                          other.normalized_accuracy.to_numpy(), 2))
    return _with_single(_bn_lower_by_model(tests, digits=2), single, study.noise)


def _per_model(rows: pd.DataFrame, eta: float | None = None) -> list[tuple[int, float]]:
    """(depth, value) per trained model of ResNet rows: eq. 14, or the normalised accuracy at ``eta``."""
    out = []
    for (model, _), g in rows.groupby(["model", "seed"]):
        g = g if eta is None else g[np.isclose(g.eta, eta)]
        if len(g):
            value = metrics.eq14_per_repeat(g).mean() if eta is None else g.normalized_accuracy.mean()
            out.append((int(model.split("-")[1]), float(value)))
    return out


@claim("shallower-bn-more-robust", "IV-1, IV-2",
       "Among BN ResNets, shallower models are more noise-resistant than deeper ones (they have fewer BN layers): "
       "the slope of eq. 14 over depth is below 0 (least squares over the trained models, one point per model "
       "and training seed; at least three models at two depths).", "BN ResNets of two or more depths")
def _shallower_more_robust(study: Study) -> Evidence:
    noise = study.noise
    bn_resnets = noise[(noise.variant == "BN") & noise.model.str.startswith("ResNet") & (noise.eta > 0)]
    passed = failed = total = 0
    text, one_model = [], False
    for dataset, g in bn_resnets.groupby("dataset"):
        if g.model.nunique() < 2:
            continue
        models = _per_model(g)
        means = {m: metrics.eq14_per_repeat(run).mean() for m, run in g.groupby("model")}
        by_depth = f"{DATASET_LABELS[dataset]}: eq. 14 by depth " + ", ".join(
            f"{m} {100 * a:.1f}%" for m, a in sorted(means.items(), key=lambda kv: int(kv[0].split("-")[1])))
        if len(models) < 3:
            one_model = True
            text.append(by_depth + " (one model per depth: no slope over models)")
            continue
        slope_pp, lo, hi = (100 * v for v in slope([x for x, _ in models], [y for _, y in models]))
        sign = direction(lo, hi, expected_sign=-1)
        total, passed, failed = total + 1, passed + (sign == 1), failed + (sign == -1)
        text.append(by_depth + f"; slope {slope_pp:+.3f} pp per layer, 95% CI [{lo:+.3f}, {hi:+.3f}] over "
                    f"{len(models)} trained models")
    return Evidence(passed, total, "; ".join(text), failed=failed, one_model=one_model)


#: "flat over depth" means: the fitted change of the normalised accuracy at eta = 10% between the
#: shallowest and the deepest model lies within this many points (fixed before the results)
FLAT_MARGIN_PP = 2.0


@claim("no-bn-flat-over-depth", "IV-1", "Without BN, ResNets' normalised accuracy at eta = 10% is about constant over "
       f"depth: the fitted change from the shallowest to the deepest model is within ±{FLAT_MARGIN_PP:g} pp (two "
       "one-sided tests at 5%: its 90% interval, over the trained models, inside the margin).",
       "no-BN ResNets of two or more depths")
def _no_bn_flat(study: Study) -> Evidence:
    noise = study.noise
    no_bn = noise[(noise.variant != "BN") & noise.model.str.startswith("ResNet")]
    passed = failed = total = 0
    text, one_model = [], False
    for dataset, g in no_bn.groupby("dataset"):
        if g.model.nunique() < 2:
            continue
        models = _per_model(g, eta=0.1)
        depths = [d for d, _ in models]
        if len(models) < 3:
            one_model = True
            text.append(f"{DATASET_LABELS[dataset]}: normalised accuracy at 10% " + ", ".join(
                f"ResNet-{d} {100 * v:.1f}%" for d, v in sorted(models)) + " (one model per depth: no test over models)")
            continue
        span = max(depths) - min(depths)
        change = tuple(100 * span * v for v in slope(depths, [v for _, v in models], confidence=0.90))
        sign = equivalence(change, FLAT_MARGIN_PP)
        total, passed, failed = total + 1, passed + (sign == 1), failed + (sign == -1)
        text.append(f"{DATASET_LABELS[dataset]}: fitted change over depths {min(depths)}-{max(depths)} "
                    f"{change[0]:+.1f} pp, 90% CI [{change[1]:+.1f}, {change[2]:+.1f}] over {len(models)} trained models "
                    f"(margin ±{FLAT_MARGIN_PP:g} pp)")
    return Evidence(passed, total, "; ".join(text), failed=failed, one_model=one_model)


@claim("harder-task-degrades-more", "IV-3, VI",
       "The same model degrades more on CIFAR-100 (harder task) than on CIFAR-10 (eq. 14).",
       "the same models on CIFAR-10 and CIFAR-100")
def _harder_task(study: Study) -> Evidence:
    wide = study.eq14.pivot_table(index=["model", "variant"], columns="dataset", values="a_avr")
    both = wide.dropna() if {"cifar10", "cifar100"} <= set(wide.columns) else pd.DataFrame(
        columns=["cifar10", "cifar100"], dtype=float)
    return Evidence(int((both["cifar100"] < both["cifar10"]).sum()), len(both),
                    "; ".join(f"{m} {v}: CIFAR-10 {100 * r.cifar10:.1f}% vs CIFAR-100 {100 * r.cifar100:.1f}%"
                              for (m, v), r in both.iterrows()))


@claim("table-iv-bn-lower", "IV-4 (Table IV)",
       "Eq. 14 is lower with BN than without (or with partial BN), for every model and dataset.",
       "BN and no-BN runs of one model")
def _table_iv(study: Study) -> Evidence:
    pivot = study.eq14.pivot_table(index=["dataset", "model"], columns="variant", values="a_avr")
    rows = [(k, r) for k, r in pivot.iterrows() if pd.notna(r.get("BN")) and r.drop("BN").notna().any()]
    text = [f"{DATASET_LABELS[d]} {m}: BN {100 * r['BN']:.1f}% vs "
            + ", ".join(f"{v} {100 * r[v]:.1f}%" for v in r.index if v != "BN" and pd.notna(r[v]))
            for (d, m), r in rows]
    paper = paper_table4().pivot_table(index=["dataset", "model"], columns="variant", values="a_avr")
    ours_gap = [100 * (r["no BN"] - r["BN"]) for k, r in rows if pd.notna(r.get("no BN"))]
    paper_gap = [100 * (paper.loc[k, "no BN"] - paper.loc[k, "BN"]) for k, r in rows
                 if pd.notna(r.get("no BN")) and k in paper.index]
    size_note = ""
    if ours_gap and paper_gap:
        text.append(f"no BN minus BN: ours {min(ours_gap):.1f}-{max(ours_gap):.1f} pp, the paper's "
                    f"{min(paper_gap):.1f}-{max(paper_gap):.1f} pp")
        if max(ours_gap) < 0.5 * min(paper_gap) or min(ours_gap) > 2 * max(paper_gap):
            size_note = "direction reproduced, size not"
    return Evidence(sum(all(r["BN"] < r[v] for v in r.index if v != "BN" and pd.notna(r[v])) for _, r in rows),
                    len(rows), "; ".join(text), size_note=size_note)


@claim("more-bn-layers-trade-off", "IV-4, VI",
       "The more BN layers, the higher the clean accuracy and the lower the noise resistance (partial BN trades "
       "one for the other).", "one model with BN, partial BN and no BN")
def _layers_trade_off(study: Study) -> Evidence:
    noise, a_avr, clean = study.noise, study.eq14, study.clean
    layered = [k for k, n in noise.groupby(["dataset", "model"])["variant"].nunique().items() if n >= 3]
    layers = noise.groupby(["dataset", "model", "variant"])["bn"].first()
    order = {"no BN": 0, "partial BN": 1, "BN": 2}
    passed, text = 0, []
    for dataset, model in layered:
        g = a_avr[(a_avr.dataset == dataset) & (a_avr.model == model)].copy()
        g["clean"] = [clean[(dataset, model, v)] for v in g.variant]
        g = g.sort_values("variant", key=lambda s: s.map(order))
        passed += g.clean.is_monotonic_increasing and g.a_avr.is_monotonic_decreasing
        text.append(f"{DATASET_LABELS[dataset]} {model}: " + "; ".join(
            f"{v} ({layers[(dataset, model, v)]}) clean {100 * c:.1f}%, eq. 14 {100 * a:.1f}%"
            for v, c, a in zip(g.variant, g.clean, g.a_avr)))
    return Evidence(passed, len(layered), "; ".join(text))


def claims_checklist(noise: pd.DataFrame) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` on a study's noise table: one row per claim with id,
    section, claim, verdict (supported / partly supported / not supported / inconclusive /
    not testable in this study), evidence (numbers a reader can check against the tables) and
    caveat (the study's budget, the same for every claim). Models that did not train
    (:func:`~analognoise.analysis.tables.is_trained`) are left out of every check."""
    caveat = budget_caveat(noise)
    trained = noise[~noise.run_id.isin(untrained_runs(noise).run_id)]
    if trained.empty:  # nothing to check any claim on
        return pd.DataFrame([dict(id=c.id, section=c.section, claim=c.wording, verdict=UNTESTABLE,
                                  evidence="needs a trained model: none of this study's models trained", caveat=caveat)
                             for c in CLAIMS.values()])
    study = Study(trained)
    return pd.DataFrame([{**c.check(study), "caveat": caveat} for c in CLAIMS.values()])
