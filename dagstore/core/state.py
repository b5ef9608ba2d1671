"""The state of a version held as columns: lookups, merges, diffs, prefixes, facets, filters.

A ``State`` is a read-only ``Mapping[str, Entry]`` over an Arrow table sorted by path (see
``core.columns``), so code that walks entries keeps working, while the operations that scale
with the version (merging a child's delta, diffs, listing a folder, split and class counts,
filters, selection checks) run on whole columns. Python ``Entry`` objects are made only
when a caller asks for them: after a few hundred point lookups, or when it walks the entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import IntegrityError
from . import columns as cols
from . import tree
from .cache.files import BLOB_MTIME_NS
from .manifest import Diff, Entry

_COMPARED = ["hash", "size", "url", "meta", "annotation"]  # what makes two entries differ (not origin)
_LOOKUPS_BEFORE_INDEX = 256
_MATCH_SLICE = 1 << 20  # needles searched at a time (bounds the memory of a diff of 10M paths)  # point lookups answered by binary search before entries are made


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _differ(a: Any, b: Any) -> np.ndarray:
    """Element-wise "not the same value" (two nulls are the same)."""
    return ~(cols.bits(pc.equal(a, b)) | (cols.bits(a.is_null()) & cols.bits(b.is_null())))


def _ints(a: np.ndarray, type: pa.DataType = pa.int64()) -> pa.Array:
    """A numpy integer array as Arrow, without ``pa.array`` (which imports pandas when installed)."""
    a = np.ascontiguousarray(a, dtype=type.to_pandas_dtype())
    return pa.Array.from_buffers(type, len(a), [None, pa.py_buffer(a)])


def _bools(a: np.ndarray) -> pa.Array:
    """A numpy boolean array as an Arrow boolean array (bit-packed)."""
    return pa.Array.from_buffers(pa.bool_(), len(a), [None, pa.py_buffer(np.packbits(a, bitorder="little"))])


class _Guard:
    """The identity of a memory-mapped cache file, held open: one ``fstat`` tells whether its
    bytes were changed in place (a rename or removal leaves the mapped inode as it was)."""

    def __init__(self, path: str):
        self.path = path
        self.fd = -1
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        self.sig = (st.st_size, st.st_mtime_ns)
        self.sealed = st.st_mtime_ns == BLOB_MTIME_NS

    def check(self) -> None:
        st = os.fstat(self.fd)
        if (st.st_size, st.st_mtime_ns) != self.sig:
            raise IntegrityError(f"cached state {self.path} was changed while in use; run the command again (it is rebuilt from the store)")

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)


class State(Mapping[str, Entry]):
    """The full content of a version: ``table`` (columns of ``core.columns.STATE``, sorted by
    path) and ``origins`` (the version ids its ``origin`` column indexes)."""

    def __init__(self, table: pa.Table | None = None, origins: Sequence[str] = (), guard: _Guard | None = None):
        self.table = cols.empty_state() if table is None else table
        self.origins = list(origins)
        self._guard = guard
        self._path = cols.one_array(self.table["path"])
        self._py: dict[str, Entry] | None = None
        self._lookups = 0

    # -- the Mapping protocol (Python objects on request) -----------------------------------------

    def __len__(self) -> int:
        return self.table.num_rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths())

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._row(path) is not None

    def __getitem__(self, path: str) -> Entry:
        if self._py is not None:
            return self._py[path]
        i = self._row(path) if isinstance(path, str) else None
        if i is None:
            raise KeyError(path)
        if self._py is not None:
            return self._py[path]
        return self._served(cols.row_entries(self.table.slice(i, 1), self.origins)[0])

    def _row(self, path: str) -> int | None:
        """The row of ``path`` (binary search); after many lookups, every entry is made once."""
        self._lookups += 1
        if self._lookups > _LOOKUPS_BEFORE_INDEX and self._py is None:
            self.as_dict()
        if self._py is not None:
            return 0 if path in self._py else None
        i = int(pc.search_sorted(self._path, cols.strings([path]))[0].as_py())
        return i if i < len(self._path) and self._path[i].as_py() == path else None

    def as_dict(self) -> dict[str, Entry]:
        """Every entry as a Python object (made once, then kept)."""
        if self._py is None:
            self._py = dict(zip(self.paths(), cols.row_entries(self.table, self.origins)))
        return self._served(self._py)

    def items(self) -> Any:
        return self.as_dict().items()

    def values(self) -> Any:
        return self.as_dict().values()

    def _served(self, value: Any) -> Any:
        """``value``, once the memory-mapped file it was read from is known to be unchanged."""
        if self._guard is not None:
            self._guard.check()
        return value

    # -- columns ------------------------------------------------------------------------------------

    def paths(self, prefix: str | None = None) -> list[str]:
        """Sorted paths, all or those under the folder ``prefix``."""
        return self._served(self._path.slice(*self._range(prefix)).to_pylist() if prefix else self._path.to_pylist())

    def _range(self, prefix: str | None) -> tuple[int, int]:
        """(offset, length) of the rows under folder ``prefix`` (rows are sorted by path)."""
        if not prefix:
            return 0, len(self._path)
        lo, hi = pc.search_sorted(self._path, cols.strings([prefix.rstrip("/") + "/", prefix.rstrip("/") + "0"])).to_pylist()
        return lo, hi - lo  # "0" follows "/" in byte order: [prefix/, prefix0) is the folder

    def under(self, prefix: str) -> State:
        """The entries under folder ``prefix`` (a slice: no copy)."""
        return State(self.table.slice(*self._range(prefix)), self.origins, self._guard)

    def total_size(self) -> int:
        return self._served(int(pc.sum(self.table["size"]).as_py() or 0))

    def origin_paths(self, version_id: str) -> list[str]:
        """Paths whose content version ``version_id`` introduced."""
        if version_id not in self.origins:
            return []
        mine = cols.numbers(self.table["origin"]) == self.origins.index(version_id)
        return self._served(self._path.filter(_bools(mine)).to_pylist())

    def contents(self) -> dict[str, tuple[str, int]]:
        """``{path: (hash, size)}`` of every entry ("" for a link's hash), straight from the
        columns (what an export view needs; no ``Entry`` is made)."""
        sizes = self.table["size"].to_pylist()
        return self._served(dict(zip(self.paths(), zip(cols.hashes_to_hex(self.table["hash"]), sizes))))

    def missing(self, paths: Iterable[str]) -> list[str]:
        """Which of ``paths`` this version does not have (a selection check, in one pass)."""
        wanted = cols.strings(sorted(set(paths)))
        if not len(wanted):
            return []
        found = pc.is_in(wanted, value_set=self._path)
        return self._served(wanted.filter(pc.invert(found)).to_pylist())

    def pick(self, paths: Iterable[str]) -> dict[str, Entry]:
        """The entries of those of ``paths`` this version has (one pass, no other entry made)."""
        wanted = cols.strings(sorted(set(paths)))
        found, pos = _matches(self._path, wanted)
        rows = self.table.take(_ints(pos[found]))
        return self._served(dict(zip(wanted.filter(_bools(found)).to_pylist(), cols.row_entries(rows, self.origins))))

    # -- facets and filters ------------------------------------------------------------------------

    def facets(self) -> dict[str, Any]:
        """Counts for browsing: files, annotated files, files per split, per class (item or
        region label) and per region type."""
        t = self.table

        def counts(arr: Any) -> dict[str, int]:
            vc = pc.value_counts(cols.one_array(arr))
            return {v: c for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()) if v is not None}

        return self._served({
            "files": t.num_rows,
            "annotated": t.num_rows - t["annotation"].null_count,
            "splits": dict(sorted(counts(t["split"]).items())),
            "classes": dict(sorted(counts(pc.list_flatten(t["classes"])).items())),
            "region_types": dict(sorted(counts(pc.list_flatten(t["region_types"])).items())),
        })

    def filter(self, split: str | Sequence[str] | None = None, label: str | Sequence[str] | None = None,
               region_type: str | Sequence[str] | None = None, prefix: str | None = None) -> State:
        """The entries in any of the splits ``split``, having any of the classes ``label`` and
        any of the region types ``region_type``, under folder ``prefix`` (None: no condition)."""
        part = self.under(prefix) if prefix else self
        if split is None and label is None and region_type is None:
            return part
        return State(part.table.filter(_bools(part._matching(split, label, region_type))), self.origins, self._guard)

    def filter_paths(self, split: str | Sequence[str] | None = None, label: str | Sequence[str] | None = None,
                     region_type: str | Sequence[str] | None = None, prefix: str | None = None) -> list[str]:
        """The sorted paths ``filter`` keeps (reads only the typed columns and the paths)."""
        part = self.under(prefix) if prefix else self
        return self._served(part._path.filter(_bools(part._matching(split, label, region_type))).to_pylist())

    def _matching(self, split: str | Sequence[str] | None, label: str | Sequence[str] | None,
                  region_type: str | Sequence[str] | None) -> np.ndarray:
        t = self.table
        keep = np.ones(t.num_rows, dtype=bool)
        if split is not None:
            keep &= cols.bits(pc.is_in(t["split"], value_set=cols.strings(_as_list(split))))
        for column, wanted in (("classes", label), ("region_types", region_type)):
            if wanted is not None:
                lists = cols.one_array(t[column])
                hit = cols.bits(pc.is_in(pc.list_flatten(lists), value_set=cols.strings(_as_list(wanted))))
                rows = np.zeros(t.num_rows, dtype=bool)
                rows[cols.numbers(pc.list_parent_indices(lists))[hit]] = True
                keep &= rows
        return keep

    # -- merges and diffs ----------------------------------------------------------------------

    def apply(self, delta: pa.Table, origin: str) -> State:
        """This state with a delta table applied (removals, then entries stamped ``origin``)."""
        origins = self.origins if origin in self.origins else [*self.origins, origin]
        removed = cols.bits(delta["removed"])
        top = delta.drop_columns(["removed"]).append_column(cols.ORIGIN, _ints(np.full(delta.num_rows, origins.index(origin)), pa.int32()))
        return self._served(State(_overlay(self.table, top, removed), origins))

    @classmethod
    def merge(cls, states: Iterable[State]) -> State:
        """Parent states merged in order: a later parent wins on the same path."""
        out: State | None = None
        for s in states:
            if out is None:
                out = s
                continue
            origins = out.origins + [o for o in s.origins if o not in out.origins]
            remap = _ints(np.array([origins.index(o) for o in s.origins]), pa.int32())
            top = s.table.set_column(s.table.schema.get_field_index("origin"), cols.ORIGIN, remap.take(s.table["origin"]))
            out = State(_overlay(out.table, top, np.zeros(top.num_rows, dtype=bool)), origins)
        return out if out is not None else cls()

    def diff(self, new: State) -> Diff:
        """What changed from this state to ``new``. A path whose entry both states got from the
        same version (same origin) is unchanged: only the others are compared, column by column."""
        if new is self:
            return Diff([], [], [])
        old_p, new_p = self._path, new._path
        hit, pos = _matches(old_p, new_p)
        seen = np.zeros(len(old_p), dtype=bool)
        seen[pos[hit]] = True
        both = np.flatnonzero(hit)
        mine = {o: i for i, o in enumerate(self.origins) if o}
        remap = np.array([mine.get(o, -1) for o in new.origins] or [-1], dtype=np.int64)
        theirs = remap[cols.numbers(new.table["origin"])[both]]
        both = both[theirs != cols.numbers(self.table["origin"])[pos[both]]]
        o = self.table.select(_COMPARED).take(_ints(pos[both]))
        n = new.table.select(_COMPARED).take(_ints(both))
        content = np.zeros(len(both), dtype=bool)
        for c in _COMPARED[:-1]:
            content |= _differ(o[c], n[c])
        ann = _differ(o["annotation"], n["annotation"])
        changed = new_p.take(_ints(both))
        return self._served(new._served(Diff(
            added=new_p.filter(_bools(~hit)).to_pylist(),
            removed=old_p.filter(_bools(~seen)).to_pylist(),
            modified=changed.filter(_bools(content | ann)).to_pylist(),
            annotation_only=changed.filter(_bools(ann & ~content)).to_pylist(),
        )))

    def tree_problem(self) -> str | None:
        """Why this state cannot be checked out as a folder tree (see ``core.tree``), or None."""
        long = cols.numbers(pc.binary_length(self._path)) > tree.MAX_COMPONENT
        if long.any():
            found = tree.length_problem(self._path.filter(_bools(long)).to_pylist())
            if found:
                return found
        folders = self.folders()
        both = folders - set(self.missing(folders))
        return tree.both_problem(min(both)) if both else None

    def folders(self) -> set[str]:
        """Every folder the paths need (``a/b/c`` needs ``a`` and ``a/b``)."""
        if not len(self._path):
            return set()
        folder, _name = cols.split_paths(self._path)
        return tree.folders(f"{d}/x" for d in folder.dictionary.to_pylist() if d)

    # -- the cache file ----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return cols.cache_bytes(self.table, self.origins)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "cached state") -> State:
        table, origins = cols.read_cached_state(data, what)
        return cls(table, origins)

    @classmethod
    def open(cls, path: str) -> State | None:
        """A cached state, memory-mapped (only the columns used are read), or None when the
        file is missing or was changed after it was written (its sealed mtime differs)."""
        try:
            guard = _Guard(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not guard.sealed:
            return None
        table, origins = cols.read_cached_state(pa.memory_map(path), f"cached state {path}")
        return cls(table, origins, guard)


def _matches(values: pa.Array, needles: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(found, position) of each sorted needle in sorted ``values``, a slice of needles at a
    time (the paths compared are gathered per slice, not for all of them at once)."""
    found = np.zeros(len(needles), dtype=bool)
    pos = np.zeros(len(needles), dtype=np.int64)
    for start in range(0, len(needles), _MATCH_SLICE):
        part = needles.slice(start, _MATCH_SLICE)
        at = cols.numbers(pc.search_sorted(values, part)).astype(np.int64)
        pos[start : start + len(part)] = at
        if len(values):
            same = cols.bits(pc.equal(values.take(_ints(np.minimum(at, len(values) - 1))), part))
            found[start : start + len(part)] = same & (at < len(values))
    return found, pos


def _overlay(base: pa.Table, top: pa.Table, drop_only: np.ndarray) -> pa.Table:
    """``base`` with ``top``'s rows put over it (both sorted by path, same columns): a top row
    replaces the base row of its path, or only removes it where ``drop_only``. One gather."""
    bp, tp = cols.one_array(base["path"]), cols.one_array(top["path"])
    hit, pos = _matches(bp, tp)
    dropped = np.zeros(len(bp), dtype=bool)
    dropped[pos[hit]] = True
    adds = np.flatnonzero(~drop_only)
    dropped_before = np.concatenate(([0], np.cumsum(dropped)))[pos[adds]]
    kept = np.flatnonzero(~dropped)
    total = len(kept) + len(adds)
    is_new = np.zeros(total, dtype=bool)
    is_new[pos[adds] - dropped_before + np.arange(len(adds))] = True
    order = np.empty(total, dtype=np.int64)
    order[~is_new] = kept
    order[is_new] = len(bp) + adds
    if not len(adds) and not dropped.any():
        return base
    top = top.select(base.column_names).cast(base.schema)
    index = _ints(order)  # column by column: a take over two chunks is several times slower
    gathered = [pa.concat_arrays([cols.one_array(base[c]), cols.one_array(top[c])]).take(index) for c in base.column_names]
    return pa.Table.from_arrays(gathered, schema=base.schema)
