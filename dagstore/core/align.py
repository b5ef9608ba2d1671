"""Aligning sorted path columns: which rows two versions share, and where a delta's rows go.

Both are linear in the rows compared, not n log n: two versions of a dataset share long runs
of paths, so each row's position in the other column is guessed from the nearest anchors
(one binary search per ``_ANCHOR`` rows) and checked by comparing the paths; only the rows
whose guess is wrong are searched one by one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as cols

_ANCHOR = 64  # rows between two binary searches
_SLICE = 1 << 20  # rows compared at a time (bounds the memory of paths gathered to compare)


def ints(a: np.ndarray, type: pa.DataType = pa.int64()) -> pa.Array:
    """A numpy integer array as Arrow, without ``pa.array`` (which imports pandas when installed)."""
    a = np.ascontiguousarray(a, dtype=type.to_pandas_dtype())
    return pa.Array.from_buffers(type, len(a), [None, pa.py_buffer(a)])


def bools(a: np.ndarray) -> pa.Array:
    """A numpy boolean array as an Arrow boolean array (bit-packed)."""
    return pa.Array.from_buffers(pa.bool_(), len(a), [None, pa.py_buffer(np.packbits(a, bitorder="little"))])


def _same(values: pa.Array, at: np.ndarray, needles: pa.Array) -> np.ndarray:
    """Whether ``values[at[i]] == needles[i]`` (an ``at`` outside ``values``: False)."""
    inside = (at >= 0) & (at < len(values))
    same = cols.bits(pc.equal(values.take(ints(np.clip(at, 0, len(values) - 1))), needles))
    return same & inside


def matches(values: pa.Array, needles: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(found, position) of each of the sorted, unique ``needles`` in the sorted, unique
    ``values``; a position means nothing where not found. Each row is first guessed at the
    offset of the anchor before it, then of the anchor after it; the rest are searched."""
    n, m = len(needles), len(values)
    found = np.zeros(n, dtype=bool)
    pos = np.zeros(n, dtype=np.int64)
    if not n or not m:
        return found, pos
    anchors = np.arange(0, n, _ANCHOR)
    shift = cols.numbers(pc.search_sorted(values, needles.take(ints(anchors)))).astype(np.int64) - anchors
    for start in range(0, n, _SLICE):
        stop = min(n, start + _SLICE)
        rows = np.arange(start, stop)
        block = rows // _ANCHOR
        guess = rows + shift[block]
        ok = _same(values, guess, needles.slice(start, stop - start))
        found[start:stop], pos[start:stop] = ok, guess
        for later in (shift[np.minimum(block + 1, len(shift) - 1)], None):  # the anchor after, then a search
            rest = rows[~found[start:stop]]
            if not len(rest):
                break
            wanted = needles.take(ints(rest))
            if later is None:
                guess = cols.numbers(pc.search_sorted(values, wanted)).astype(np.int64)
            else:
                guess = rest + later[rest - start]
            ok = _same(values, guess, wanted)
            found[rest[ok]], pos[rest[ok]] = True, guess[ok]
    return found, pos


def insertion(values: pa.Array, needles: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(found, position) of each sorted needle in sorted ``values``, where a needle not found
    gets the position it would be inserted at (a binary search each: needles are a delta)."""
    found = np.zeros(len(needles), dtype=bool)
    pos = np.zeros(len(needles), dtype=np.int64)
    for start in range(0, len(needles), _SLICE):
        part = needles.slice(start, _SLICE)
        at = cols.numbers(pc.search_sorted(values, part)).astype(np.int64)
        pos[start : start + len(part)] = at
        if len(values):
            found[start : start + len(part)] = _same(values, at, part)
    return found, pos


def overlay(base: pa.Array, top: pa.Array, drop_only: np.ndarray) -> np.ndarray | None:
    """The rows of ``base`` (sorted paths) with ``top``'s (sorted paths) put over them, as
    indices: ``i < len(base)`` is base row i, the others top row ``i - len(base)``. A top row
    replaces the base row of its path, or only removes it where ``drop_only``. None: no change."""
    hit, pos = insertion(base, top)
    dropped = np.zeros(len(base), dtype=bool)
    dropped[pos[hit]] = True
    adds = np.flatnonzero(~drop_only)
    if not len(adds) and not dropped.any():
        return None
    dropped_before = np.concatenate(([0], np.cumsum(dropped)))[pos[adds]]
    kept = np.flatnonzero(~dropped)
    total = len(kept) + len(adds)
    is_new = np.zeros(total, dtype=bool)
    is_new[pos[adds] - dropped_before + np.arange(len(adds))] = True
    order = np.empty(total, dtype=np.int64)
    order[~is_new] = kept
    order[is_new] = len(base) + adds
    return order


class Rows:
    """Rows taken lazily from two tables of the same schema: row i is ``base`` row
    ``order[i]`` when that is below ``len(base)``, else ``top`` row ``order[i] - len(base)``.
    A column is gathered when first asked for (a merge copies nothing it does not need)."""

    def __init__(self, base: pa.Table, top: pa.Table, order: np.ndarray):
        self.base, self.top, self.order = base, top.select(base.column_names).cast(base.schema), order
        self._whole: tuple[pa.Table | None, pa.Array | None] | None = None  # ``_plan`` of every row, made once

    def __len__(self) -> int:
        return len(self.order)

    def sub(self, which: slice | np.ndarray) -> Rows:
        """The rows ``order[which]`` (a slice or a boolean mask), still lazy."""
        return Rows(self.base, self.top, self.order[which])

    def column(self, name: str, rows: np.ndarray | None = None) -> pa.Array:
        """Column ``name`` of every row, or of the rows ``rows``: a take over the two columns as
        chunks, or over the one all rows come from (a take over chunks of text concatenates
        them first: a whole column's copy at its peak), or that column itself when the rows
        are all of it, in order (a first version's delta: nothing copied)."""
        if rows is None:
            if self._whole is None:
                self._whole = self._plan(self.order)
            source, take = self._whole
        else:
            source, take = self._plan(self.order[rows])
        if source is None:
            both = pa.chunked_array([cols.one_array(self.base[name]), cols.one_array(self.top[name])], self.base.schema.field(name).type)
            return cols.one_array(both.take(take))
        col = cols.one_array(source[name])
        return col if take is None else cols.one_array(col.take(take))

    def _plan(self, idx: np.ndarray) -> tuple[pa.Table | None, pa.Array | None]:
        """Where the rows ``idx`` come from: (the one input they all come from, the indices to
        take from it, None when they are all of it in order), or (None, the indices over both)."""
        nbase = len(self.base)
        if len(idx) and idx.min() >= nbase:
            source, local = self.top, idx - nbase
        elif len(idx) and idx.max() < nbase:
            source, local = self.base, idx
        else:
            return None, ints(idx)
        whole = len(local) == len(source) and local[0] == 0 and (len(local) < 2 or bool(np.all(np.diff(local) == 1)))
        return source, None if whole else ints(local)

    def table(self, rows: np.ndarray) -> pa.Table:
        """Every column of the rows ``rows``, as a table."""
        return pa.Table.from_arrays([self.column(name, rows) for name in self.base.column_names], schema=self.base.schema)
