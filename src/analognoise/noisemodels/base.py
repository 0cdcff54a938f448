"""The interface every noise model implements, and the statistics that set a tensor's noise scale."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .quantize import check_bits, quantize


@dataclass(frozen=True)
class Reference:
    """Statistics of the clean weights that set one tensor's noise scale (weight units): those
    of the tensor itself, or pooled over the selected tensors of its layer.

    ``std``: standard deviation; ``max_abs``: largest magnitude (what a crossbar maps to its
    largest conductance); ``rms``: root mean square, sqrt(std^2 + mean^2) (the typical
    magnitude, also of a tensor whose values are far from zero, such as BN's gamma)."""

    std: float
    max_abs: float
    rms: float = float("nan")

    @classmethod
    def of(cls, values: np.ndarray) -> "Reference":
        if not values.size:
            return cls(float("nan"), 0.0, 0.0)  # no values: no spread to speak of
        return cls(float(values.std()), float(np.abs(values).max()),
                   float(np.sqrt(np.mean(np.square(values, dtype=np.float64)))))


@dataclass(frozen=True)
class NoiseModel:
    """A noise model. Subclasses are frozen dataclasses whose fields are their settings (each
    with a default), set ``name``, ``level_name``, ``level_unit`` and implement
    :meth:`perturb`. ``bits``: quantise the clean weights to this many bits first (None: no)."""

    bits: int | None = None

    name = "base"
    level_name = "eta"
    level_unit = "fraction"

    def __post_init__(self):
        if self.bits is not None:
            check_bits(self.bits)

    @classmethod
    def from_settings(cls, settings: dict) -> "NoiseModel":
        """The model with these settings; ValueError naming an unknown one and the valid ones."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(valid))
        if unknown:
            raise ValueError(f"noise model {cls.name!r} has no setting {', '.join(unknown)}: "
                             f"valid settings are {', '.join(valid)}")
        return cls(**settings)

    def settings(self) -> dict:
        """Every setting that differs from its default, plus ``name`` (a spec that rebuilds it)."""
        changed = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                   if getattr(self, f.name) != f.default}
        return {"name": self.name, **changed}

    def label(self) -> str:
        """Short, unique name for tables: the name and every non-default setting."""
        extra = [f"{k}={v}" for k, v in self.settings().items() if k != "name"]
        return self.name + (f" ({', '.join(extra)})" if extra else "")

    def check_levels(self, levels) -> list[float]:
        """Levels as sorted unique floats; ValueError for an empty list or a bad value."""
        if isinstance(levels, (int, float)):
            levels = [levels]
        levels = [float(x) for x in levels]
        if not levels:
            raise ValueError(f"etas is empty: give at least one {self.level_name} of the "
                             f"{self.name!r} noise model, e.g. [0, 0.1]")
        bad = [x for x in levels if not math.isfinite(x) or x < 0]
        if bad:
            raise ValueError(f"the {self.name!r} noise model's level ({self.level_name}, in "
                             f"{self.level_unit}) must be finite and >= 0, got {bad}")
        return sorted(set(levels))

    def noisy(self, clean: np.ndarray, reference: Reference, level: float,
              rng: np.random.Generator) -> np.ndarray:
        """The values one trial writes for a tensor: float32, ``clean``'s shape."""
        values = quantize(clean, reference.max_abs, self.bits) if self.bits else clean
        return self.perturb(values, reference, level, rng)

    def perturb(self, clean: np.ndarray, reference: Reference, level: float,
                rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def is_deterministic(self, level: float) -> bool:
        """Whether every trial at ``level`` writes the same values (then it is evaluated once)."""
        return level == 0

    def is_identity(self, level: float) -> bool:
        """Whether ``level`` leaves the weights clean (then the clean evaluation is reused)."""
        return self.is_deterministic(level) and self.bits is None
