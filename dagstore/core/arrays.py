"""Arrow arrays from Python or numpy values and back, built from buffers: ``pa.array``,
``combine_chunks()`` of no chunks and ``to_numpy`` of some types import pandas (0.15-0.3 s and
tens of MB per process), which the store's paths never need."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def one_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array (no copy when there is one chunk: a mapped file's pages stay unread)."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 0:
            return pa.nulls(0, arr.type)  # combine_chunks() of no chunks imports pandas
        return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr


def bits(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean array as numpy booleans, null as False (``to_numpy`` of a boolean
    array goes through pandas, whose import costs more than the whole operation)."""
    arr = one_array(arr)
    if not len(arr):
        return np.zeros(0, dtype=bool)

    def unpack(buf: pa.Buffer) -> np.ndarray:
        return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")[arr.offset : arr.offset + len(arr)].astype(bool)

    values = unpack(arr.buffers()[1])
    return values & unpack(arr.buffers()[0]) if arr.null_count else values


def strings(values: list[str]) -> pa.Array:
    """Python strings as an Arrow string array, built from buffers (see ``bits``)."""
    data = list(map(str.encode, values))  # map and fromiter: no Python step per value (W1's 50,000 paths: 12 -> 4 ms)
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, data), dtype=np.int64, count=len(data)), out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]).cast(pa.string())


def optional_strings(values: list[str | None]) -> pa.Array:
    """Python strings or None as an Arrow string array (None: null), built from buffers."""
    nulls = values.count(None)
    if nulls == len(values):
        return pa.nulls(len(values), pa.string())
    if not nulls:
        return strings(cast("list[str]", values))
    present = np.array([v is not None for v in values], dtype=bool)
    arr = strings([v if v is not None else "" for v in values])
    return pa.Array.from_buffers(pa.string(), len(values), [pa.py_buffer(np.packbits(present, bitorder="little")), *arr.buffers()[1:]])


def string_lists(values: Iterable[list[str]]) -> pa.Array:
    """Lists of Python strings as an Arrow list array, built from buffers."""
    lists = list(values)
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, lists), dtype=np.int32, count=len(lists)), out=offsets[1:])
    return pa.ListArray.from_arrays(from_numpy(offsets, pa.int32()), strings([s for x in lists for s in x]))


def optional_floats(values: Iterable[float | None]) -> pa.Array:
    """Python numbers or None as an Arrow float64 array (None: null), built from buffers."""
    vals = list(values)
    present = np.array([v is not None for v in vals], dtype=bool)
    data = np.array([v if v is not None else 0.0 for v in vals], dtype=np.float64)
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(pa.float64(), len(vals), [validity, pa.py_buffer(data)])


def from_numpy(values: Any, type: pa.DataType) -> pa.Array:
    """Python or numpy numbers or booleans as an Arrow array without nulls, built from buffers."""
    if pa.types.is_boolean(type):
        return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(np.packbits(np.asarray(values, dtype=bool), bitorder="little"))])
    a = np.ascontiguousarray(values, dtype=type.to_pandas_dtype())
    return pa.Array.from_buffers(type, len(a), [None, pa.py_buffer(a)])


def numbers(arr: pa.Array | pa.ChunkedArray, fill: float | None = None) -> np.ndarray:
    """An Arrow integer or floating-point array as numpy values (no pandas, see ``bits``): a
    view when it has no nulls; with nulls, a copy where they are ``fill`` (None: the values
    under nulls are whatever the buffer holds)."""
    arr = one_array(arr)
    dtype = np.dtype(arr.type.to_pandas_dtype())
    if not len(arr):
        return np.zeros(0, dtype=dtype)
    values = np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + len(arr)]
    if fill is None or not arr.null_count:
        return values
    return np.where(bits(arr.is_valid()), values, np.asarray(fill, dtype=dtype))


def floats(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Numbers (integers, floating point, decimals) as float64 numpy values, NaN for nulls."""
    return numbers(pc.cast(arr, pa.float64(), safe=False), np.nan)
