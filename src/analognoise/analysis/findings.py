"""The "What this chapter finds" boxes: two to four sentences per chapter, with the numbers,
generated from the same results as the chapter's tables (so they cannot drift from them)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..significance import NOT_SUPPORTED, SUPPORTED
from .ablation import ablation_eq14
from .claims import claims_checklist
from .mechanism import _interval_pp, _per_draw, bn_penalty_by_recipe, convention_effect, depth_trend, surgery_effect
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


def mechanism_findings(models: pd.DataFrame, noise: pd.DataFrame, clean: dict,
                       status: pd.DataFrame | None = None) -> str:
    """The chapter's "What this chapter finds" box (Markdown), every number from the results;
    ``status`` (:func:`training_status`) adds the dead channels along our own training runs."""
    every_surgery = surgery_effect(models, noise, clean)
    crosssim = set(models[models.recipe == "keras-200"].model)
    surgery = every_surgery[every_surgery.model.isin(crosssim)] if len(every_surgery) else every_surgery
    keras = models[(models.recipe == "keras-200") & (models.variant == "original")].sort_values("depth")
    lines = []
    if len(keras):
        deepest = keras.iloc[-1]
        lines.append(
            f"**Dead BN channels carry the paper's depth trend.** In the BN ResNets trained with the "
            f"paper's recipe (CrossSim's, 200 epochs), the share of dead BN channels (kernel decayed to ~0, "
            f"moving variance below 1% of BN's epsilon) grows with depth: "
            + ", ".join(f"{100 * r.dead_fraction:.0f}%" for r in keras.itertuples())
            + f" at ResNet-{', '.join(str(int(d)) for d in keras.depth)}. BN multiplies the kernel noise "
            f"they receive by up to ~{1 / np.sqrt(1e-3):.0f}x gamma, and at ResNet-{int(deepest.depth)} they carry "
            f"{100 * deepest.dead_gain_share:.0f}% of the network's kernel-noise gain.")
    kernels = surgery[surgery.targets == "kernels"] if len(surgery) else surgery
    if len(kernels):
        changed = int(kernels.drop_duplicates("model").clean_changed_images.sum())
        kept = (f"changes no clean prediction on the {int(models.test_images.iat[0]):,} test images" if not changed else
                f"changes {changed} clean predictions (clean accuracy within "
                f"{100 * np.abs(kernels.clean_after - kernels.clean_before).max():.1f} pp)")
        after = depth_trend(models, noise, "keras-200", "silenced")
        lines.append(
            f"Silencing them on the trained weights (γ → 0, β kept) {kept} and lifts eq. 14 under kernel noise: "
            + "; ".join(f"ResNet-{r.depth} {100 * r.before:.1f} → {100 * r.after:.1f}%" for r in kernels.itertuples())
            + (f". Deeper then keeps *more* ({after['slope']:+.2f} pp per layer), as with the `fast` recipe."
               if after["slope"] > 0 else "."))
    ours = own_training_line(models, noise, status)
    if ours:
        lines.append(ours)
    dose = dose_response_line(every_surgery, models)
    if dose:
        lines.append(dose)
    penalty = bn_penalty_by_recipe(models, noise)
    fast = penalty[penalty.recipe == "fast"] if len(penalty) else penalty
    if len(fast):
        pivot = fast.pivot(index="depth", columns="condition", values="penalty")
        if {"kernels", "+ BN γ, β"} <= set(pivot.columns):
            lines.append(
                "**The `fast` recipe has no dead channels; its BN penalty comes from the noise on BN's γ, β.** "
                + "; ".join(f"ResNet-{d}: {100 * pivot.loc[d, 'kernels']:+.1f} pp with noise on the kernels, "
                            f"{100 * pivot.loc[d, '+ BN γ, β']:+.1f} pp with γ, β too" for d in pivot.index)
                + ". Its residual branches' γ start at 0 and stay zero-centred, so the paper's σ = η·std(γ) is "
                  "η times their own size.")
    convention = convention_effect(models, noise)
    if len(convention):
        lines.append(
            "**The paper's convention hides BN's sensitivity to noise on its scales.** Where γ starts at 1, "
            "σ = η·std(γ) is a small fraction of γ; with noise relative to each tensor's size (σ = η·rms) BN's "
            "penalty grows: " + "; ".join(f"ResNet-{r.depth} {100 * r.std_penalty:+.1f} → {100 * r.rms_penalty:+.1f} pp"
                                          for r in convention.itertuples()) + " (`fast` recipe).")
    return "\n\n".join(lines)


def own_training_line(models: pd.DataFrame, noise: pd.DataFrame, status: pd.DataFrame | None = None) -> str:
    """A finding on the paper's recipe as trained here (``keras-30``): each BN model's dead
    channels and eq. 14 under kernel noise, as trained and silenced, beside CrossSim's model of
    the same depth; and the dead channels of our runs along training (``status``), finished or
    still training. Empty when there is neither."""
    parts = []
    ours = models[(models.recipe == "keras-30") & (models.bn != "none") & (models.variant == "original")]
    reference = models[(models.recipe == "keras-200") & (models.variant == "original")].set_index("depth")
    for m in ours.sort_values("depth").itertuples():
        before = _per_draw(noise, m.model, "original", "kernels")
        after = _per_draw(noise, m.model, "silenced", "kernels")
        text = (f"ResNet-{int(m.depth)} after 30 epochs: {100 * m.dead_fraction:.1f}% dead, eq. 14 under kernel noise "
                f"{100 * before.mean():.1f}%" + (f" ({100 * after.mean():.1f}% silenced)" if len(after) else ""))
        if int(m.depth) in reference.index:
            ref = reference.loc[int(m.depth)]
            theirs = _per_draw(noise, ref.model, "original", "kernels")
            text += f", against CrossSim's 200-epoch {100 * ref.dead_fraction:.1f}% and {100 * theirs.mean():.1f}%"
        parts.append(text)
    if status is not None and len(status):
        for r in status[status.diagnostics.notna() & (status.bn != "none")].itertuples():
            trajectory = pd.read_csv(r.diagnostics)
            if len(trajectory) and trajectory.dead.iloc[-1] > 0:
                first = trajectory[trajectory.dead > 0].iloc[0]
                last = trajectory.iloc[-1]
                parts.append(f"{r.model} ({r.state}, {r.study}): first dead channels by epoch {int(first.epoch)}, "
                             f"{100 * last.dead_fraction:.1f}% at epoch {int(last.epoch)}, carrying "
                             f"{100 * last.dead_gain_share:.0f}% of its kernel-noise gain")
    if not parts:
        return ""
    return ("**Our own training with the paper's recipe grows dead channels too, slowly and more with depth.** "
            + "; ".join(parts) + ".")


def dose_response_line(surgery: pd.DataFrame, models: pd.DataFrame) -> str:
    """A finding on how the lift of silencing grows with the number of dead channels silenced
    (kernel noise, every model that has them, fewest first), and how many of the dead channels
    have beta < 0 (``models.dead_negative_beta``, where measured). Empty with fewer than two models."""
    kernels = surgery[surgery.targets == "kernels"].sort_values("silenced_channels") if len(surgery) else surgery
    if len(kernels) < 2:
        return ""
    return ("**What silencing gains grows with how many channels are dead.** Eq. 14 under kernel noise, after minus "
            "before (95% CI over the paired noise draws): " + "; ".join(
                f"{r.model}, {r.silenced_channels} channels: {_interval_pp(r.change, r.change_lo, r.change_hi)} pp"
                for r in kernels.itertuples())
            + "." + _negative_beta_text(models))


def _negative_beta_text(models: pd.DataFrame) -> str:
    original = models[models.variant == "original"]
    if "dead_negative_beta" not in original or not original.dead.sum():
        return ""
    negative, dead = int(original.dead_negative_beta.fillna(0).sum()), int(original.dead.sum())
    return (f" {negative} of the {dead} dead channels have β < 0: the ReLU after such a channel passes its "
            "amplified noise only where it exceeds |β|, so a few dead channels cost little and many carry most "
            "of the loss.")
