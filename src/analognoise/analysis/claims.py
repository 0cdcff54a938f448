"""The paper's claims as objects: an id, the paper's section and wording, what a study needs to
test it, and a function returning its evidence from a study's noise table; the checklist runs
every claim on a study. Tests and pages look claims up by id, never by position.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd

from .. import metrics
from ..significance import SUPPORTED, UNTESTABLE, direction, holm, slope, verdict, welch
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
        said = verdict(found.passed, found.total, found.failed)
        if found.size_note and said == SUPPORTED:
            said = f"{said} ({found.size_note})"
        return dict(id=self.id, section=self.section, claim=self.wording, verdict=said,
                    evidence=found.text if found.total else f"needs {self.needs}")


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


@claim("bn-higher-clean-accuracy", "IV-1, IV-2", "Models with BN have a higher clean (eta = 0) accuracy than without BN.",
       "a model trained both with and without BN")
def _bn_higher_clean_accuracy(study: Study) -> Evidence:
    clean = study.clean
    return Evidence(sum(clean[(d, m, "BN")] > clean[(d, m, v)] for d, m, v in study.pairs), len(study.pairs),
                    "; ".join(f"{DATASET_LABELS[d]} {m}: BN {100 * clean[(d, m, 'BN')]:.2f}% vs {v} "
                              f"{100 * clean[(d, m, v)]:.2f}%" for d, m, v in study.pairs))


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
       "(eq. 14 over its draws, BN minus no BN, one Welch test per model, Holm-corrected across models).",
       "BN and no-BN runs of one model")
def _bn_loses_larger_fraction(study: Study) -> Evidence:
    tests = []
    noise = study.noise
    for (d, m), g in noise[noise.eta > 0].groupby(["dataset", "model"]):
        bn = g[g.variant == "BN"]
        for other_variant in ("no BN", "partial BN"):
            other = g[g.variant == other_variant]
            if len(bn) and len(other):
                tests.append((f"{m} vs {other_variant}:",
                              *welch(metrics.eq14_per_repeat(bn), metrics.eq14_per_repeat(other))))
    return _bn_lower_by_model(tests, digits=1)


@claim("bn-below-no-bn-at-10", "IV-1",
       "By eta = 10% the BN models' absolute accuracy has fallen below the no-BN models' (most models; "
       "accuracy at 10% over its draws, or its training seeds, one Welch test per model, Holm-corrected).",
       "eta = 10% and BN / no-BN pairs")
def _bn_below_at_10(study: Study) -> Evidence:
    at10 = study.noise[np.isclose(study.noise.eta, 0.1)]
    tests = []
    for d, m, v in study.pairs:
        bn, other = (at10[(at10.dataset == d) & (at10.model == m) & (at10.variant == w)] for w in ("BN", v))
        if len(bn) and len(other):
            tests.append((f"{m}: BN minus {v}",
                          *welch(metrics.samples(bn, "accuracy"), metrics.samples(other, "accuracy"))))
    return _bn_lower_by_model(tests, digits=2)


@claim("shallower-bn-more-robust", "IV-1, IV-2",
       "Among BN ResNets, shallower models are more noise-resistant than deeper ones (they have fewer BN layers): "
       "the slope of eq. 14 over depth is below 0.", "BN ResNets of two or more depths")
def _shallower_more_robust(study: Study) -> Evidence:
    noise = study.noise
    bn_resnets = noise[(noise.variant == "BN") & noise.model.str.startswith("ResNet") & (noise.eta > 0)]
    passed = failed = total = 0
    text = []
    for dataset, g in bn_resnets.groupby("dataset"):
        if g.model.nunique() < 2:
            continue
        per_draw = [(int(m.split("-")[1]), value) for m, run in g.groupby("model") for value in metrics.eq14_per_repeat(run)]
        slope_pp, lo, hi = (100 * v for v in slope([x for x, _ in per_draw], [y for _, y in per_draw]))
        sign = direction(lo, hi, expected_sign=-1)
        total, passed, failed = total + 1, passed + (sign == 1), failed + (sign == -1)
        means = {m: metrics.eq14_per_repeat(run).mean() for m, run in g.groupby("model")}
        text.append(f"{DATASET_LABELS[dataset]}: eq. 14 by depth " + ", ".join(
            f"{m} {100 * a:.1f}%" for m, a in sorted(means.items(), key=lambda kv: int(kv[0].split("-")[1])))
            + f"; slope {slope_pp:+.3f} pp per layer, 95% CI [{lo:+.3f}, {hi:+.3f}] over the draws")
    return Evidence(passed, total, "; ".join(text), failed=failed)


@claim("no-bn-flat-over-depth", "IV-1", "Without BN, ResNets' normalised accuracy at eta = 10% is about constant over "
       "depth (here: spread < 5 pp).", "no-BN ResNets of two or more depths")
def _no_bn_flat(study: Study) -> Evidence:
    summary = study.summary
    n10 = summary[np.isclose(summary.eta, 0.1) & (summary.variant != "BN") & summary.model.str.startswith("ResNet")]
    passed, total, text = 0, 0, []
    for dataset, g in n10.groupby("dataset"):
        if g.model.nunique() < 2:
            continue
        total += 1
        spread = g.normalized_accuracy.max() - g.normalized_accuracy.min()
        passed += bool(spread < 0.05)
        text.append(f"{DATASET_LABELS[dataset]}: normalised accuracy at 10% spans {100 * spread:.1f} pp over depths")
    return Evidence(passed, total, "; ".join(text))


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
