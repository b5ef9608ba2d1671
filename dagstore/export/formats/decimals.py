"""Decimal text of many floats at once, with the digits Python's formatting gives.

``%.Nf`` and ``round(v, N)`` round the exact binary value of ``v`` to N decimals, ties to even.
``scaled_rint`` rounds ``v * 10**N`` the same way: ``rint`` of the product wherever it is not
within rounding error of a midpoint, and near one the product's exact error (Dekker's
two-product; a scale of at most 14 significant bits needs no split) decides the side.
"""

from __future__ import annotations

import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitter for float64
LIMIT = float(1 << 32)  # |v * scale| below this: the product's rounding error is far below the tie test's 1e-6


def scaled_rint(v: np.ndarray, scale: float) -> np.ndarray:
    """``v * scale`` rounded to an integer (as float64) as Python rounds ``v`` to that many
    decimals: exactly, ties to even. ``scale``: 10**N with N <= 6; ``|v * scale|`` < ``LIMIT``."""
    p = v * scale
    k = np.rint(p)  # right wherever p is not within rounding error of a midpoint
    near = np.flatnonzero(np.abs(p - np.floor(p) - 0.5) < 1e-6)
    if len(near):  # Dekker: p + err is v * scale exactly
        x, q = v.flat[near], p.flat[near]
        a = x * _SPLIT
        hi = a - (a - x)
        err = (hi * scale - q) + (x - hi) * scale
        low = np.floor(q)
        s = (q - (low + 0.5)) + err  # the exact product against the midpoint: its sign is exact
        k.flat[near] = low + ((s > 0.0) | ((s == 0.0) & (low % 2.0 == 1.0)))
    return k


def digit_bytes(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers below 10 ** width."""
    return (ord("0") + values[:, None] // 10 ** np.arange(width - 1, -1, -1, dtype=np.int64) % 10).astype(np.uint8)
