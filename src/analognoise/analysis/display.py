"""The study tables as a reader sees them in the book: one cell per value with its interval
("mean [lo, hi]"), units in the headers, and a column saying what each interval is over. The
numbers are those of :mod:`.tables`; only the layout differs. No TensorFlow."""
from __future__ import annotations

import pandas as pd

from .tables import clean_accuracy_table, eq14, eq14_chance_corrected, paper_table4


def _cell(mean, lo, hi, scale: float = 100, digits: int = 1, sign: str = "") -> str:
    return f"{scale * mean:{sign}.{digits}f} [{scale * lo:{sign}.{digits}f}, {scale * hi:{sign}.{digits}f}]"


def clean_table(noise: pd.DataFrame) -> pd.DataFrame:
    """One row per trained model: clean accuracy (%) with its Wilson 95% interval over the test
    images, beside the paper's."""
    table = clean_accuracy_table(noise)
    return pd.DataFrame({
        "model": table.model, "BN": table.variant, "training seed": table.seed,
        "clean accuracy (%) [95% CI over test images]": [_cell(r.clean_accuracy, r.lo, r.hi) for r in table.itertuples()],
        "paper (%)": (100 * table.paper).round(2), "dataset": table.dataset})


def eq14_table(noise: pd.DataFrame) -> pd.DataFrame:
    """Table IV as the main chapter shows it: per model and variant, eq. 14 (%) and the same with
    chance taken out, each with its 95% CI and what the interval is over, beside the paper's."""
    plain, corrected = eq14(noise), eq14_chance_corrected(noise)
    seeds = noise.groupby(["dataset", "model", "variant"]).seed.nunique()
    paper = paper_table4().set_index(["dataset", "model", "variant"]).a_avr
    rows = []
    for r, c in zip(plain.itertuples(), corrected.itertuples()):
        n = int(seeds[(r.dataset, r.model, r.variant)])
        rows.append({"model": r.model, "BN": r.variant,
                     "eq. 14 (%)": _cell(r.a_avr, r.a_avr_lo, r.a_avr_hi),
                     "chance taken out (%)": _cell(c.a_avr_corrected, c.lo, c.hi),
                     "interval over": f"{n} training seeds" if n > 1 else "noise draws of one model",
                     "paper (%)": round(100 * paper.get((r.dataset, r.model, r.variant), float("nan")), 2),
                     "dataset": r.dataset})
    return pd.DataFrame(rows)


def effect_table(effect: pd.DataFrame) -> pd.DataFrame:
    """:func:`.tables.bn_effect` level by level: BN minus the other arm (pp) with its Welch 95% CI."""
    return pd.DataFrame({
        "model": effect.model, "versus": effect.versus, "η (%)": (100 * effect.eta).round(0).astype(int),
        "BN − other (pp) [95% CI]": [_cell(r.bn_minus_other_pp, r.ci_lo_pp, r.ci_hi_pp, 1, 2, "+")
                                     for r in effect.itertuples()],
        "p": effect.p_value.map("{:.2g}".format), "dataset": effect.dataset})


def matched_table(matched: pd.DataFrame) -> pd.DataFrame:
    """:func:`.tables.matched_clean_accuracy` for the reader."""
    return pd.DataFrame({
        "model": matched.model, "BN seed": matched.bn_seed, "no-BN seed": matched.no_bn_seed,
        "clean gap (pp)": (100 * matched.clean_gap).round(1),
        "eq. 14 BN (%)": (100 * matched.bn_eq14).round(1), "eq. 14 no BN (%)": (100 * matched.no_bn_eq14).round(1),
        "BN − no BN (pp) [95% CI over draws]": [_cell(r.difference, r.lo, r.hi, sign="+") for r in matched.itertuples()],
        "p": matched.p.map("{:.2g}".format)})


def accuracy_by_level_table(summary: pd.DataFrame, dataset: str, ours_only: bool = True) -> pd.DataFrame:
    """Table II (:func:`.tables.accuracy_table`, at one decimal) in a page's width: one row per
    model, BN arm and source (ours: mean ± 95% CI half-width; the paper's), one column per noise
    level (%). ``ours_only`` keeps the models this study has (the paper's others are in the audit)."""
    from .tables import accuracy_table

    wide = accuracy_table(summary, dataset, digits=1)
    long = wide.stack(level="source", future_stack=True).reset_index()
    long = long.rename(columns={"variant": "BN", "source": "source"})
    if ours_only:
        have = {(r.model, r.BN) for r in long.itertuples() if r.source == "ours"
                and any(str(v) != "–" for v in r[4:])}
        long = long[[(m, v) in have for m, v in zip(long.model, long.BN)]]
    levels = [c for c in long.columns if c not in ("model", "BN", "source")]
    long = long.rename(columns={c: f"η {c}" for c in levels}).reset_index(drop=True)
    long.columns.name = None
    return long
