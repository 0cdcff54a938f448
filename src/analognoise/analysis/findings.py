"""The "What this chapter finds" boxes: two to four sentences per chapter, with the numbers,
generated from the same results as the chapter's tables (so they cannot drift from them)."""
from __future__ import annotations

import re

import pandas as pd

from ..significance import NOT_SUPPORTED, SUPPORTED
from .ablation import ablation_eq14
from .claims import claims_checklist
from .tables import eq14


def _eq14_cell(row) -> str:
    seeds = int(row.seeds) if "seeds" in row._fields else 1
    over = f"95% CI over {seeds} training seeds" if seeds > 1 else "one model, 95% CI over its noise draws"
    return f"{100 * row.a_avr:.1f}% [{100 * row.a_avr_lo:.1f}, {100 * row.a_avr_hi:.1f}] ({over})"


def paper_accuracy_findings(noise: pd.DataFrame, all_targets: pd.DataFrame) -> str:
    """The main chapter's findings (Markdown): eq. 14 with and without BN per model, the verdicts
    of the BN and depth claims, and what noise on the kernels alone costs."""
    table = eq14(noise)
    seeds = noise.groupby(["model", "variant"]).seed.nunique().rename("seeds").reset_index()
    table = table.merge(seeds, on=["model", "variant"])
    claims = claims_checklist(noise).set_index("id")
    lines = []
    for model, g in table.groupby("model", sort=False):
        arms = {r.variant: r for r in g.itertuples()}
        if "BN" in arms and "no BN" in arms:
            lines.append(f"{model}: eq. 14 with BN {_eq14_cell(arms['BN'])}, without {_eq14_cell(arms['no BN'])}")
    penalty = claims.loc["bn-loses-larger-fraction", "verdict"]
    headline = {SUPPORTED: "BN keeps less of its accuracy under the paper's weight noise",
                NOT_SUPPORTED: "BN does not keep less of its accuracy here"}.get(penalty, "BN against no BN")
    text = [f"**{headline}** (`bn-loses-larger-fraction`: {penalty}). " + "; ".join(lines) + "."]
    depth = claims.loc["shallower-bn-more-robust"]
    headline = {SUPPORTED: "Deeper BN networks keep less, as the paper found",
                NOT_SUPPORTED: "With this recipe, deeper BN networks are not worse"}.get(depth.verdict, "Depth")
    text.append(f"**{headline}** (`shallower-bn-more-robust`: {depth.verdict}; {depth.evidence.split('; ', 1)[-1]}). "
                "The next chapter, *Why BN loses accuracy under noise*, shows what decides it.")
    kernels = ablation_eq14(all_targets)
    kernels = kernels[kernels.targets == "kernels"].set_index(["model", "variant"]).a_avr
    pairs = [m for m in dict.fromkeys(kernels.index.get_level_values(0)) if (m, "BN") in kernels and (m, "no BN") in kernels]
    if pairs:
        text.append("**With BN kept digital (noise on the kernels only) the penalty nearly vanishes**: "
                    + "; ".join(f"{m} {100 * kernels[(m, 'BN')]:.1f}% with BN, {100 * kernels[(m, 'no BN')]:.1f}% "
                                "without" for m in pairs) + ". The loss comes from the noise on BN's own parameters.")
    return "\n\n".join(text)


def _first_clause(text: str, parts: int = 2) -> str:
    """The first ``parts`` "; "-separated parts of an evidence string (a box stays short)."""
    pieces = str(text).split("; ")
    return "; ".join(pieces[:parts]) + ("; ..." if len(pieces) > parts else "")


def _claim_text(claim: str) -> str:
    """A claim without its closing parenthesised method note (the claims table has it)."""
    return re.sub(r"\s*\([^()]*\)\s*\.?$", "", str(claim).strip()).rstrip(".")


def claims_findings(claims: pd.DataFrame, limit: int = 4) -> str:
    """A findings box from a claims table (columns ``claim``, ``verdict``, ``evidence``): the
    first ``limit`` claims, each with its verdict and the start of its evidence; the full table
    follows in the chapter."""
    if claims is None or claims.empty:
        return "No claim could be tested on these results (see the tables below)."
    lines = [f"**{_claim_text(r.claim)}**: {r.verdict} ({_first_clause(r.evidence)})."
             for r in claims.head(limit).itertuples()]
    more = len(claims) - limit
    return "\n\n".join(lines) + (f"\n\n{more} more claim{'s' if more > 1 else ''} in the claims table below."
                                 if more > 0 else "")


def ablation_chapter_findings(all_targets: pd.DataFrame) -> str:
    """The ablation chapter's findings: each question it answers, with its answer and evidence."""
    from .ablation import ablation_findings

    table = ablation_findings(all_targets)
    return "\n\n".join(f"**{r.question}** {r.finding} ({_first_clause(r.evidence)})." for r in table.head(3).itertuples())


