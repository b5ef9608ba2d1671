"""Approximate distinct counts: a k-minimum-values sketch over 64-bit hashes of the values.

The hashes are computed vectorised, no value becoming a Python object: numbers by their bits,
dates, times and booleans by their integer storage, text and bytes by a polynomial hash of
their bytes (prefix sums over each chunk of the data buffer)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.arrays import bits, floats, numbers

K = 4096  # hashes kept; relative standard error about 1 / sqrt(K - 2), ~1.6 %
_R = 0xD6E8FEB86659FD93  # odd multiplier of the polynomial hash of bytes (invertible mod 2^64)
_CHUNK = 1 << 18  # bytes hashed at once (the cached powers of _R are 16 bytes a byte)
_POWERS: list[Any] = []  # [R^i, R^-i] mod 2^64 for i in 0.._CHUNK, built on first use


def _mix(x: Any) -> Any:
    """splitmix64 finaliser: well-spread 64-bit hashes of uint64 keys."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _powers(n: int) -> list[Any]:
    """R^i and R^-i mod 2^64 for i in 0..n at least (cached up to _CHUNK: one long value does
    not leave a large cache behind)."""
    if _POWERS and len(_POWERS[0]) > n:
        return _POWERS
    m = max(n, _CHUNK) + 1
    up = np.full(m, _R, dtype=np.uint64)
    down = np.full(m, pow(_R, -1, 1 << 64), dtype=np.uint64)
    up[0] = down[0] = 1
    powers = [np.cumprod(up), np.cumprod(down)]  # uint64 products wrap: mod 2^64
    if m == _CHUNK + 1:
        _POWERS[:] = powers
    return powers


def _poly(data: Any, rel: Any) -> Any:
    """sum(b_j * R^(j - start)) mod 2^64 of each value; ``rel`` holds their offsets in ``data``."""
    up, down = _powers(len(data))
    s = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * up[: len(data)], out=s[1:])
    return (s[rel[1:]] - s[rel[:-1]]) * down[rel[:-1]]


def _bytes_hashes(values: Any) -> Any:
    """Hashes of a string or binary array without nulls, from its offsets and data buffers."""
    t = values.type
    if not (pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t)):
        values = pc.cast(values, pa.large_binary())  # views, fixed-size binary
        t = values.type
    wide = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
    _, offsets, data = values.buffers()
    off = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)[values.offset: values.offset + len(values) + 1]
    off = off.astype(np.int64)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    out = np.empty(len(values), dtype=np.uint64)
    i = 0
    while i < len(values):  # chunks of about _CHUNK bytes, at least one value each
        j = max(i + 1, min(len(values), int(np.searchsorted(off, off[i] + _CHUNK, side="right")) - 1))
        out[i:j] = _poly(raw[off[i]:off[j]], off[i:j + 1] - off[i])
        i = j
    return out ^ (np.diff(off).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def hashes(values: Any) -> Any:
    """uint64 hashes of a pyarrow array's values (no nulls); equal values hash equal."""
    t = values.type
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        x = floats(values) + 0.0  # -0.0 -> 0.0
        return _mix(x.view(np.uint64))
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return _mix(numbers(values).view(np.uint64))
    if pa.types.is_boolean(t):
        return _mix(bits(values).astype(np.int64).view(np.uint64))
    if pa.types.is_integer(t):
        return _mix(numbers(values).astype(np.int64).view(np.uint64))
    if pa.types.is_temporal(t):  # timestamps, dates, times, durations: their integer storage
        ints = values.view(pa.int64() if t.bit_width == 64 else pa.int32())
        return _mix(numbers(ints).astype(np.int64).view(np.uint64))
    return _mix(_bytes_hashes(values))


class Distinct:
    """The K smallest distinct hashes seen; ``estimate()`` is exact below K distinct values."""

    def __init__(self) -> None:
        self.mins = np.empty(0, dtype=np.uint64)
        self.below: list[Any] = []  # hashes under the K-th smallest, merged once they are K
        self.below_n = 0

    def add(self, values: Any) -> None:
        h = hashes(values)
        if len(self.mins) >= K:
            h = h[h < self.mins[-1]]  # once full, almost every hash is above the K-th smallest
            self.below.append(h)
            self.below_n += len(h)
            if self.below_n < K:
                return
            h = np.concatenate(self.below)
            self.below, self.below_n = [], 0
        self.mins = np.unique(np.concatenate([self.mins, h]))[:K]

    def estimate(self) -> int:
        if self.below:
            self.mins = np.unique(np.concatenate([self.mins, *self.below]))[:K]
            self.below, self.below_n = [], 0
        if len(self.mins) < K:
            return len(self.mins)
        return round((K - 1) / (float(self.mins[-1]) / 2.0**64))
