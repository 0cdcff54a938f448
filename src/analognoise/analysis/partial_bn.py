"""Partial BN measured: clean accuracy and robustness against how many BN sites a network has and where (first, last or spread), the Pareto front, and the BN-count claims."""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import metrics
from ..params import COUNTED_PLACEMENTS
from ..paths import resolve
from ..significance import direction, holm, slope, spearman, welch
from .claims import Evidence, checked
from .store import load_results
from .tables import eq14_chance_corrected, is_trained

#: how a placement is read: "none" (K = 0), "all" (every site), "<where>:<K>", or a named list
PLACEMENT_KINDS = ("none", "first", "last", "spread", "all", "sites")


def placement(bn: str, sites: int) -> tuple[str, int]:
    """(where, K) of a BN placement as the runs table writes it, for a model with ``sites``
    BN sites: ``"first:4"`` -> ("first", 4); ``"none"`` -> ("none", 0); ``"all"`` -> ("all",
    sites); a named list of sites -> ("sites", its length)."""
    if bn == "none":
        return "none", 0
    if bn == "all":
        return "all", sites
    if isinstance(bn, str) and ":" in bn and bn.split(":", 1)[0] in COUNTED_PLACEMENTS:
        where, count = bn.split(":", 1)
        return where, int(count)
    names = [s for s in str(bn).strip("[]").replace("'", "").split(",") if s.strip()]
    return "sites", len(names)


