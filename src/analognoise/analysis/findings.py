"""The "What this chapter finds" boxes: two to four sentences per chapter, with the numbers,
generated from the same results as the chapter's tables (so they cannot drift from them)."""
from __future__ import annotations

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
