"""Figures shared by the notebooks: accuracy and normalised accuracy (eq. 13) vs eta."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

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