def pretrained_findings(models: pd.DataFrame, noise: pd.DataFrame) -> str:
    """The pretrained-models chapter's findings: eq. 14 of each model with noise on the kernels
    and on every trainable tensor (the paper's), and whether it falls with depth."""
    from .. import metrics

    def eq14(run_id, targets):
        trials = noise[(noise.run_id == run_id) & (noise.targets == targets)]
        return metrics.average_normalized_accuracy_ci(trials)[0] if len(trials) else float("nan")

    rows = [(m.model, 100 * m.clean_accuracy, 100 * eq14(m.run_id, "trainable"), 100 * eq14(m.run_id, "kernels"))
            for m in models.itertuples()]
    listed = "; ".join(f"{name} ({clean:.1f}% clean) {trainable:.1f}%" for name, clean, trainable, _ in rows)
    falling = all(a[2] > b[2] for a, b in zip(rows, rows[1:]))
    text = [f"**Models at published accuracy keep {'less with every step in depth' if falling else 'different shares'}** "
            f"under the paper's noise on every trainable tensor (eq. 14): {listed}."]
    kernels = "; ".join(f"{name} {k:.1f}%" for name, _, _, k in rows if k == k)
    if kernels:
        text.append(f"**Most of it is noise on the kernels alone**: {kernels}. The chapter *Why BN loses accuracy "
                    "under noise* traces this to the dead BN channels these models carry.")
    return "\n\n".join(text)


def audit_findings() -> str:
    """The audit chapter's findings: how many of the paper's Table IV cells recompute from its
    Table II, and its oddities."""
    from .paper import paper_table_oddities, recompute_paper_table4

    table = recompute_paper_table4()
    off = table[table.difference.abs() > 0.00015]
    oddities = paper_table_oddities()
    text = (f"**{len(table) - len(off)} of the paper's {len(table)} Table IV cells recompute** from its Table II "
            f"(eq. 13 and 14, within 0.015 points); {len(off)} do not.")
    if oddities:
        text += f"\n\n**{len(oddities)} oddities in its tables**, e.g. {oddities[0]}."
    return text


def gradient_noise_findings(minibatch: pd.DataFrame) -> str:
    """The eq. 7 chapter's findings: the measured power law of the minibatch gradient noise."""
    from .theory_checks import power_law_fit

    slope, _ = power_law_fit(minibatch)
    runs = minibatch.run_id.nunique()
    return (f"**The minibatch gradient noise power falls with batch size as B^{slope:.2f}** (eq. 7 predicts B^-1; "
            f"least-squares fit over {runs} run{'s' if runs > 1 else ''} and every checkpoint). "
            "The table and figure below show it per run and batch size, with intervals over the batches drawn.")


def ask_findings(table: pd.DataFrame, eta: float) -> str:
    """The "ask your own question" chapter's example answer: which committed models keep the most
    and the least at ``eta``."""
    if table.empty:
        return "No committed model has trials at this noise level."
    best, worst = table.iloc[0], table.iloc[-1]

    def name(row):
        return f"{row.model} ({'BN ' + str(row.BN) if row.BN != 'none' else 'no BN'}, `{row.source}`)"

    return (f"**At eta = {100 * eta:g}%, {len(table)} trained committed models keep between {worst['kept (%)']:.1f}% "
            f"and {best['kept (%)']:.1f}% of their clean accuracy**: the most {name(best)}, the least {name(worst)}. "
            "Below: how to get this table, and any other, from the committed results in a few lines.")


def runs_findings(runs: pd.DataFrame, noise: pd.DataFrame) -> str:
    """The runs chapter's summary: how many runs, their clean accuracy range and budgets."""
    clean = noise.groupby("run_id").clean_accuracy.first()
    epochs = sorted({int(e) for e in runs.epochs}) if "epochs" in runs else []
    return (f"**{len(runs)} training runs**, clean accuracy {100 * clean.min():.1f}-{100 * clean.max():.1f}% on the "
            f"noise grid's test images" + (f", trained for {', '.join(map(str, epochs))} epochs" if epochs else "")
            + ". Each links to its executed notebooks and its parameters.")


def device_findings(penalty: pd.DataFrame) -> str:
    """The device-noise chapter's findings: BN's eq. 14 penalty per noise model, with BN kept
    digital (noise on the kernels) and with BN folded into the crossbar."""
    if penalty.empty:
        return "No model here has a BN and a no-BN arm to compare."
    text = []
    for targets, label in (("kernels", "With BN kept digital (noise on the kernels only)"),
                           ("folded", "With BN folded into the noisy weights")):
        rows = penalty[penalty.targets == targets]
        if rows.empty:
            continue
        parts = [f"{r.noise_model} {100 * r.difference:+.1f} pp [{100 * r.difference_lo:+.1f}, "
                 f"{100 * r.difference_hi:+.1f}]" for r in rows.itertuples()]
        text.append(f"**{label}, BN minus no BN in eq. 14** ({rows.model.iat[0]}; 95% CI over the noise draws of "
                    f"one model per arm): " + "; ".join(parts) + ".")
    return "\n\n".join(text)
