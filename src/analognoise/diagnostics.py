"""What in a trained BN network amplifies weight noise: per-BN-site diagnostics, the dead-channel
rule, and the dead-channel surgery, on plain arrays (no Keras here; :func:`analognoise.models.bn_sites`
reads the arrays out of a model, :func:`analognoise.models.silence_dead_channels` writes the
surgery back).

The mechanism. In inference a BN channel c multiplies its conv output by the gain
``g_c = gamma_c / sqrt(var_c + eps)`` (``var_c``: its moving variance). Noise on the conv kernel,
sigma = eta x std(W) for the whole tensor (the paper's eq. 10-12), adds to channel c's output
a term of the same size in every channel of the layer, which BN then multiplies by ``g_c``: the
*kernel-noise gain* of a site is the mean of ``g_c^2`` over its channels (the variance factor).

A channel is **dead** when its conv output carries no signal: its kernel has decayed to (near)
zero, so its moving variance is far below BN's epsilon and its gain is set by epsilon, not by
the data (``g_c ~ gamma_c / sqrt(eps)``, about 30 x gamma_c for Keras's eps = 1e-3). The rule
(:data:`DEAD_VARIANCE_FRACTION`): ``var_c < 0.01 eps``; the channel's clean output then varies
by at most 10% of |gamma_c| around its mean beta_c (sqrt(0.01 / 1.01)), yet the kernel noise
it receives is as large as a live channel's, and is amplified by ~1/sqrt(eps). Such channels
appear with Adam and L2 on BN networks (Mehta et al., CVPR 2019, "On implicit filter level
sparsity in convolutional neural networks").

The surgery (:func:`silenced`) keeps a dead channel's clean output and removes its gain:
gamma -> 0, beta -> the channel's mean output, moving mean / variance -> 0 / 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: a channel is dead when its moving variance is below this fraction of the BN's epsilon
DEAD_VARIANCE_FRACTION = 0.01
#: a site's gammas are zero-centred when std(gamma) / rms(gamma) exceeds this (gamma started at
#: 0, e.g. ``zero_init_residual``; gammas that start at 1 end near 0.1-0.3): the paper's sigma,
#: eta x std(gamma), is then about eta times each gamma's own size
ZERO_CENTRED_STD_OVER_RMS = 0.5


@dataclass(frozen=True)
class BNSite:
    """One BN layer and the conv / dense kernel before it, as arrays.

    ``kernel``: (..., channels), output channels last (Keras layout); ``gamma``, ``beta``,
    ``mean``, ``variance``: (channels,); ``epsilon``: BN's epsilon; ``bias``: the conv's bias
    (channels,) or None."""

    name: str
    kernel: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    epsilon: float
    bias: np.ndarray | None = None

    def __post_init__(self):
        channels = self.kernel.shape[-1]
        for field in ("gamma", "beta", "mean", "variance"):
            if getattr(self, field).shape != (channels,):
                raise ValueError(f"BN site {self.name}: {field} has shape {getattr(self, field).shape}, "
                                 f"expected ({channels},) for a kernel of {channels} output channels")

    @property
    def gain(self) -> np.ndarray:
        """BN's inference gain per channel, gamma / sqrt(var + eps): (channels,)."""
        return self.gamma / np.sqrt(self.variance + self.epsilon)


def dead_channels(site: BNSite, fraction: float = DEAD_VARIANCE_FRACTION) -> np.ndarray:
    """bool (channels,): the site's dead channels, moving variance < ``fraction`` x epsilon."""
    if not fraction > 0:
        raise ValueError(f"fraction must be > 0 (a fraction of BN's epsilon), got {fraction!r}")
    return site.variance < fraction * site.epsilon


def site_table(sites: list[BNSite], fraction: float = DEAD_VARIANCE_FRACTION) -> pd.DataFrame:
    """One row per BN site, in forward order: ``site``, ``channels``, ``dead`` (count),
    ``dead_fraction``, gamma's ``gamma_mean`` / ``gamma_std`` / ``gamma_rms``, ``gamma_std_over_rms``
    (the paper's sigma on gamma, eta x std(gamma), relative to gamma's typical size, per unit of
    eta), ``kernel_noise_gain`` (mean of g^2 over channels: how much BN multiplies the variance
    of the kernel noise), ``dead_gain_share`` (the share of it that goes through dead channels),
    ``max_gain`` (max |g|), ``kernel_rms`` and ``dead_negative_beta`` (dead channels with beta < 0:
    their output after BN is a negative constant, so the ReLU after them passes amplified noise
    only where it exceeds |beta|)."""
    rows = []
    for site in sites:
        dead = dead_channels(site, fraction)
        gain2 = site.gain.astype(np.float64) ** 2
        rms = float(np.sqrt(np.mean(site.gamma.astype(np.float64) ** 2)))
        rows.append(dict(
            site=site.name, channels=len(site.gamma), dead=int(dead.sum()), dead_fraction=float(dead.mean()),
            gamma_mean=float(site.gamma.mean()), gamma_std=float(site.gamma.std()), gamma_rms=rms,
            gamma_std_over_rms=float(site.gamma.std()) / rms if rms > 0 else float("nan"),
            kernel_noise_gain=float(gain2.mean()),
            dead_gain_share=float(gain2[dead].sum() / gain2.sum()) if gain2.sum() > 0 else 0.0,
            max_gain=float(np.abs(site.gain).max()),
            kernel_rms=float(np.sqrt(np.mean(site.kernel.astype(np.float64) ** 2))),
            dead_negative_beta=int((dead & (site.beta < 0)).sum())))
    return pd.DataFrame(rows)


