"""A phase-change-memory (PCM) device model after the published equations of IBM aihwkit's
``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019; Joshi et al., Nat. Commun. 2020).

Mapping. Each weight is a differential pair of conductances (µS): with w_max = max|W| of the
reference, g+ = g_max * max(w, 0) / w_max and g- = g_max * max(-w, 0) / w_max, and
w = (g+ - g-) * w_max / g_max when read back.

Programming noise (per device): g_prog = max(0, g_T + sigma_prog(g_T) * z), with
sigma_prog = (c0 + c1 (g_T/g_max) + c2 (g_T/g_max)^2) * g_max / 25 µS and
(c0, c1, c2) = (0.26348, 1.9650, -1.1731) µS, fitted at g_max = 25 µS.

Drift (per device, exponent drawn once per device): nu = |mu_nu + sigma_nu z|, with
mu_nu = clip(-0.0155 ln(g_T/g_max) + 0.0244, 0.049, 0.1) and
sigma_nu = clip(-0.0125 ln(g_T/g_max) - 0.0059, 0.008, 0.045); at t seconds after programming,
g_drift = g_prog * ((t + t0) / t0)^(-nu), t0 = 20 s.

Read (1/f) noise accumulated up to t: g(t) = max(0, g_drift + |g_drift| sigma_read z), with
sigma_read = Q_s sqrt(ln((t + t0 + t_read) / (2 t_read))), Q_s = min(0.2, 0.0088 /
max(1e-3, (g_prog/g_max)^0.65)) and t_read = 250 ns. At t = 0 only programming noise applies.

Global drift compensation (``compensation=True``; aihwkit's ``GlobalDriftCompensation`` with an
exact read-out): the layer's outputs are rescaled by alpha = mean|W_prog| / mean|W(t)|, the ratio
of the mean absolute weight read at programming and at t (what one-hot inputs read out of a
crossbar), i.e. the tensor is multiplied by alpha.

The level of a trial is t, the time since programming in seconds (1 s, 3600 s = 1 hour,
86,400 s = 1 day, 2.592e6 s = 30 days, 3.1536e7 s = 1 year). Every trial draws a new device
instance (programming noise, drift exponents and read noise), as aihwkit's ``apply_noise``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import NoiseModel, Reference

#: programming-noise polynomial (µS) of aihwkit's PCMLikeNoiseModel, fitted at g_max = 25 µS
PROGRAMMING_COEFFICIENTS = (0.26348, 1.9650, -1.1731)
COEFFICIENTS_G_MAX = 25.0
#: the times the chapter evaluates: 1 s, 1 hour, 1 day, 30 days, 1 year (seconds)
PCM_TIMES = (1.0, 3600.0, 86_400.0, 2_592_000.0, 31_536_000.0)


@dataclass(frozen=True)
class PCMLike(NoiseModel):
    """PCM device model; see the module docstring. Settings: ``g_max`` (µS), ``t0`` and
    ``t_read`` (s), scales of the programming, read and drift terms (1 = as measured), and
    ``compensation`` (global drift compensation)."""

    g_max: float = 25.0
    t0: float = 20.0
    t_read: float = 250e-9
    programming_scale: float = 1.0
    read_scale: float = 1.0
    drift_scale: float = 1.0
    compensation: bool = False

    name = "pcm"
    level_name = "time_s"
    level_unit = "s after programming"

    def __post_init__(self):
        super().__post_init__()
        for setting in ("g_max", "t0", "t_read"):
            if not getattr(self, setting) > 0:
                raise ValueError(f"pcm setting {setting} must be > 0, got {getattr(self, setting)!r}")
        for setting in ("programming_scale", "read_scale", "drift_scale"):
            if not getattr(self, setting) >= 0:
                raise ValueError(f"pcm setting {setting} must be >= 0 (1 = as measured), got {getattr(self, setting)!r}")

    def is_deterministic(self, level: float) -> bool:
        return self.programming_scale == 0 and (level == 0 or (self.read_scale == 0 and self.drift_scale == 0))

    def programming_sigma(self, g_target: np.ndarray) -> np.ndarray:
        """Programming noise std (µS) at target conductances ``g_target`` (µS), any shape."""
        relative = g_target / self.g_max
        c0, c1, c2 = PROGRAMMING_COEFFICIENTS
        return (c0 + c1 * relative + c2 * relative**2) * (self.g_max / COEFFICIENTS_G_MAX)

    def drift_exponents(self, g_target: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Drift exponents nu (dimensionless) at target conductances ``g_target`` (µS), from
        standard normal draws ``z`` of the same shape."""
        log_relative = np.log(np.maximum(g_target / self.g_max, 1e-7))
        mean = np.clip(-0.0155 * log_relative + 0.0244, 0.049, 0.1)
        spread = np.clip(-0.0125 * log_relative - 0.0059, 0.008, 0.045)
        return np.abs(mean + spread * z) * self.drift_scale

    def read_sigma(self, g_programmed: np.ndarray, t: float) -> np.ndarray:
        """Relative read-noise std (fraction of the drifted conductance) accumulated up to
        ``t`` seconds after programming, at programmed conductances ``g_programmed`` (µS)."""
        q_s = np.minimum(0.0088 / np.maximum((g_programmed / self.g_max) ** 0.65, 1e-3), 0.2)
        return q_s * np.sqrt(np.log((t + self.t0 + self.t_read) / (2 * self.t_read)))

    def conductances(self, g_target: np.ndarray, t: float, rng: np.random.Generator):
        """(programmed, at time t) conductances (µS) of devices with targets ``g_target``."""
        z = rng.standard_normal((3, *g_target.shape), dtype=np.float32)
        programmed = np.maximum(g_target + self.programming_scale * self.programming_sigma(g_target) * z[0], 0)
        if t == 0:
            return programmed, programmed
        nu = self.drift_exponents(g_target, z[1])
        drifted = programmed * ((t + self.t0) / self.t0) ** (-nu)
        read = drifted + np.abs(drifted) * (self.read_scale * self.read_sigma(programmed, t)) * z[2]
        return programmed, np.maximum(read, 0)

    def perturb(self, clean, reference: Reference, level, rng: np.random.Generator):
        if reference.max_abs <= 0:
            return clean.copy()
        to_conductance = self.g_max / reference.max_abs
        targets = np.stack([np.maximum(clean, 0), np.maximum(-clean, 0)]) * to_conductance
        programmed, now = self.conductances(targets.astype(np.float32), float(level), rng)
        weights = ((now[0] - now[1]) / to_conductance).astype(np.float32)
        if self.compensation and level > 0:
            at_programming = np.abs(programmed[0] - programmed[1]).mean() / to_conductance
            weights *= np.float32(at_programming / max(float(np.abs(weights).mean()), 1e-12))
        return weights
