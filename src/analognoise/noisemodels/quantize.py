"""n-bit symmetric uniform weight quantisation, the step before any noise model's noise.

A tensor with reference max|W| = m is quantised to the 2^(n-1) - 1 levels per sign of step
m / (2^(n-1) - 1): w_q = step * round(w / step), so max|W| maps exactly to the largest level and
0 stays 0 (a differential conductance pair programmed to equal values). ``bits=1`` is a sign
(binary) quantiser: w_q = m * sign(w).
"""
from __future__ import annotations

import numpy as np


def check_bits(bits) -> int:
    """``bits`` as an int in 1..16, else ValueError naming the setting."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"bits={bits!r}: give an integer number of bits in 1..16, or None for no quantisation")
    return int(bits)


def quantize(values: np.ndarray, max_abs: float, bits: int) -> np.ndarray:
    """``values`` (any shape) quantised to ``bits`` bits over [-max_abs, max_abs]; float32."""
    values = np.asarray(values, dtype=np.float32)
    if max_abs <= 0:
        return values.copy()
    if bits == 1:
        return (np.sign(values) * np.float32(max_abs)).astype(np.float32)
    step = np.float32(max_abs / (2 ** (check_bits(bits) - 1) - 1))
    return (np.round(np.clip(values, -max_abs, max_abs) / step) * step).astype(np.float32)