def model_summary(table: pd.DataFrame) -> dict:
    """A model's diagnostics from its :func:`site_table`: ``bn_sites``, ``bn_channels``,
    ``dead`` and ``dead_fraction`` (of every BN channel), ``sites_with_dead``,
    ``kernel_noise_gain`` (channel-weighted mean of g^2), ``dead_gain_share`` (of the summed g^2),
    ``gamma_std_over_rms`` (median over sites) and ``zero_centred_sites`` (sites whose std / rms
    exceeds :data:`ZERO_CENTRED_STD_OVER_RMS`) and ``dead_negative_beta``. A model without BN: zero
    sites, NaN gains."""
    if table.empty:
        return dict(bn_sites=0, bn_channels=0, dead=0, dead_fraction=0.0, sites_with_dead=0,
                    kernel_noise_gain=float("nan"), dead_gain_share=0.0, gamma_std_over_rms=float("nan"),
                    zero_centred_sites=0, dead_negative_beta=0)
    summed_gain = table.kernel_noise_gain * table.channels
    return dict(bn_sites=len(table), bn_channels=int(table.channels.sum()), dead=int(table.dead.sum()),
                dead_fraction=float(table.dead.sum() / table.channels.sum()),
                sites_with_dead=int((table.dead > 0).sum()),
                kernel_noise_gain=float(summed_gain.sum() / table.channels.sum()),
                dead_gain_share=float((summed_gain * table.dead_gain_share).sum() / summed_gain.sum()),
                gamma_std_over_rms=float(table.gamma_std_over_rms.median()),
                zero_centred_sites=int((table.gamma_std_over_rms > ZERO_CENTRED_STD_OVER_RMS).sum()),
                dead_negative_beta=int(table.dead_negative_beta.sum()) if "dead_negative_beta" in table else 0)


def silenced(site: BNSite, fraction: float = DEAD_VARIANCE_FRACTION) -> tuple[np.ndarray, ...]:
    """The dead-channel surgery of one site: new (gamma, beta, moving mean, moving variance),
    each (channels,). A dead channel gets gamma 0, beta its clean mean output (beta, since its
    moving mean is the mean of its conv output; at most 10% of |gamma| from any output it
    gives, by the rule) and moving mean / variance 0 / 1, so its output is that constant and no
    noise on its kernel or statistics is amplified; live channels are unchanged."""
    dead = dead_channels(site, fraction)
    return (np.where(dead, 0.0, site.gamma).astype(site.gamma.dtype), site.beta.copy(),
            np.where(dead, 0.0, site.mean).astype(site.mean.dtype),
            np.where(dead, 1.0, site.variance).astype(site.variance.dtype))


def fragility_report(table: pd.DataFrame, fraction: float = DEAD_VARIANCE_FRACTION) -> str:
    """A short Markdown report for a user's model from its :func:`site_table`: what in it will
    amplify weight noise, and which deployment avoids it."""
    if table.empty:
        return ("**No BN layers.** Nothing in this network rescales a layer's output by a learned "
                "per-channel gain, so the BN mechanisms below do not apply; its robustness is set by "
                "its kernels alone.")
    summary = model_summary(table)
    lines = [f"**{summary['bn_sites']} BN sites, {summary['bn_channels']} channels.**"]
    if summary["dead"]:
        worst = table.sort_values("dead_fraction", ascending=False).iloc[0]
        lines.append(
            f"- **Dead channels: {summary['dead']} of {summary['bn_channels']} "
            f"({100 * summary['dead_fraction']:.1f}%)** at {summary['sites_with_dead']} sites (most at "
            f"`{worst.site}`, {100 * worst.dead_fraction:.0f}%): moving variance below "
            f"{fraction:g} x epsilon, so BN multiplies the kernel noise they receive by up to "
            f"{table.max_gain.max():.0f}x. They carry {100 * summary['dead_gain_share']:.0f}% of the "
            "model's kernel-noise gain, and keeping BN digital does not help them (the noise is on "
            "the kernel). Silence them before deployment (gamma -> 0, beta -> their clean output; "
            "`analognoise.models.silence_dead_channels`; the clean output is kept), or fold BN into "
            "the kernels (a dead channel's folded kernel is ~0, and its noise is no longer amplified).")
    else:
        lines.append("- **No dead channels** (no moving variance below "
                     f"{fraction:g} x epsilon): BN amplifies no channel's kernel noise by epsilon alone.")
    if summary["zero_centred_sites"]:
        lines.append(
            f"- **Zero-centred gammas at {summary['zero_centred_sites']} of {summary['bn_sites']} sites** "
            f"(std / rms > {ZERO_CENTRED_STD_OVER_RMS:g}): noise with sigma = eta x std(gamma), the "
            "paper's convention, is there about eta times each gamma's own size, so noise on BN's "
            "scales will dominate. Keep BN digital, or fold it into the kernels.")
    else:
        lines.append(
            f"- Gammas are far from zero at every site (median std / rms {summary['gamma_std_over_rms']:.2f}): "
            "the paper's noise on them is a small fraction of their size.")
    lines.append("- Noise on BN's own parameters goes away when BN is kept digital; re-estimating BN's "
                 "statistics after programming recovers most of what kernel noise costs (the "
                 "Mitigations chapter).")
    return "\n".join(lines)
