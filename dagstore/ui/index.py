"""The UI's view of a final version: its columnar state and a small derived index, both
memory-mapped, queried with numpy and pyarrow compute.

A version's state can hold millions of entries; the pages only ever need one page of them, a
few counts and one file's location. The state (``core.state``, cached by the store as a
memory-mapped Arrow file) gives the paths, sizes, hashes and annotations of the rows a page
shows; the derived index (``derive.py``: a facet cell and class codes per row, the size
order, content locations) is built once per version (a final version never changes) into
``<cache>/ui/index/<version id>.v3.arrow``. Big versions are indexed by a child process
(``python -m dagstore.ui.indexer``), so the server's peak memory stays that of a page.
Index files are evicted least recently used first beyond ``DAGSTORE_UI_INDEX_MB`` megabytes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagstore import DagstoreError, Dataset, IntegrityError, Store
from dagstore.core import columns as cols
from dagstore.core.manifest import annotation_object
from dagstore.core.cache.files import Guard

from .derive import INDEX_FORMAT, KIND_NAMES, SLICE, arrow, build, cell_count

IN_PROCESS_MAX_FILES = 50_000  # above this a child process builds the index
INDEX_MB_ENV = "DAGSTORE_UI_INDEX_MB"
DEFAULT_INDEX_MB = 1024  # index files kept on disk (a 1,000,000-file version's is ~56 MB)
OPEN_MAX = 8  # versions kept open (mapped) by one server
PAGE_SLICE = 1 << 16  # rows filtered at a time while a page is filled
GLOBS_KEPT = 4  # glob searches remembered per open version (one byte per file each)
SORTS = ("path", "-path", "size", "-size")


class BadInput(DagstoreError):
    """A search pattern or an index setting that cannot be used (a 400 page, a one-line error)."""


@dataclass(frozen=True)
class Filters:
    """What the table, the grid and the facets show: a path prefix or glob, a split, a class,
    annotated or not, a media kind. Empty fields do not filter."""

    q: str = ""
    split: str = ""
    label: str = ""
    annotated: str = ""  # "yes", "no" or ""
    kind: str = ""

    @classmethod
    def from_query(cls, params: Any) -> Filters:
        return cls(*(str(params.get(k) or "").strip()[:1000] for k in ("q", "split", "label", "annotated", "kind")))

    def items(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def is_glob(self) -> bool:
        return any(c in self.q for c in "*?[")


def glob_regex(pattern: str) -> str:
    """A glob (``*`` any text, ``/`` included; ``?`` one character; ``[a-z]``, ``[^…]`` a set;
    case-sensitive, as SQLite's GLOB) as an anchored RE2 expression."""
    out, i = ["(?s)^"], 0
    while i < len(pattern):
        c = pattern[i]
        end = pattern.find("]", i + 2 + (pattern[i + 1:i + 2] == "^")) if c == "[" else -1
        if c == "[" and end > 0:
            body = pattern[i + 1:end]
            neg = body.startswith("^")
            out.append("[" + "^" * neg + "".join(ch if ch == "-" else re.escape(ch) for ch in body[neg:]) + "]")
            i = end
        else:
            out.append({"*": ".*", "?": "."}.get(c) or re.escape(c))
        i += 1
    return "".join(out) + "$"


@dataclass(frozen=True)
class FileRow:
    """One file of a version as the pages show it."""

    id: int
    path: str
    size: int
    hash: str
    url: str | None
    src: str | None
    pack: str | None
    off: int | None
    len: int | None
    raw: int | None
    codec: int | None
    kind: str
    split: str | None
    annotated: int
    ann: str | None
    source: str  # the version whose manifest holds this entry

    def annotation(self) -> dict[str, Any]:
        """The annotation (``{}``: none); FormatError naming the manifest of ``source``."""
        return annotation_object(self.ann, self.path, lambda: f"manifest of version {self.source}", json.loads) if self.ann else {}

    @property
    def nregions(self) -> int:
        regions = self.annotation().get("regions")
        return len(regions) if isinstance(regions, list) else 0


@dataclass(frozen=True)
class Selection:
    """Rows ``lo`` to ``hi`` of a version, those of ``mask`` (over that range) when given."""

    lo: int
    hi: int
    mask: np.ndarray | None = None


class VersionIndex:
    """Queries over one version: its state and derived index (both read-only, thread-safe)."""

    def __init__(self, version_id: str, path: Path, state: Any):
        self.version_id = version_id
        self.path = path
        self.state = state
        self.guard = Guard(str(path), "UI index")  # sealed when built: a file changed since is built again
        if not self.guard.sealed:
            raise ValueError(f"index {path} was changed after it was written")
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        meta = json.loads((table.schema.metadata or {})[b"dagstore-ui"])
        if meta.get("format") != INDEX_FORMAT or meta.get("version") != version_id or table.num_rows != len(state):
            raise ValueError(f"index {path} does not belong to version {version_id}")
        self.meta: dict[str, Any] = meta
        self.n = table.num_rows
        self._cell = cols.numbers(table["cell"])
        self._order = cols.numbers(table["order"])
        lists = cols.one_array(table["labels"])
        self._offsets = cols.numbers(lists.offsets)
        self._codes = cols.numbers(lists.values)
        self._where = {c: cols.numbers(table[c]) for c in ("src", "pack", "off", "len", "raw", "codec")}
        self._paths = cols.one_array(state.table["path"])
        self.shape = (len(meta["splits"]) + 1, 2, len(KIND_NAMES))
        self.cubes = self.cube(Selection(0, self.n))
        self._globs: OrderedDict[str, np.ndarray] = OrderedDict()  # the last glob searches' rows
        self._lock = threading.Lock()
        self.guard.check()  # the totals above were counted from the file as written

    # -- selections --------------------------------------------------------------------------

    def select(self, f: Filters) -> Selection:
        """The rows of the path search ``f.q`` (a range for a prefix, a mask for a glob)."""
        q = f.q.lstrip("/")
        if not q:
            return Selection(0, self.n)
        if not f.is_glob():
            lo, hi = pc.search_sorted(self._paths, cols.strings([q, q + "\U0010ffff"])).to_pylist()
            return Selection(lo, hi)
        with self._lock:
            hit = self._globs.get(q)
        if hit is None:  # one scan of the paths per pattern: the facets and the page ask for it in turn
            try:
                hit = cols.bits(pc.match_substring_regex(self._paths, glob_regex(q)))
            except pa.ArrowInvalid as exc:
                raise BadInput(f"bad search pattern {f.q!r}: {str(exc).splitlines()[0]}") from None
            with self._lock:
                self._globs[q] = hit
                while len(self._globs) > GLOBS_KEPT:
                    self._globs.popitem(last=False)
        return Selection(0, self.n, hit)

    def axes(self, f: Filters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which splits, annotated values and kinds ``f`` keeps (each a boolean vector)."""
        split = np.ones(self.shape[0], dtype=bool)
        if f.split:
            split[:] = False
            names = self.meta["splits"]
            if f.split == "(none)":
                split[0] = True
            elif f.split in names:
                split[names.index(f.split) + 1] = True
        annotated = np.array([f.annotated != "yes", f.annotated != "no"])
        kind = np.array([not f.kind or f.kind == k for k in KIND_NAMES])
        return split, annotated, kind

    def label_code(self, f: Filters) -> int | None:
        """The class code ``f.label`` names (-1: a class no file has), None when not filtered."""
        if not f.label:
            return None
        names = self.meta["labels"]
        return names.index(f.label) if f.label in names else -1

    def mask(self, f: Filters, part: tuple[int, int] | None = None) -> Selection:
        """The rows ``f`` keeps (of rows ``part`` only, when given); ``mask`` None when every
        row of the range is kept."""
        sel = self.select(f)
        lo, hi = (max(part[0], sel.lo), min(part[1], sel.hi)) if part else (sel.lo, sel.hi)
        keep = None if sel.mask is None else sel.mask[lo - sel.lo:max(hi, lo) - sel.lo]
        split, annotated, kind = self.axes(f)
        if not (split.all() and annotated.all() and kind.all()):
            allowed = (split[:, None, None] & annotated[None, :, None] & kind[None, None, :]).ravel()
            hit = allowed[self._cell[lo:max(hi, lo)]]
            keep = hit if keep is None else keep & hit
        code = self.label_code(f)
        if code is not None:
            hit = np.zeros(max(hi - lo, 0), dtype=bool)
            a, b = self._offsets[lo], self._offsets[max(hi, lo)]
            at = np.flatnonzero(self._codes[a:b] == code) + a
            hit[np.searchsorted(self._offsets, at, side="right") - 1 - lo] = True
            keep = hit if keep is None else keep & hit
        return Selection(lo, max(hi, lo), keep)

    def cube(self, sel: Selection) -> tuple[np.ndarray, np.ndarray]:
        """File counts of the selection by (split, annotated, kind), and by (class, split,
        annotated, kind): what every facet and total is summed from (counted a slice at a time)."""
        ncell, nlab = cell_count(self.shape[0] - 1), len(self.meta["labels"])
        files = np.zeros(ncell, dtype=np.int64)
        labels = np.zeros(nlab * ncell, dtype=np.int64)
        for a in range(sel.lo, sel.hi, SLICE):
            b = min(a + SLICE, sel.hi)
            cells, lens = self._cell[a:b], np.diff(self._offsets[a:b + 1])
            codes = self._codes[self._offsets[a]:self._offsets[b]]
            if sel.mask is not None:
                keep = sel.mask[a - sel.lo:b - sel.lo]
                codes = codes[np.repeat(keep, lens)]
                cells, lens = cells[keep], lens[keep]
            files += np.bincount(cells, minlength=ncell)
            labels += np.bincount(codes.astype(np.int64) * ncell + np.repeat(cells, lens), minlength=nlab * ncell)
        self.guard.check()  # counted from the mapped file: never a count of a file changed meanwhile
        return files.reshape(self.shape), labels.reshape((nlab, *self.shape))

    # -- rows --------------------------------------------------------------------------------

    def rows(self, f: Filters, sort: str = "path", offset: int = 0, limit: int | None = None) -> np.ndarray:
        """The rows ``f`` keeps in the order of ``sort`` (path or size, ``-`` descending), from
        the ``offset``-th, at most ``limit`` of them."""
        desc = sort.startswith("-")
        if not sort.endswith("size") and limit is not None:
            return self._path_rows(f, desc, offset, limit)
        sel = self.mask(f)
        if sort.endswith("size"):
            out = self._order
            if sel.lo or sel.hi < self.n:
                out = out[(out >= sel.lo) & (out < sel.hi)]
            if sel.mask is not None:
                out = out[sel.mask[out - sel.lo]]
        else:
            out = np.arange(sel.lo, sel.hi) if sel.mask is None else np.flatnonzero(sel.mask) + sel.lo
        out = out[::-1] if desc else out
        self.guard.check()
        return out[offset:] if limit is None else out[offset:offset + limit]

    def _path_rows(self, f: Filters, desc: bool, offset: int, limit: int) -> np.ndarray:
        """A page in path order (row order): the selection is filtered a slice at a time from
        the start (or the end), until the page is complete."""
        sel = self.select(f)
        found: list[np.ndarray] = []
        need = offset + limit
        starts = range(sel.lo, sel.hi, PAGE_SLICE)
        for a in reversed(starts) if desc else starts:
            part = self.mask(f, (a, a + PAGE_SLICE))
            rows = np.arange(part.lo, part.hi) if part.mask is None else np.flatnonzero(part.mask) + part.lo
            found.append(rows[::-1] if desc else rows)
            need -= len(rows)
            if need <= 0:
                break
        out = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        self.guard.check()
        return out[offset:offset + limit]

    def page(self, f: Filters, sort: str = "path", offset: int = 0, limit: int = 50) -> list[FileRow]:
        return self.fetch(self.rows(f, sort, offset, limit))

    def paths(self, f: Filters) -> Iterator[str]:
        rows = self.rows(f)
        for start in range(0, len(rows), 65536):
            yield from self._paths.take(arrow(rows[start:start + 65536])).to_pylist()

    def get(self, path: str) -> FileRow | None:
        at = int(pc.search_sorted(self._paths, cols.strings([path]))[0].as_py())
        return self.fetch(np.array([at]))[0] if at < self.n and self._paths[at].as_py() == path else None

    def fetch(self, rows: np.ndarray) -> list[FileRow]:
        """The rows as ``FileRow``s (only these rows of the state are read)."""
        t = self.state.table.select(["path", "size", "hash", "url", "annotation", "split", "origin"]).take(arrow(rows.astype(np.int64)))
        out = [self._row(r, d, h) for r, d, h in zip(rows.tolist(), t.to_pylist(), cols.hashes_to_hex(t["hash"]))]
        self.guard.check()  # the rows' blob locations were read from the mapped file
        return out

    def _row(self, r: int, d: dict[str, Any], hash: str) -> FileRow:
        w = {c: int(v[r]) for c, v in self._where.items()}
        src = self.meta["srcs"][w["src"]] if w["src"] >= 0 else None
        pack = self.meta["packs"][w["pack"]] if src is not None and w["pack"] >= 0 else None
        off, length, raw, codec = (w["off"], w["len"], w["raw"], w["codec"]) if pack is not None else (None, None, None, None)
        row = FileRow(r, d["path"], d["size"], hash, d["url"], src, pack, off, length, raw, codec, KIND_NAMES[int(self._cell[r]) % len(KIND_NAMES)],
                      d["split"], int(d["annotation"] is not None), d["annotation"], self.state.origins[d["origin"]])
        row.annotation()  # a text that is no annotation is the page's error, not a row shown without it
        return row


class Indexes:
    """The open versions of one store, indexed on first use (one build per version at a time);
    index files beyond ``max_bytes`` are removed, least recently used first."""

    def __init__(self, store: Store, storage_options: dict[str, Any] | None = None, max_bytes: int | None = None):
        self.store = store
        self.storage_options = storage_options or {}
        self.root = Path(store.cache.root) / "ui" / "index"
        self.max_bytes = index_limit() if max_bytes is None else max_bytes
        self._open: OrderedDict[str, VersionIndex] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, ds: Dataset) -> VersionIndex:
        """The index of the final version ``ds`` (built now if missing)."""
        with self._lock:
            if ds.id in self._open and self._open[ds.id].guard.changed():  # changed in place: built again
                del self._open[ds.id]
            if ds.id in self._open:
                self._open.move_to_end(ds.id)
                return self._open[ds.id]
            lock = self._locks.setdefault(ds.id, threading.Lock())
        with lock:
            with self._lock:
                if ds.id in self._open:
                    return self._open[ds.id]
            idx = self._load(ds)
            with self._lock:
                self._open[ds.id] = idx
                while len(self._open) > OPEN_MAX:
                    self._open.popitem(last=False)
            return idx

    def _load(self, ds: Dataset) -> VersionIndex:
        target = self.root / f"{ds.id}.v{INDEX_FORMAT}.arrow"
        if target.exists():
            try:
                os.utime(target, ns=(time.time_ns(), target.stat().st_mtime_ns))  # recently used (its mtime is its seal)
                return VersionIndex(ds.id, target, self.store.state(ds.id))
            except (OSError, ValueError, KeyError, pa.ArrowException, IntegrityError):
                target.unlink(missing_ok=True)  # damaged or stale: built again
        self.root.mkdir(parents=True, exist_ok=True)
        if int(ds.record.stats.get("files", 0)) > IN_PROCESS_MAX_FILES:
            self._build_in_child(ds.id, target)
        else:
            build(self.store, ds.id, target)
        self.evict(keep=target)
        return VersionIndex(ds.id, target, self.store.state(ds.id))

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove index files, least recently used first, until they fit in ``max_bytes``
        (never ``keep``); files of other index formats are removed first. Returns the removed."""
        found = []
        for p in self.root.iterdir() if self.root.is_dir() else []:
            fresh = p.name.endswith(f".v{INDEX_FORMAT}.arrow")
            if fresh or p.name.endswith((".sqlite", ".arrow")):  # not the temp files of a build under way
                st = p.stat()
                found.append((fresh, st.st_atime_ns, p, st.st_size))
        total = sum(f[3] for f in found)
        removed = []
        for fresh, _atime, p, size in sorted(found):
            if total <= self.max_bytes and fresh or p == keep:
                continue
            p.unlink(missing_ok=True)
            total -= size
            removed.append(p)
        return removed

    def _build_in_child(self, version_id: str, target: Path) -> None:
        settings = {"url": self.store.url, "storage_options": self.storage_options, "cache_dir": str(self.store.cache.root),
                    "version_id": version_id, "target": str(target)}
        proc = subprocess.run([sys.executable, "-m", "dagstore.ui.indexer"], input=json.dumps(settings), text=True,
                              capture_output=True, timeout=3600)
        if proc.returncode != 0 or not target.exists():
            lines = (proc.stderr or "").strip().splitlines()
            raise IntegrityError(f"indexing version {version_id} failed: {lines[-1] if lines else proc.returncode}")


def index_limit() -> int:
    """The bytes of index files kept: ``DAGSTORE_UI_INDEX_MB`` megabytes (default 1024)."""
    raw = os.environ.get(INDEX_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_INDEX_MB << 20
    if not raw.isdigit():
        raise BadInput(f"{INDEX_MB_ENV} must be a whole number of megabytes, not {raw!r}")
    return int(raw) << 20
