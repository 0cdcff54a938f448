"""Figures shared by the notebooks: accuracy and normalised accuracy (eq. 13) vs eta."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .analysis.tables import TRAINED_MULTIPLE_OF_CHANCE
from .metrics import summarize_by_eta


def noise_curves(tables: dict[str, pd.DataFrame], title: str = "", axes=None):
    """Two panels, (a) accuracy and (b) normalised accuracy vs eta (in %), one line per label.

    ``tables`` maps a legend label to a noise table (one row per eta and repeat); error
    bars are 95% confidence intervals over repeats. Returns the figure.
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    else:
        fig = axes[0].figure
    for label, table in tables.items():
        s = summarize_by_eta(table)
        eta = 100 * s["eta"]
        for ax, col, lo, hi in ((axes[0], "accuracy", "accuracy_lo", "accuracy_hi"),
                                (axes[1], "normalized_accuracy", "normalized_lo", "normalized_hi")):
            ax.errorbar(eta, 100 * s[col], yerr=[100 * (s[col] - s[lo]), 100 * (s[hi] - s[col])],
                        marker="o", capsize=3, label=label)
    axes[0].set(xlabel="noise factor $\\eta$ (%)", ylabel="test accuracy (%)",
                title="(a) accuracy")
    axes[1].set(xlabel="noise factor $\\eta$ (%)", ylabel="normalised accuracy (%), eq. 13",
                title="(b) normalised accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


MODEL_COLORS = {"ResNet-20": "C0", "ResNet-32": "C1", "ResNet-44": "C2", "ResNet-56": "C3", "VGG16": "C4"}
VARIANT_STYLES = {"BN": "-", "no BN": "--", "partial BN": ":"}


def _model_color(model: str) -> str:
    return MODEL_COLORS.get(model, "C5")


def _summary_lines(ax, summary: pd.DataFrame, column: str, with_ci: bool):
    """One line per (model, variant) of a summary table (fractions -> percent)."""
    lo, hi = {"accuracy": ("accuracy_lo", "accuracy_hi"),
              "normalized_accuracy": ("normalized_lo", "normalized_hi")}[column]
    for (model, variant), g in summary.groupby(["model", "variant"], sort=False):
        g = g.sort_values("eta")
        y = 100 * g[column]
        yerr = [100 * (g[column] - g[lo]), 100 * (g[hi] - g[column])] if with_ci else None
        ax.errorbar(100 * g["eta"], y, yerr=yerr, color=_model_color(model), capsize=2,
                    linestyle=VARIANT_STYLES.get(variant, "-."), marker="o", markersize=3,
                    label=f"{model}, {variant}")


def _paper_as_summary(paper: pd.DataFrame) -> pd.DataFrame:
    """The paper's accuracy table in the summary layout (no CI: the paper gives none)."""
    keys = ["dataset", "model", "variant"]
    clean = paper[paper.eta == 0].set_index(keys)["accuracy"].rename("clean")
    out = paper.join(clean, on=keys)
    out["normalized_accuracy"] = out["accuracy"] / out["clean"]
    out["accuracy_lo"] = out["accuracy_hi"] = out["accuracy"]
    out["normalized_lo"] = out["normalized_hi"] = out["normalized_accuracy"]
    return out


def paper_figure(summary: pd.DataFrame, paper: pd.DataFrame, dataset_label: str, note: str = ""):
    """Figures 2 / 3 in the paper's layout, ours (top, 95% CI) above the paper's (bottom):
    (a) accuracy and (b) normalised accuracy vs eta, one line per model and BN variant."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True, sharex=True)
    rows = (("ours" + (f" ({note})" if note else ""), summary, True), ("paper", _paper_as_summary(paper), False))
    for (source, data, with_ci), (ax_a, ax_b) in zip(rows, axes):
        if data.empty:
            for ax in (ax_a, ax_b):
                ax.text(0.5, 0.5, "no runs", ha="center", transform=ax.transAxes)
            continue
        _summary_lines(ax_a, data, "accuracy", with_ci)
        _summary_lines(ax_b, data, "normalized_accuracy", with_ci)
        ax_a.set(ylabel="test accuracy (%)", title=f"(a) accuracy, {source}")
        ax_b.set(ylabel="normalised accuracy (%)", title=f"(b) normalised accuracy (eq. 13), {source}")
        ax_b.legend(fontsize="x-small", ncol=2)
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("noise factor $\\eta$ (%)")
    fig.suptitle(f"{dataset_label}: weight noise, with and without BN")
    return fig


def dataset_figure(summary: pd.DataFrame, paper: pd.DataFrame):
    """Figure 4: normalised accuracy on CIFAR-10 (solid) vs CIFAR-100 (dashed), (a) BN models,
    (b) no-BN / partial-BN models; ours (top) above the paper's (bottom)."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), constrained_layout=True, sharex=True, sharey=True)
    for (source, data), row in zip((("ours", summary), ("paper", _paper_as_summary(paper))), axes):
        for ax, variants, title in ((row[0], ("BN",), "(a) with BN"),
                                    (row[1], ("no BN", "partial BN"), "(b) without / partial BN")):
            subset = data[data.variant.isin(variants)]
            for (model, dataset), g in subset.groupby(["model", "dataset"]):
                g = g.sort_values("eta")
                ax.plot(100 * g.eta, 100 * g.normalized_accuracy, color=_model_color(model),
                        linestyle="-" if dataset == "cifar10" else "--", marker="o", markersize=3,
                        label=f"{model}, {'CIFAR-10' if dataset == 'cifar10' else 'CIFAR-100'}")
            ax.set(title=f"{title}, {source}", ylabel="normalised accuracy (%)")
            ax.grid(alpha=0.3)
            if subset.empty:
                ax.text(0.5, 0.5, "no runs", ha="center", transform=ax.transAxes)
            else:
                ax.legend(fontsize="x-small", ncol=2)
    for ax in axes[1]:
        ax.set_xlabel("noise factor $\\eta$ (%)")
    fig.suptitle("Figure 4: the same models on CIFAR-10 (solid) and CIFAR-100 (dashed)")
    return fig


def _run_label(row) -> str:
    return f"{row.model}, {row.variant}"


def noise_power_vs_batch(summary: pd.DataFrame, title: str = ""):
    """Eq. 7 check: measured minibatch noise power (95% CI) vs batch size, beside the
    prediction C/|B| (M-|B|)/(M-1); left: BN moving statistics, right: BN batch statistics."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True, sharey=True)
    for ax, training in zip(axes, (False, True)):
        part = summary[summary.training == training]
        for i, ((run, model, variant), g) in enumerate(part.groupby(["run_id", "model", "variant"])):
            g = g.sort_values("batch_size")
            color = f"C{i}"
            ax.errorbar(g.batch_size, g.power, yerr=[g.power - g.power_lo, g.power_hi - g.power],
                        fmt="o", color=color, capsize=3, label=f"{model}, {variant}: measured")
            ax.plot(g.batch_size, g.predicted, "--", color=color, label=f"{model}, {variant}: $C/|B|$ (eq. 7)")
        ax.set(xscale="log", yscale="log", xlabel="batch size $|B|$",
               title="samples independent (BN moving statistics)" if not training
               else "BN batch statistics (as in SGD training)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="x-small")
    axes[0].set_ylabel(r"$E\,\|\nabla L_B - \nabla L_D\|^2$ (times $\alpha^2$ for a step)")
    if title:
        fig.suptitle(title)
    return fig


def along_training(checkpoints: pd.DataFrame, columns: dict[str, str], title: str = ""):
    """One panel per measurement (``columns``: column -> axis label) vs epoch, one line per run."""
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.6), constrained_layout=True)
    for ax, (column, label) in zip(np.atleast_1d(axes), columns.items()):
        for (model, variant), g in checkpoints.groupby(["model", "variant"]):
            g = g.sort_values("epoch")
            ax.plot(g.epoch, g[column], marker="o", color=_model_color(model),
                    linestyle=VARIANT_STYLES.get(variant, "-."), label=f"{model}, {variant}")
        ax.set(xlabel="epoch (0 = initialisation)", ylabel=label, yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return fig


def layer_gradient_norms(layers: pd.DataFrame, epochs: list[int]):
    """||full-pool gradient|| per kernel, input to output, at the given epochs (Santurkar et al. style)."""
    fig, axes = plt.subplots(1, len(epochs), figsize=(5 * len(epochs), 3.6), constrained_layout=True, sharey=True)
    for ax, epoch in zip(np.atleast_1d(axes), epochs):
        for (model, variant), g in layers[layers.epoch == epoch].groupby(["model", "variant"]):
            ax.plot(g.position, g.gradient_norm, marker=".", color=_model_color(model),
                    linestyle=VARIANT_STYLES.get(variant, "-."), label=f"{model}, {variant}")
        ax.set(yscale="log", xlabel="layer (input -> output)", title=f"epoch {epoch}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    np.atleast_1d(axes)[0].set_ylabel("gradient norm of the kernel")
    return fig


def robustness_link(link: pd.DataFrame):
    """Eq. 14 against the final checkpoint's C, C/||g_D||^2 and beta-smoothness, one point per run."""
    columns = {"c": "gradient noise C (eq. 6)", "relative_c": r"$C / \|g_D\|^2$",
               "beta_smoothness": "effective beta-smoothness"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True, sharey=True)
    for ax, (column, label) in zip(axes, columns.items()):
        for row in link.itertuples():
            ax.errorbar(getattr(row, column), 100 * row.a_avr,
                        yerr=[[100 * (row.a_avr - row.a_avr_lo)], [100 * (row.a_avr_hi - row.a_avr)]],
                        fmt="o" if row.variant == "BN" else "s", color=_model_color(row.model), capsize=3,
                        label=_run_label(row))
        ax.set(xscale="log", xlabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("eq. 14, average normalised accuracy (%)")
    axes[0].legend(fontsize="x-small")
    return fig


def learning_rate_figure(table: pd.DataFrame):
    """Clean accuracy, accuracy under noise and eq. 14 vs learning rate (95% CIs), one line per
    model (and batch size); the sweet spot (best accuracy under noise) is starred."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    group_keys = [k for k in ("model", "variant", "batch_size") if k in table]
    for i, (key, g) in enumerate(table.groupby(group_keys)):
        color, label = f"C{i}", ", ".join(str(k) for k in key)
        axes[0].plot(g.learning_rate, 100 * g.clean_accuracy, "o-", color=color, label=label)
        for ax, col, lo, hi in ((axes[1], "noisy_accuracy", "noisy_lo", "noisy_hi"),
                                (axes[2], "a_avr", "a_avr_lo", "a_avr_hi")):
            ax.errorbar(g.learning_rate, 100 * g[col], yerr=[100 * (g[col] - g[lo]), 100 * (g[hi] - g[col])],
                        fmt="o-", color=color, capsize=3, label=label)
            untrained = g[~g.trained]
            ax.plot(untrained.learning_rate, 100 * untrained[col], "x", color="k", markersize=9)
        spot = g.loc[g.noisy_accuracy.idxmax()]
        axes[1].plot(spot.learning_rate, 100 * spot.noisy_accuracy, "*", color=color, markersize=16)
    titles = ("clean accuracy (%)", "accuracy under noise (%), mean over $\\eta > 0$", "eq. 14 (%)")
    for ax, title in zip(axes, titles):
        ax.set(xscale="log", xlabel="learning rate", title=title)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize="small")
    axes[2].annotate(f"x: did not train (clean < {TRAINED_MULTIPLE_OF_CHANCE}x chance)", (0.02, 0.02), xycoords="axes fraction", fontsize="small")
    return fig


def step_noise_figure(table: pd.DataFrame):
    """Eq. 14 (95% CI) against the per-step gradient noise lr^2 C / |B| of each trained run."""
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    if not table.trained.any():
        ax.text(0.5, 0.5, f"no run trained (clean accuracy < {TRAINED_MULTIPLE_OF_CHANCE}x chance)", ha="center", transform=ax.transAxes)
    for i, (model, g) in enumerate(table[table.trained].groupby("model")):
        ax.errorbar(g.step_noise_power, 100 * g.a_avr, yerr=[100 * (g.a_avr - g.a_avr_lo), 100 * (g.a_avr_hi - g.a_avr)],
                    fmt="o", color=f"C{i}", capsize=3, label=model)
        for r in g.itertuples():
            ax.annotate(f"{r.learning_rate:g}", (r.step_noise_power, 100 * r.a_avr), fontsize="x-small",
                        xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", xlabel=r"per-step gradient noise $\alpha^2 C / |B|$ (eq. 7)", ylabel="eq. 14 (%)")
    ax.grid(alpha=0.3, which="both")
    if table.trained.any():
        ax.legend(fontsize="small")
    return fig


TARGET_COLORS = {"kernels": "C0", "kernels+biases": "C1", "trainable": "C2", "all": "C3", "folded": "C4"}


def ablation_figure(noise: pd.DataFrame, eq14_table: pd.DataFrame, target_labels: dict[str, str]):
    """The noise-target ablation. Top: normalised accuracy (eq. 13) vs eta of every BN model,
    one line per noise target (95% CIs). Bottom: eq. 14 per model and variant, one bar per
    target. ``noise``: all targets' trials; ``eq14_table``: ``analysis.ablation_eq14(noise)``
    (rows in display order); ``target_labels``: target -> legend label, in display order."""
    pairs = list(dict.fromkeys(zip(eq14_table.model, eq14_table.variant)))
    bn_models = [m for m, v in pairs if v == "BN"]
    columns = max(len(bn_models), 1)
    fig = plt.figure(figsize=(max(3.2 * columns, 9), 8), constrained_layout=True)
    grid = fig.add_gridspec(2, columns)
    first = None
    for i, model in enumerate(bn_models):
        ax = fig.add_subplot(grid[0, i], sharey=first)
        first = first or ax
        rows = noise[(noise.model == model) & (noise.variant == "BN")]
        for target, label in target_labels.items():
            s = summarize_by_eta(rows[rows.targets == target])
            if s.empty:
                continue
            y = 100 * s.normalized_accuracy
            ax.errorbar(100 * s.eta, y, yerr=[y - 100 * s.normalized_lo, 100 * s.normalized_hi - y],
                        color=TARGET_COLORS.get(target, "C5"), marker="o", markersize=3, capsize=2,
                        label=label)
        ax.set(title=f"{model}, BN", xlabel="noise factor $\\eta$ (%)")
        ax.grid(alpha=0.3)
    if first is not None:
        first.set_ylabel("normalised accuracy (%), eq. 13")
        first.legend(fontsize="small", title="noise on")
    ax = fig.add_subplot(grid[1, :])
    targets = [t for t in target_labels if t in set(eq14_table.targets)]
    width = 0.8 / max(len(targets), 1)
    for j, target in enumerate(targets):
        rows = eq14_table[eq14_table.targets == target].set_index(["model", "variant"]).reindex(pairs)
        x = np.arange(len(pairs)) + (j - (len(targets) - 1) / 2) * width
        y = 100 * rows.a_avr
        ax.bar(x, y, width, yerr=[y - 100 * rows.a_avr_lo, 100 * rows.a_avr_hi - y], capsize=2,
               color=TARGET_COLORS.get(target, "C5"), label=target_labels[target])
    ax.set_xticks(np.arange(len(pairs)), [f"{m}\n{v}" for m, v in pairs], fontsize="small")
    ax.set(ylabel="average normalised accuracy (%), eq. 14", ylim=(0, 105),
           title="eq. 14 by noise target (error bars: 95% CI over noise draws)")
    ax.legend(fontsize="small", ncol=len(targets), loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    return fig


def training_curves(histories: pd.DataFrame):
    """Training accuracy and loss per epoch, one line per run: colour by model, line style by BN
    variant, one legend entry per (model, variant) however many training seeds it has;
    ``histories`` from ``analysis.load_histories`` (a ``run_id`` column separates the runs)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    runs = ["model", "variant", "run_id"] if "run_id" in histories else ["model", "variant"]
    labelled = set()
    for key, g in histories.groupby(runs, sort=False):
        model, variant = key[:2]
        label = f"{model}, {variant}"
        style = dict(color=_model_color(model), linestyle=VARIANT_STYLES.get(variant, "-."), marker="o",
                     markersize=3, label=None if label in labelled else label)
        labelled.add(label)
        g = g.sort_values("epoch")
        axes[0].plot(g.epoch, 100 * g.accuracy, **style)
        axes[1].plot(g.epoch, g.loss, **style)
    axes[0].set(xlabel="epoch", ylabel="training accuracy (%, augmented batches)", title="(a) accuracy")
    axes[1].set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="(b) loss", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize="small", ncol=2)
    return fig


def architecture_figure(table: pd.DataFrame):
    """Eq. 14 (95% CI) of every model against its depth, width and parameter count (log
    scales), one colour per family; ``table`` from ``analysis.architecture_table``."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharey=True, constrained_layout=True)
    families = list(dict.fromkeys(table.family))
    for ax, column, label in zip(axes, ("weight_layers", "final_channels", "parameters"),
                                 ("depth (weight layers)", "width (features into the classifier)",
                                  "parameters")):
        for i, family in enumerate(families):
            g = table[table.family == family]
            y = 100 * g.a_avr
            ax.errorbar(g[column], y, yerr=[y - 100 * g.a_avr_lo, 100 * g.a_avr_hi - y], fmt="o",
                        color=f"C{i}", capsize=3, label=family,
                        markerfacecolor=None if g.trained.all() else "none")
            for row in g.itertuples():
                ax.annotate(row.model, (getattr(row, column), 100 * row.a_avr), fontsize="x-small",
                            xytext=(4, 4), textcoords="offset points")
        ax.set(xscale="log", xlabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("average normalised accuracy (%), eq. 14")
    axes[0].legend(fontsize="small")
    fig.suptitle("Robustness to weight noise vs depth, width and size")
    return fig


PLACEMENT_MARKERS = {"none": "s", "first": "o", "all": "D", "last": "^", "spread": "v", "sites": "P"}


def bn_tradeoff_figure(table: pd.DataFrame):
    """Clean accuracy (x) against eq. 14 (y), both in %, one panel per model, one point per BN
    placement (:func:`analognoise.analysis.bn_count_table`) labelled with its number of BN sites
    K and marked by where the sites sit; 95% intervals both ways; the Pareto front joined;
    hollow markers: runs that did not train."""
    models = list(table.groupby(["dataset", "model"]).groups)
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.5), constrained_layout=True, squeeze=False)
    for ax, (dataset, model) in zip(axes[0], models):
        g = table[(table.dataset == dataset) & (table.model == model)]
        for where, part in g.groupby("where"):
            color = f"C{list(PLACEMENT_MARKERS).index(where)}"
            for run in part.itertuples():
                ax.errorbar(100 * run.clean_accuracy, 100 * run.a_avr,
                            xerr=[[100 * (run.clean_accuracy - run.clean_lo)], [100 * (run.clean_hi - run.clean_accuracy)]],
                            yerr=[[100 * (run.a_avr - run.a_avr_lo)], [100 * (run.a_avr_hi - run.a_avr)]],
                            marker=PLACEMENT_MARKERS[where], color=color, capsize=2, markersize=7,
                            markerfacecolor=color if run.trained else "white", linestyle="none")
                ax.annotate(f"{run.k}", (100 * run.clean_accuracy, 100 * run.a_avr), textcoords="offset points",
                            xytext=(5, 4), fontsize=8)
            ax.plot([], [], marker=PLACEMENT_MARKERS[where], color=color, linestyle="none", label=where)
        front = g[g.on_front].sort_values("clean_accuracy")
        ax.plot(100 * front.clean_accuracy, 100 * front.a_avr, color="grey", linestyle="--", alpha=0.7,
                label="Pareto front")
        ax.set(xlabel="clean accuracy (%)", ylabel="eq. 14 (%)", title=f"{model} ({dataset}): K = BN sites")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig
