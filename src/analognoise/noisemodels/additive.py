"""Gaussian weight noise whose scale is a fixed fraction eta of a statistic of the weights.

- :class:`AdditiveStd` (``paper``): w' = w + eta * std(W) * z, the paper's eq. 10-12;
- :class:`AdditiveMax` (``additive-max``): w' = w + eta * max|W| * z, the convention of IBM's
  aihwkit and Sandia's CrossSim (and Joshi et al. 2020), which map max|W| of a layer to the
  largest conductance and state noise relative to it. Since max|W| / std(W) is 4-20 for trained
  layers, eta here corresponds to a several times larger eta of the paper's convention
  (:func:`analognoise.noise.scale_ratios` gives the ratio per layer of a model);
- :class:`AdditiveRms` (``additive-rms``): w' = w + eta * rms(W) * z. For a zero-mean tensor
  (a kernel) it is the paper's noise; for one far from zero (BN's gamma, which starts at 1) it
  is eta times the values' typical size, where the paper's std(W) is a small fraction of it:
  the mechanism chapter's test of how much of a BN penalty is the paper's convention;
- :class:`Multiplicative` (``multiplicative``): w' = w * (1 + eta * z), i.e. sigma = eta |w|
  (CrossSim's "proportional" programming error, stated in weight units).

z is a standard normal draw per weight element; std and max|W| come from the reference
(the tensor, or the layer's pooled selected tensors). Units: eta is a fraction (0.1 = 10%).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import NoiseModel, Reference


@dataclass(frozen=True)
class _AdditiveRelative(NoiseModel):
    """sigma = eta * the reference statistic named by ``statistic`` (an attribute of Reference)."""

    statistic = "std"

    def perturb(self, clean, reference: Reference, level, rng: np.random.Generator):
        sigma = level * getattr(reference, self.statistic)
        return clean + sigma * rng.standard_normal(clean.shape, dtype=np.float32)


@dataclass(frozen=True)
class AdditiveStd(_AdditiveRelative):
    """The paper's noise: sigma = eta * std(W) (eq. 10-12)."""

    name = "paper"
    level_unit = "fraction of std(W)"
    statistic = "std"


@dataclass(frozen=True)
class AdditiveMax(_AdditiveRelative):
    """Additive noise relative to the largest weight: sigma = eta * max|W|."""

    name = "additive-max"
    level_unit = "fraction of max|W|"
    statistic = "max_abs"


@dataclass(frozen=True)
class AdditiveRms(_AdditiveRelative):
    """Additive noise relative to the tensor's root mean square: sigma = eta * rms(W)."""

    name = "additive-rms"
    level_unit = "fraction of rms(W)"
    statistic = "rms"


@dataclass(frozen=True)
class Multiplicative(NoiseModel):
    """Noise proportional to each weight's magnitude: sigma = eta * |w|."""

    name = "multiplicative"
    level_unit = "fraction of |w|"

    def perturb(self, clean, reference: Reference, level, rng: np.random.Generator):
        return clean * (1 + np.float32(level) * rng.standard_normal(clean.shape, dtype=np.float32))
