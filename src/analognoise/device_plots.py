"""Figures of the device-noise and mitigations chapters: BN vs no BN under each noise model, PCM
accuracy over time with and without drift compensation, the accuracy drop by layer depth, BN
recalibration, and noise-aware training."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import metrics
from .plots import VARIANT_STYLES

TARGET_COLORS = {"kernels": "C0", "folded": "C3", "trainable": "C2", "kernels+biases": "C1", "all": "C4"}


def noise_model_figure(noise: pd.DataFrame):
    """One panel per noise model with an eta level (not PCM): normalised accuracy (%) vs level,
    one line per (targets, variant), 95% CIs over draws. ``noise``: the device-noise table
    (:func:`analognoise.analysis.load_device_results`)."""
    grids = noise[(noise.level_name == "eta") & (noise.level > 0)
                  & ~noise.noise_model.str.contains("bits=")]
    models = list(dict.fromkeys(grids.noise_model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.8), constrained_layout=True,
                             squeeze=False)
    for ax, name in zip(axes[0], models):
        for (targets, variant), g in grids[grids.noise_model == name].groupby(["targets", "variant"]):
            rows = [(level, *metrics.mean_ci(s.normalized_accuracy)) for level, s in g.groupby("level")]
            level, mean, lo, hi = (np.array(v) for v in zip(*rows))
            ax.errorbar(100 * level, 100 * mean, yerr=[100 * (mean - lo), 100 * (hi - mean)], capsize=2,
                        marker="o", markersize=3, color=TARGET_COLORS.get(targets, "C5"),
                        linestyle=VARIANT_STYLES.get(variant, "-."), label=f"{variant}, {targets}")
        unit = g.level_unit.iat[0]
        ax.set(title=name, xlabel=f"$\\eta$ (% of {unit.removeprefix('fraction of ')})",
               ylabel="normalised accuracy (%), eq. 13")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def pcm_time_figure(over_time: pd.DataFrame):
    """Accuracy (%) vs time after programming (log scale), one panel per noise targets, lines
    for BN / no BN with and without global drift compensation; the clean accuracies dotted.
    ``over_time``: :func:`analognoise.analysis.pcm_over_time`."""
    targets = list(dict.fromkeys(over_time.targets))
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 4), constrained_layout=True,
                             squeeze=False)
    for ax, target in zip(axes[0], targets):
        for (variant, compensation), g in over_time[over_time.targets == target].groupby(["variant", "compensation"]):
            g = g.sort_values("time_s")
            color = "C2" if compensation else "C1"
            ax.errorbar(g.time_s, 100 * g.accuracy, yerr=[100 * (g.accuracy - g.accuracy_lo),
                                                          100 * (g.accuracy_hi - g.accuracy)],
                        color=color, linestyle=VARIANT_STYLES.get(variant, "-."), marker="o", markersize=3,
                        capsize=2, label=f"{variant}, {'with' if compensation else 'no'} drift compensation")
            ax.axhline(100 * g.clean_accuracy.iat[0], color="grey", linestyle=VARIANT_STYLES.get(variant, "-."),
                       linewidth=0.8)
        ax.set_xscale("log")
        ticks = over_time.drop_duplicates("time_s").sort_values("time_s")
        ax.set_xticks(ticks.time_s, ticks.time)
        ax.set(title=f"PCM, noise on {target}", xlabel="time after programming", ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def sensitivity_figure(by_site: pd.DataFrame):
    """Accuracy drop (pp) by site depth, BN vs no BN, one panel per mode (noise on that site
    only; on every site but that one). ``by_site``: :func:`analognoise.analysis.sensitivity_by_site`."""
    modes = [m for m in ("only", "all_but") if m in set(by_site["mode"])]
    titles = {"only": "noise on this layer only", "all_but": "noise on every layer but this one"}
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), constrained_layout=True, squeeze=False)
    for ax, mode in zip(axes[0], modes):
        for (model, variant), g in by_site[by_site["mode"] == mode].groupby(["model", "variant"]):
            ax.errorbar(g.depth, 100 * g["drop"], yerr=[100 * (g["drop"] - g.drop_lo), 100 * (g.drop_hi - g["drop"])],
                        linestyle=VARIANT_STYLES.get(variant, "-."), marker="o", markersize=3, capsize=2,
                        label=f"{model}, {variant}")
        ax.set(title=titles[mode], xlabel="layer (site) depth, 1 = stem", ylabel="accuracy drop (pp)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def recalibration_figure(noise: pd.DataFrame, recalibration: pd.DataFrame):
    """One panel per recalibrated noise model (columns) and deployment (rows: the noise targets,
    ``kernels`` with BN digital, ``folded`` with BN folded and recalibrated as a digital
    per-channel gain and offset): normalised accuracy (%) vs level of the BN model without
    recalibration and with each number of calibration images, and of the no-BN model on the same
    targets (recalibrated alike where it was: the folded deployment's per-channel calibration);
    95% CIs over draws. PCM levels on a log time axis."""
    models = list(dict.fromkeys(recalibration.noise_model))
    deployments = list(dict.fromkeys(recalibration.targets))
    fig, axes = plt.subplots(len(deployments), len(models), figsize=(5.5 * len(models), 4 * len(deployments)),
                             constrained_layout=True, squeeze=False)
    for row, targets in zip(axes, deployments):
        for ax, name in zip(row, models):
            recalibrated = recalibration[(recalibration.noise_model == name) & (recalibration.targets == targets)]
            plain = noise[(noise.noise_model == name) & (noise.targets == targets)
                          & noise.level.isin(set(recalibrated.level))]
            curves = [(f"{v}, no recalibration", g, "--" if v == "no BN" else "-", "black" if v == "no BN" else "C3")
                      for v, g in plain.groupby("variant")]
            counts = sorted(set(recalibrated.calibration_images))
            # shades from `first` to `first + span` of the colour map, one per number of images
            for variant, style, colors, first, span in (("BN", "-", plt.cm.viridis, 0.2, 0.6),
                                                        ("no BN", "--", plt.cm.Greys, 0.35, 0.4)):
                curves += [(f"{variant}, recalibrated on {n:,} images",
                            recalibrated[(recalibrated.calibration_images == n) & (recalibrated.variant == variant)],
                            style, colors(first + span * i / max(1, len(counts) - 1))) for i, n in enumerate(counts)]
            for label, g, style, color in curves:
                if g.empty:
                    continue
                rows = [(level, *metrics.mean_ci(s.normalized_accuracy)) for level, s in g.groupby("level")]
                level, mean, lo, hi = (np.array(v) for v in zip(*rows))
                x = level if name.startswith("pcm") else 100 * level
                ax.errorbar(x, 100 * mean, yerr=[100 * (mean - lo), 100 * (hi - mean)], linestyle=style,
                            color=color, marker="o", markersize=3, capsize=2, label=label)
            if name.startswith("pcm"):
                ax.set_xscale("log")
                ax.set_xlabel("time after programming (s)")
            else:
                ax.set_xlabel("$\\eta$ (%)")
            ax.set(title=f"{name}, noise on {targets}", ylabel="normalised accuracy (%), eq. 13")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    return fig


def noise_aware_figure(effect: pd.DataFrame):
    """Noise-aware training, one row of two panels per model: eq. 14 (%) of the BN and the no-BN
    model against the training noise eta_train (%), and BN's penalty (BN minus no BN, pp) with
    its Welch interval; 95% CIs. ``effect``: :func:`analognoise.analysis.noise_aware_effect`."""
    models = list(dict.fromkeys(effect.model))
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.8 * len(models)), constrained_layout=True, squeeze=False)
    for (left, right), model in zip(axes, models):
        g = effect[effect.model == model].sort_values("train_noise")
        x = 100 * g.train_noise.to_numpy()
        for variant, column, color in (("BN", "bn", "C3"), ("no BN", "no_bn", "black")):
            mean, lo, hi = (100 * g[f"{column}{suffix}"].to_numpy() for suffix in ("_eq14", "_lo", "_hi"))
            left.errorbar(x, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, color=color,
                          linestyle=VARIANT_STYLES.get(variant, "-"), label=variant)
        left.set(title=f"{model}: eq. 14 after noise-aware training", xlabel="training noise $\\eta_{train}$ (%)",
                 ylabel="eq. 14 (%)")
        left.legend(fontsize="small")
        penalty, lo, hi = (100 * g[c].to_numpy() for c in ("penalty", "penalty_lo", "penalty_hi"))
        right.errorbar(x, penalty, yerr=[penalty - lo, hi - penalty], marker="o", capsize=3, color="C3")
        right.axhline(0, color="grey", linewidth=1)
        right.set(title=f"{model}: BN's penalty", xlabel="training noise $\\eta_{train}$ (%)",
                  ylabel="eq. 14, BN minus no BN (pp)")
        for ax in (left, right):
            ax.set_xticks(x)
            ax.grid(alpha=0.3)
    return fig
