"""Figures of the mechanism chapter ("Why BN loses accuracy under noise"): dead BN channels and
eq. 14 against depth per recipe, before and after silencing the dead channels; the BN gain of
every site of a model; dead channels along training."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .analysis.mechanism import RECIPES, intervention_eq14

RECIPE_COLORS = {"keras-200": "C3", "keras-30": "C1", "fast": "C0", "fast-unit-gamma": "C2"}


def depth_figure(models: pd.DataFrame, noise: pd.DataFrame):
    """Two panels against depth, one line per recipe (BN models): (a) the share of BN channels
    that are dead; (b) eq. 14 (%) under noise on the kernels, solid as trained, dashed with the
    dead channels silenced, error bars the 95% CI over noise draws of the one model per depth."""
    eq14 = intervention_eq14(noise[noise.targets == "kernels"])
    bn = models[(models.bn != "none") & (models.variant == "original")]
    fig, (dead_ax, eq_ax) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for recipe, g in bn.groupby("recipe", sort=False):
        g = g.sort_values("depth")
        color = RECIPE_COLORS.get(recipe, "C5")
        label = RECIPES.get(recipe, recipe)
        dead_ax.plot(g.depth, 100 * g.dead_fraction, marker="o", color=color, label=label)
        for variant, style in (("original", "-"), ("silenced", "--")):
            rows = eq14[eq14.model.isin(g.model) & (eq14.variant == variant) & (eq14.noise_model == "paper")]
            if variant == "silenced":  # a model without dead channels is its own silenced variant
                missing = eq14[eq14.model.isin(set(g.model) - set(rows.model)) & (eq14.variant == "original")
                               & (eq14.noise_model == "paper")]
                rows = pd.concat([rows, missing])
            rows = rows.merge(g[["model", "depth"]]).sort_values("depth")
            if rows.empty:
                continue
            eq_ax.errorbar(rows.depth, 100 * rows.a_avr, yerr=[100 * (rows.a_avr - rows.lo), 100 * (rows.hi - rows.a_avr)],
                           color=color, linestyle=style, marker="o", markersize=4, capsize=2,
                           label=f"{label}{', dead silenced' if variant == 'silenced' else ''}")
    dead_ax.set(xlabel="depth (layers)", ylabel="dead BN channels (%)", title="(a) dead BN channels")
    eq_ax.set(xlabel="depth (layers)", ylabel="eq. 14 (%), noise on kernels", title="(b) robustness to kernel noise")
    for ax in (dead_ax, eq_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def site_gain_figure(sites: pd.DataFrame, models: list[str]):
    """Per BN site in forward order, for each of ``models``: the kernel-noise gain (mean g^2
    over channels, log scale), the part through dead channels shaded."""
    fig, axes = plt.subplots(len(models), 1, figsize=(10, 1.9 * len(models)), constrained_layout=True,
                             squeeze=False, sharey=True)
    for ax, model in zip(axes[:, 0], models):
        g = sites[sites.model == model].reset_index(drop=True)
        position = np.arange(len(g))
        ax.bar(position, g.kernel_noise_gain * (1 - g.dead_gain_share), color="C0", label="live channels")
        ax.bar(position, g.kernel_noise_gain * g.dead_gain_share, bottom=g.kernel_noise_gain * (1 - g.dead_gain_share),
               color="C3", label="dead channels")
        ax.set_yscale("log")
        ax.set(title=model, ylabel="mean $g^2$")
        ax.grid(alpha=0.3, axis="y")
    axes[-1, 0].set_xlabel("BN site (forward order)")
    axes[0, 0].legend(fontsize="small")
    return fig


def along_training_figure(diagnostics: pd.DataFrame):
    """Dead BN channels (%) against the training epoch, one line per run (``diagnostics``: rows
    of :func:`analognoise.runs.checkpoint_diagnostics` with ``label``)."""
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    for label, g in diagnostics.groupby("label", sort=False):
        ax.plot(g.epoch, 100 * g.dead_fraction, marker="o", label=label)
    ax.set(xlabel="epoch", ylabel="dead BN channels (%)", title="Dead channels along training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