def bn_count_table(runs: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per run: dataset, model, bn (the placement), where (none / first / last /
    spread / all / sites), k (BN sites with BN: the run's ``bn_layers``), sites (the model's
    BN sites: the ``bn_layers`` of its ``all`` run), clean accuracy with a Wilson interval over
    the test images, eq. 14 with a CI over noise draws, the chance-corrected eq. 14 with its
    CI, ``trained`` (see :func:`~analognoise.analysis.tables.is_trained`) and ``on_front``
    (:func:`pareto_front`). Sorted by dataset, model, placement kind and K."""
    rows = []
    sites = runs[runs.bn == "all"].groupby(["dataset", "model"]).bn_layers.max()
    for run in runs.itertuples():
        g = noise[noise.run_id == run.run_id]
        if g.empty:
            continue
        total = int(sites.get((run.dataset, run.model), run.bn_layers))
        where, _ = placement(run.bn, total)
        clean, clean_lo, clean_hi = metrics.wilson_ci(float(g.clean_accuracy.iloc[0]), int(g.test_images.iloc[0]),
                                                      confidence)
        a_avr, a_lo, a_hi = metrics.average_normalized_accuracy_ci(g, confidence)
        corrected = eq14_chance_corrected(g, confidence).iloc[0]
        rows.append(dict(dataset=run.dataset, model=run.model, bn=run.bn, where=where, k=int(run.bn_layers),
                         sites=total, run_id=run.run_id, clean_accuracy=clean, clean_lo=clean_lo, clean_hi=clean_hi,
                         a_avr=a_avr, a_avr_lo=a_lo, a_avr_hi=a_hi, a_avr_corrected=corrected.a_avr_corrected,
                         corrected_lo=corrected.lo, corrected_hi=corrected.hi,
                         trained=bool(is_trained(clean, run.dataset))))
    columns = ["dataset", "model", "bn", "where", "k", "sites", "run_id", "clean_accuracy", "clean_lo", "clean_hi",
               "a_avr", "a_avr_lo", "a_avr_hi", "a_avr_corrected", "corrected_lo", "corrected_hi", "trained"]
    table = pd.DataFrame(rows, columns=columns)
    table["on_front"] = pareto_front(table)
    order = {kind: i for i, kind in enumerate(PLACEMENT_KINDS)}
    return (table.assign(_kind=table["where"].map(order)).sort_values(["dataset", "model", "k", "_kind"])
            .drop(columns="_kind").reset_index(drop=True))


def pareto_front(table: pd.DataFrame) -> pd.Series:
    """Whether each run is on its model's accuracy / robustness Pareto front: trained, and no
    other trained run of the same dataset and model has both a higher-or-equal clean accuracy and
    a higher-or-equal eq. 14, one of them strictly higher. Boolean series on ``table``'s index."""
    front = pd.Series(False, index=table.index)
    for _, g in table[table.trained].groupby(["dataset", "model"]):
        for i, run in g.iterrows():
            others = g.drop(index=i)
            dominated = ((others.clean_accuracy >= run.clean_accuracy) & (others.a_avr >= run.a_avr)
                         & ((others.clean_accuracy > run.clean_accuracy) | (others.a_avr > run.a_avr))).any()
            front[i] = not dominated
    return front


def _per_draw_eq14(noise: pd.DataFrame, run_id: str) -> np.ndarray:
    return metrics.eq14_per_repeat(noise[noise.run_id == run_id])


def placement_comparison(table: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Where BN sits, at equal K: for every model and K with a ``last:K`` or ``spread:K`` run and
    a ``first:K`` run, one row per other placement: both clean accuracies and eq. 14s, and the
    eq. 14 difference (other - first, percentage points) with a Welch interval over noise draws
    (paired on common random numbers where the runs share draws) and a Holm-adjusted p-value
    across all rows. Runs that did not train are left out."""
    rows = []
    trained = table[table.trained]
    for (dataset, model, k), g in trained.groupby(["dataset", "model", "k"]):
        first = g[g["where"] == "first"]
        if first.empty:
            continue
        base = first.iloc[0]
        for other in g[g["where"].isin(["last", "spread"])].itertuples():
            diff, lo, hi, p = welch(_per_draw_eq14(noise, other.run_id), _per_draw_eq14(noise, base.run_id), confidence)
            rows.append(dict(dataset=dataset, model=model, k=k, placement=other.bn, clean_accuracy=other.clean_accuracy,
                             first_clean_accuracy=base.clean_accuracy, a_avr=other.a_avr, first_a_avr=base.a_avr,
                             difference_pp=100 * diff, lo_pp=100 * lo, hi_pp=100 * hi, p=p))
    result = pd.DataFrame(rows, columns=["dataset", "model", "k", "placement", "clean_accuracy", "first_clean_accuracy",
                                         "a_avr", "first_a_avr", "difference_pp", "lo_pp", "hi_pp", "p"])
    result["p_holm"] = holm(result.p) if len(result) else []
    return result


#: runs of one model a trend over K needs (rank correlations over fewer cannot reach p < 0.05)
MIN_TREND_POINTS = 4


def _first_k(table: pd.DataFrame) -> pd.DataFrame:
    """The trained runs whose BN sits on the first K sites (none and all included)."""
    return table[table.trained & table["where"].isin(["none", "first", "all"])]


def bn_count_claims(table: pd.DataFrame, noise: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The paper's BN-count claims on the first-K runs of each model, with tests that can say no:

    * ``bn-count-lowers-robustness`` (IV-4, VI): eq. 14 falls as K grows: the least-squares
      slope of per-draw eq. 14 on K with its interval, per model (supported where the interval
      lies below 0, contradicted where above);
    * ``bn-count-raises-clean-accuracy`` (IV-4): clean accuracy rises with K: Spearman's rank
      correlation over the runs, exact p-value, per model;
    * ``minimum-bn-most-robust`` (III-C): among the runs that trained, the one with the fewest BN
      sites has the highest eq. 14 (the design rule's premise).

    Same verdict vocabulary and columns as the claims checklist."""
    first_k = _first_k(table)
    models = [(key, g.sort_values("k")) for key, g in first_k.groupby(["dataset", "model"])
              if len(g) >= MIN_TREND_POINTS]
    needs = f"{MIN_TREND_POINTS} or more trained first-K runs of one model"
    slopes, ranks, minimum = [], [], []
    for (dataset, model), g in models:
        draws = [_per_draw_eq14(noise, r) for r in g.run_id]
        x = np.concatenate([np.full(len(d), k) for d, k in zip(draws, g.k)])
        b, lo, hi = slope(x, np.concatenate(draws), confidence)
        slopes.append((model, direction(lo, hi, -1), f"{model}: {100 * b:+.2f} pp of eq. 14 per BN site "
                                                     f"[{100 * lo:+.2f}, {100 * hi:+.2f}] over K = {', '.join(map(str, g.k))}"))
        rho, p = spearman(g.k, g.clean_accuracy)
        ranks.append((model, (1 if rho > 0 else -1) if p < 0.05 else 0,
                      f"{model}: rho {rho:+.2f}, exact p {p:.3f} over {len(g)} runs"))
        fewest, best = g.iloc[0], g.loc[g.a_avr.idxmax()]
        minimum.append((model, 1 if best.run_id == fewest.run_id else -1,
                        f"{model}: fewest BN sites that trained {fewest.k} (eq. 14 {100 * fewest.a_avr:.1f}%), "
                        f"most robust {best.bn} ({100 * best.a_avr:.1f}%)"))

    def evidence(checks):
        return Evidence(sum(s == 1 for _, s, _ in checks), len(checks), "; ".join(t for _, _, t in checks),
                        failed=sum(s == -1 for _, s, _ in checks))

    return pd.DataFrame([
        checked("bn-count-lowers-robustness", "IV-4, VI",
                "Every BN layer costs noise robustness: eq. 14 falls as the number of BN layers grows "
                "(slope of per-draw eq. 14 on K, 95% interval below 0).", needs, evidence(slopes)),
        checked("bn-count-raises-clean-accuracy", "IV-4",
                "More BN layers give a higher clean accuracy (Spearman rank correlation, exact p < 0.05).",
                needs, evidence(ranks)),
        checked("minimum-bn-most-robust", "III-C",
                "The network with the fewest BN layers that trains is the most noise-robust of its placements "
                "(the premise of the design rule).", needs, evidence(minimum)),
    ])


def design_summary(table: pd.DataFrame, comparison: pd.DataFrame) -> str:
    """Markdown, per model: the fewest BN sites that trained, the most robust and the most
    accurate placement, the placements on the Pareto front, and where BN sits at equal K
    (differences whose interval excludes 0): what a designer choosing a placement needs."""
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    lines = []
    for (dataset, model), g in table.groupby(["dataset", "model"]):
        trained = g[g.trained]
        if trained.empty:
            lines.append(f"- **{model}** ({dataset}): no placement trained on this budget.")
            continue
        fewest = trained.sort_values(["k", "a_avr"], ascending=[True, False]).iloc[0]
        robust, accurate = trained.loc[trained.a_avr.idxmax()], trained.loc[trained.clean_accuracy.idxmax()]
        front = ", ".join(f"`{r.bn}` ({pct(r.clean_accuracy)} clean, eq. 14 {pct(r.a_avr)})"
                          for r in trained[trained.on_front].sort_values("clean_accuracy").itertuples())
        text = (f"- **{model}** ({dataset}, {int(g.sites.iloc[0])} BN sites): the fewest that trained is K = "
                f"{fewest.k} (`{fewest.bn}`); the most robust placement is `{robust.bn}` (eq. 14 {pct(robust.a_avr)}, "
                f"{pct(robust.clean_accuracy)} clean), the most accurate `{accurate.bn}` ({pct(accurate.clean_accuracy)} "
                f"clean, eq. 14 {pct(accurate.a_avr)}). On the front, from robust to accurate: {front}.")
        mine = comparison[(comparison.dataset == dataset) & (comparison.model == model)]
        differing = mine[(mine.lo_pp > 0) | (mine.hi_pp < 0)]
        if len(mine):
            text += (" Where BN sits, at equal K: " + "; ".join(
                f"`{r.placement}` {r.difference_pp:+.1f} pp of eq. 14 vs `first:{r.k}` [{r.lo_pp:+.1f}, {r.hi_pp:+.1f}]"
                for r in mine.itertuples()) + (f" ({len(differing)} of {len(mine)} differ beyond their interval)."))
        lines.append(text)
    return "\n".join(lines)


def committed_searches(pattern: str = "results/bnsearch-*") -> pd.DataFrame:
    """The committed BN-site searches (:func:`analognoise.bnsearch.run_search` folders whose
    path matches ``pattern``, relative to the project root or absolute): one row per search
    with model, dataset, sites, the minimum first-K, the fewest named sites, the number of
    monotonicity violations, whether the longer budget confirmed it, and the trials it ran."""
    rows = []
    for folder in sorted(Path(p) for p in glob.glob(str(resolve(pattern)))):
        answer = yaml.safe_load((folder / "search.yaml").read_text())
        rows.append(dict(search=folder.name, model=answer["model"], dataset=answer["dataset"], sites=answer["sites"],
                         minimum_first_k=answer["minimum_first_k"],
                         fewest_sites=", ".join(answer.get("fewest_sites", [])),
                         violations=len(answer["violations"]), confirmed=answer["confirmed"],
                         trials=len(pd.read_csv(folder / "trials.csv"))))
    return pd.DataFrame(rows, columns=["search", "model", "dataset", "sites", "minimum_first_k", "fewest_sites",
                                       "violations", "confirmed", "trials"])


def front_run_ids(study) -> set[str]:
    """Run ids on their model's accuracy / robustness Pareto front (:func:`pareto_front`) in a
    study (name, config, or exported results folder): the runs whose weights a study with
    ``weights: front`` commits."""
    runs, noise = load_results(study)
    table = bn_count_table(runs, noise)
    return set(table.run_id[table.on_front])
