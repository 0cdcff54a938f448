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
