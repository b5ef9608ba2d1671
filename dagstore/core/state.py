"""The state of a version held as columns: lookups, merges, diffs, prefixes, facets, filters.

A ``State`` is a read-only ``Mapping[str, Entry]`` over an Arrow table sorted by path (see
``core.columns``), so code that walks entries keeps working, while the operations that scale
with the version (merging a child's delta, diffs, listing a folder, split and class counts,
filters, selection checks) run on whole columns. Python ``Entry`` objects are made only
when a caller asks for them: after a few hundred point lookups, or when it walks the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import align
from . import columns as cols
from . import pages, tree
from .counts import value_counts
from .cache.files import Guard
from .manifest import Diff, Entry

_COMPARED = ["hash", "size", "url", "meta", "annotation"]  # what makes two entries differ (not origin)
_LOOKUPS_BEFORE_INDEX = 256  # point lookups answered by binary search before entries are made
_SLICE = 1 << 20  # rows compared at a time (bounds the memory of a diff of 10M rows)
_ints, _bools = align.ints, align.bools


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _differ(a: Any, b: Any) -> np.ndarray:
    """Element-wise "not the same value" (two nulls are the same)."""
    return ~(cols.bits(pc.equal(a, b)) | (cols.bits(a.is_null()) & cols.bits(b.is_null())))


class State(Mapping[str, Entry]):
    """The full content of a version: ``table`` (columns of ``core.columns.STATE``, sorted by
    path) and ``origins`` (the version ids its ``origin`` column indexes). A state made by
    ``apply`` or ``merge`` gathers each column from its inputs when the column is first used."""

    def __init__(self, table: pa.Table | None = None, origins: Sequence[str] = (), guard: Guard | None = None):
        self._table: pa.Table | None = cols.empty_state() if table is None else table
        self._rows: align.Rows | None = None
        self.origins = list(origins)
        self._guards: tuple[Guard, ...] = (guard,) if guard is not None else ()
        self._cols: dict[str, pa.Array] = {}
        self._py: dict[str, Entry] | None = None
        self._lookups = 0
        self._mapped: tuple[int, int] | None = None  # the table is this mapping of the cached file (set by ``open``)

    @classmethod
    def _of(cls, rows: align.Rows | pa.Table, origins: Sequence[str], guards: tuple[Guard, ...]) -> State:
        """A state of a table, or whose columns are gathered from ``rows`` when first used."""
        st = cls(rows if isinstance(rows, pa.Table) else None, origins)
        if not isinstance(rows, pa.Table):
            st._table, st._rows = None, rows
        st._guards = guards
        return st

    @property
    def table(self) -> pa.Table:
        """Every column, as one table (gathered now if this state was merged lazily)."""
        if self._table is None:
            assert self._rows is not None
            schema = self._rows.base.schema
            self._table = self._served(pa.Table.from_arrays([self._col(n) for n in schema.names], schema=schema))
            self._rows = None
        return self._table

    def _col(self, name: str) -> pa.Array:
        """One column as one array (gathered once if lazy)."""
        if name not in self._cols:
            self._cols[name] = cols.one_array(self.table[name]) if self._rows is None else self._rows.column(name)
        return self._cols[name]

    @property
    def _path(self) -> pa.Array:
        return self._col("path")

    def column(self, name: str) -> pa.Array:
        """One column of ``core.columns.STATE`` as one array (a mapped file's pages read when used)."""
        return self._served(self._col(name))

    def _take(self, rows: np.ndarray) -> pa.Table:
        """The rows ``rows``, as a table."""
        return self._rows.table(rows) if self._rows is not None else self.table.take(_ints(rows))

    def _take_col(self, name: str, rows: np.ndarray) -> pa.Array:
        """Column ``name`` of the rows ``rows`` (only their pages of a mapped file are read)."""
        return self._rows.column(name, rows) if self._rows is not None else self._col(name).take(_ints(rows))

    def _part(self, which: slice | np.ndarray) -> State:
        """The rows ``which`` (a slice or a boolean mask) as a state."""
        if self._rows is not None:
            return State._of(self._rows.sub(which), self.origins, self._guards)
        part = self.table.slice(which.start, which.stop - which.start) if isinstance(which, slice) else self.table.filter(_bools(which))
        return State._of(part, self.origins, self._guards)

    # -- the Mapping protocol (Python objects on request) -----------------------------------------

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else self.table.num_rows

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
        return self._served(cols.row_entries(self._take(np.array([i])), self.origins)[0])

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
        """``value``, once the memory-mapped files it was read from are known to be unchanged."""
        for guard in self._guards:
            guard.check()
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

    def batches(self, rows: int) -> Iterator[pa.Table]:
        """The table in slices of ``rows`` rows, for streaming it. A memory-mapped file is
        checked unchanged before each slice and after the last, and the pages read are given
        back after each slice (``core.pages``: the peak RSS of a pass does not grow with it)."""
        spans = [self._mapped] if self._mapped is not None else []
        for start in range(0, self.table.num_rows, rows):
            yield self._served(self.table.slice(start, rows))
            pages.release(spans)
        self._served(None)

    def under(self, prefix: str) -> State:
        """The entries under folder ``prefix`` (a slice: no copy)."""
        lo, n = self._range(prefix)
        return self._part(slice(lo, lo + n))

    def total_size(self) -> int:
        return self._served(int(pc.sum(self._col("size")).as_py() or 0))

    def origin_paths(self, version_id: str) -> list[str]:
        """Paths whose content version ``version_id`` introduced."""
        if version_id not in self.origins:
            return []
        mine = cols.numbers(self._col("origin")) == self.origins.index(version_id)
        return self._served(self._path.filter(_bools(mine)).to_pylist())

    def contents(self) -> dict[str, tuple[str, int]]:
        """``{path: (hash, size)}`` of every entry ("" for a link's hash), straight from the
        columns (what an export view needs; no ``Entry`` is made)."""
        sizes = self._col("size").to_pylist()
        return self._served(dict(zip(self.paths(), zip(cols.hashes_to_hex(self._col("hash")), sizes))))

    def missing(self, paths: Iterable[str]) -> list[str]:
        """Which of ``paths`` this version does not have (a selection check, in one pass)."""
        wanted = cols.strings(sorted(set(paths)))
        if not len(wanted):
            return []
        found = pc.is_in(wanted, value_set=self._path)
        return self._served(wanted.filter(pc.invert(found)).to_pylist())

    def pick(self, paths: Iterable[str]) -> dict[str, Entry]:
        """The entries of those of ``paths`` this version has (one pass, no other entry made)."""
        if not len(self):  # a first version's parents: nothing to look up (W1: 50,000 paths)
            return {}
        wanted = cols.strings(sorted(set(paths)))
        found, pos = align.insertion(self._path, wanted)
        rows = self._take(pos[found])
        return self._served(dict(zip(wanted.filter(_bools(found)).to_pylist(), cols.row_entries(rows, self.origins))))

    # -- facets and filters ------------------------------------------------------------------------

    def facets(self) -> dict[str, Any]:
        """Counts for browsing: files, annotated files, files per split, per class (item or
        region label) and per region type."""
        splits, classes, types = value_counts([self._col("split"), pc.list_flatten(self._col("classes")),
                                                pc.list_flatten(self._col("region_types"))])
        return self._served({
            "files": len(self),
            "annotated": len(self) - self._col("annotation").null_count,
            "splits": splits,
            "classes": classes,
            "region_types": types,
        })

    def filter(self, split: str | Sequence[str] | None = None, label: str | Sequence[str] | None = None,
               region_type: str | Sequence[str] | None = None, prefix: str | None = None) -> State:
        """The entries in any of the splits ``split``, having any of the classes ``label`` and
        any of the region types ``region_type``, under folder ``prefix`` (None: no condition)."""
        part = self.under(prefix) if prefix else self
        if split is None and label is None and region_type is None:
            return part
        return part._part(part._matching(split, label, region_type))

    def filter_paths(self, split: str | Sequence[str] | None = None, label: str | Sequence[str] | None = None,
                     region_type: str | Sequence[str] | None = None, prefix: str | None = None) -> list[str]:
        """The sorted paths ``filter`` keeps (reads only the typed columns and the paths)."""
        part = self.under(prefix) if prefix else self
        return self._served(part._path.filter(_bools(part._matching(split, label, region_type))).to_pylist())

    def _matching(self, split: str | Sequence[str] | None, label: str | Sequence[str] | None,
                  region_type: str | Sequence[str] | None) -> np.ndarray:
        keep = np.ones(len(self), dtype=bool)
        if split is not None:
            keep &= cols.bits(pc.is_in(self._col("split"), value_set=cols.strings(_as_list(split))))
        for column, wanted in (("classes", label), ("region_types", region_type)):
            if wanted is not None:
                lists = self._col(column)
                hit = cols.bits(pc.is_in(pc.list_flatten(lists), value_set=cols.strings(_as_list(wanted))))
                rows = np.zeros(len(self), dtype=bool)
                rows[cols.numbers(pc.list_parent_indices(lists))[hit]] = True
                keep &= rows
        return keep

    # -- merges and diffs ----------------------------------------------------------------------

    def apply(self, delta: pa.Table, origin: str) -> State:
        """This state with a delta table applied (removals, then entries stamped ``origin``)."""
        origins = self.origins if origin in self.origins else [*self.origins, origin]
        removed = cols.bits(delta["removed"])
        top = delta.drop_columns(["removed"]).append_column(cols.ORIGIN, _ints(np.full(delta.num_rows, origins.index(origin)), pa.int32()))
        return self._served(self._overlay(top, removed, origins, self._guards))

    def _overlay(self, top: pa.Table, drop_only: np.ndarray, origins: list[str], guards: tuple[Guard, ...]) -> State:
        """This state with ``top``'s rows (sorted, state columns) put over it: a top row
        replaces the row of its path, or only removes it where ``drop_only``. Lazy: no column
        is gathered until it is used."""
        order = align.overlay(self._path, cols.one_array(top["path"]), drop_only)
        if order is None:
            return State._of(self._rows if self._rows is not None else self.table, origins, guards)
        return State._of(align.Rows(self.table, top, order), origins, guards)

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
            out = out._overlay(top, np.zeros(top.num_rows, dtype=bool), origins, tuple(dict.fromkeys((*out._guards, *s._guards))))
        return out if out is not None else cls()

    def diff(self, new: State) -> Diff:
        """What changed from this state to ``new``. Rows are paired by a merge-join of the two
        sorted path columns; a path whose entry both states got from the same version (same
        origin) is unchanged: only the others are compared, column by column."""
        if new is self:
            return Diff([], [], [])
        old_p, new_p = self._path, new._path
        hit, pos = align.matches(old_p, new_p)
        seen = np.zeros(len(old_p), dtype=bool)
        seen[pos[hit]] = True
        mine = {o: i for i, o in enumerate(self.origins) if o}
        remap = np.array([mine.get(o, -1) for o in new.origins] or [-1], dtype=np.int32)
        old_origin, new_origin = cols.numbers(self._col("origin")), cols.numbers(new._col("origin"))
        both = np.concatenate([np.zeros(0, dtype=np.int64)] + [  # rows of both, not from the same version (a slice at a time)
            rows[remap[new_origin[rows]] != old_origin[pos[rows]]]
            for rows in (start + np.flatnonzero(hit[start : start + _SLICE]) for start in range(0, len(new_p), _SLICE))])
        content = np.zeros(len(both), dtype=bool)
        for c in _COMPARED[:-1]:  # each column only where the ones before are equal (few pages of a mapped file read)
            rows = np.flatnonzero(~content)
            content[rows] |= _differ(self._take_col(c, pos[both[rows]]), new._take_col(c, both[rows]))
        ann = np.zeros(len(both), dtype=bool)
        rows = np.flatnonzero(~content)  # annotations matter only where the content is the same
        ann[rows] = _differ(self._take_col("annotation", pos[both[rows]]), new._take_col("annotation", both[rows]))
        changed = new_p.take(_ints(both))
        return self._served(new._served(Diff(
            added=new_p.filter(_bools(~hit)).to_pylist(),
            removed=old_p.filter(_bools(~seen)).to_pylist(),
            modified=changed.filter(_bools(content | ann)).to_pylist(),
            annotation_only=changed.filter(_bools(ann)).to_pylist(),
        )))

    def tree_problem(self) -> str | None:
        """Why this state cannot be checked out as a folder tree (see ``core.tree``), or None."""
        long = cols.numbers(pc.binary_length(self._path)) > tree.MAX_COMPONENT
        if long.any():
            found = tree.length_problem(self._path.filter(_bools(long)).to_pylist())
            if found:
                return found
        folders = cols.strings(sorted(self.folders()))
        hit, _pos = align.insertion(self._path, folders)  # binary searches: no hash table of every path
        return tree.both_problem(folders.filter(_bools(hit))[0].as_py()) if hit.any() else None

    def folders(self) -> set[str]:
        """Every folder the paths need (``a/b/c`` needs ``a`` and ``a/b``): each path's parent by
        one split at its last "/" (W1: 3 ms, a regex 8.5), then the distinct ones (a few MB for
        50,000 paths, where ``columns.split_paths``' two columns and their dictionary took 11)."""
        if not len(self._path):
            return set()
        parts = pc.split_pattern(self._path, "/", max_splits=1, reverse=True)  # [parent, name] or [name]
        starts = cols.numbers(parts.offsets)
        nested = np.flatnonzero(np.diff(starts) == 2)
        parents = pc.unique(parts.values.take(_ints(starts[nested])))
        return tree.folders(f"{d}/x" for d in parents.to_pylist() if d)

    # -- the cache file ----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return bytes(cols.cache_buffer(self.table, self.origins).to_pybytes())

    def write(self, path: str) -> None:
        """Write the cache file (``to_bytes``' bytes) at ``path``, never whole in memory."""
        cols.write_cache_state(path, self.table, self.origins)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "cached state") -> State:
        table, origins = cols.read_cached_state(data, what)
        return cls(table, origins)

    @classmethod
    def open(cls, path: str) -> State | None:
        """A cached state, memory-mapped (only the columns used are read), or None when the
        file is missing or was changed after it was written (its sealed mtime differs)."""
        try:
            guard = Guard(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not guard.sealed:
            return None
        mapped = pa.memory_map(path)
        span = pages.mapped_span(mapped)
        # the checks read a few bytes at each column's ends, and a read maps the whole folio around
        # them (2 MB of a freshly written file): released after each column, they do not add up
        table, origins = cols.read_cached_state(mapped, f"cached state {path}", lambda: pages.release([span]))
        state = cls(table, origins, guard)
        state._mapped = span
        return state

