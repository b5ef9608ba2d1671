"""The UI's per-version file index: one SQLite file per final version in the local cache.

A version's state can hold millions of entries; the pages only ever need one page of them, a
few counts and one file's location. The index is built once per version (a final version never
changes) into ``<cache>/ui/index/<version id>.sqlite`` and queried with ``LIMIT``/``OFFSET``, so
the server never holds a version's manifest in memory. Big versions are indexed by a child
process (``python -m dagstore.ui.indexer``), so the server's peak memory stays that of a page.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagstore import Dataset, Store
from dagstore._atomic import replace_file, temp_path

INDEX_FORMAT = 2  # in the file name: an index of another format is rebuilt
IN_PROCESS_MAX_FILES = 50_000  # above this a child process builds the index
KINDS = {
    "image": (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus"),
    "table": (".parquet", ".csv", ".tsv", ".jsonl"),
    "json": (".json",),
    "text": (".txt", ".md", ".log", ".xml", ".yaml", ".yml", ".conll", ".srt"),
}
SCHEMA = """
CREATE TABLE files(id INTEGER PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, hash TEXT NOT NULL,
  url TEXT, src TEXT, pack TEXT, off INTEGER, len INTEGER, raw INTEGER, codec INTEGER,
  kind TEXT NOT NULL, split TEXT, annotated INTEGER NOT NULL, nregions INTEGER NOT NULL, ann TEXT);
CREATE TABLE labels(file INTEGER NOT NULL, label TEXT NOT NULL);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
INDEXES = """
CREATE UNIQUE INDEX files_path ON files(path);
CREATE INDEX files_size ON files(size, id);
CREATE INDEX files_split ON files(split, id);
CREATE INDEX labels_by ON labels(label, file);
CREATE INDEX labels_of ON labels(file);
CREATE TABLE cube_files AS SELECT split, annotated, kind, count(*) AS n FROM files GROUP BY 1, 2, 3;
CREATE TABLE cube_labels AS SELECT l.label, f.split, f.annotated, f.kind, count(*) AS n
  FROM labels l JOIN files f ON f.id = l.file GROUP BY 1, 2, 3, 4;
"""


def kind_of(path: str, ann: dict[str, Any] | None) -> str:
    """image, audio, table, json, text or other: the annotation's media kind, else the extension."""
    media = (ann or {}).get("media")
    if isinstance(media, dict) and media.get("kind") in ("image", "audio", "text"):
        return str(media["kind"])
    low = path.lower()
    return next((k for k, exts in KINDS.items() if low.endswith(exts)), "other")


def labels_of(ann: dict[str, Any]) -> set[str]:
    """Item labels and region labels of an annotation."""
    out = {str(x) for x in ann.get("labels") or [] if isinstance(x, str)}
    for r in ann.get("regions") or []:
        if isinstance(r, dict) and isinstance(r.get("label"), str):
            out.add(r["label"])
    return out


def _locations(store: Store, version_id: str) -> dict[str, tuple[str, Any]]:
    """``{blob hash: (id of the version whose content holds it, pack location or None)}``."""
    out: dict[str, tuple[str, Any]] = {}
    for rec in store.chain(version_id):
        be = store.content_backend(rec)
        for h, loc in store.pack_index(be, rec.packs).items():
            out.setdefault(h, (rec.id, loc))
        for h in rec.objects:
            out.setdefault(h, (rec.id, None))
    return out


def _rows(ds: Dataset, store: Store) -> Iterator[tuple[tuple[Any, ...], set[str]]]:
    """(row of ``files``, its labels) in path order; annotations are streamed (a million
    decoded annotations would not fit beside the state)."""
    anns = ds.iter_annotations()  # path order, annotated files only
    pending = next(anns, None)
    locs = _locations(store, ds.id)
    files = ds.file_entries_dict
    links = ds.link_entries_dict
    for i, path in enumerate(sorted({*files, *links})):
        ann: dict[str, Any] | None = None
        if pending is not None and pending[0] == path:
            ann, pending = pending[1], next(anns, None)
        n = len(ann.get("regions") or []) if ann else 0
        split = ann.get("split") if ann else None
        text = json.dumps(ann, sort_keys=True, separators=(",", ":")) if ann else None
        tail = (kind_of(path, ann), split, int(bool(ann)), n, text)
        if path in links:
            ln = links[path]
            yield (i, path, ln.size, ln.hash, ln.link, None, None, None, None, None, None, *tail), labels_of(ann or {})
            continue
        fe = files[path]
        src, loc = locs.get(fe.hash, (None, None))
        pack = (loc.pack, loc.offset, loc.length, loc.raw_length, loc.codec) if loc is not None else (None,) * 5
        yield (i, path, fe.size, fe.hash, None, src, *pack, *tail), labels_of(ann or {})


def build(store: Store, version_id: str, target: Path) -> None:
    """Write the index of a final version to ``target`` (atomically: a temp file renamed)."""
    ds = Dataset.get(dataset_id=version_id, store=store)
    tmp = temp_path(target)
    db = sqlite3.connect(tmp)
    try:
        db.executescript(SCHEMA)
        rows: list[tuple[Any, ...]] = []
        labels: list[tuple[int, str]] = []
        for row, labs in _rows(ds, store):
            rows.append(row)
            labels.extend((row[0], lab) for lab in sorted(labs))
            if len(rows) >= 20_000:  # bounded batches
                _flush(db, rows, labels)
        _flush(db, rows, labels)
        db.executescript(INDEXES)
        meta = {"format": INDEX_FORMAT, "classes": ds.classes, "colors": ds.class_colors, "splits": ds.splits}
        db.executemany("INSERT INTO meta VALUES (?,?)", [(k, json.dumps(v)) for k, v in meta.items()])
        db.commit()
    except BaseException:
        db.close()
        tmp.unlink(missing_ok=True)
        raise
    db.close()
    replace_file(tmp, target)


def _flush(db: sqlite3.Connection, rows: list[tuple[Any, ...]], labels: list[tuple[int, str]]) -> None:
    db.executemany("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.executemany("INSERT INTO labels VALUES (?,?)", labels)
    rows.clear()
    labels.clear()


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

    def where(self) -> tuple[str, list[Any]]:
        """SQL condition on ``files`` (bound parameters only) and its arguments."""
        conds: list[str] = []
        args: list[Any] = []
        if self.q:
            if any(c in self.q for c in "*?["):
                conds.append("path GLOB ?")
                args.append(self.q.lstrip("/"))
            else:
                q = self.q.lstrip("/")
                conds.append("path >= ? AND path < ?")
                args += [q, q + "\U0010ffff"]
        if self.split:
            conds.append("split IS NULL" if self.split == "(none)" else "split = ?")
            args += [] if self.split == "(none)" else [self.split]
        if self.label:
            conds.append("id IN (SELECT file FROM labels WHERE label = ?)")
            args.append(self.label)
        if self.annotated in ("yes", "no"):
            conds.append("annotated = ?")
            args.append(1 if self.annotated == "yes" else 0)
        if self.kind:
            conds.append("kind = ?")
            args.append(self.kind)
        return (" AND ".join(conds) or "1"), args


SORTS = {"path": "id", "-path": "id DESC", "size": "size, id", "-size": "size DESC, id DESC"}
COLUMNS = "id, path, size, hash, url, src, pack, off, len, raw, codec, kind, split, annotated, nregions, ann"


@dataclass(frozen=True)
class FileRow:
    """One file of a version as the index holds it."""

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
    nregions: int
    ann: str | None

    def annotation(self) -> dict[str, Any]:
        return dict(json.loads(self.ann)) if self.ann else {}


class VersionIndex:
    """Queries over one version's index (a read-only SQLite connection per thread)."""

    def __init__(self, version_id: str, path: Path):
        self.version_id = version_id
        self.path = path
        self._local = threading.local()
        self.meta = {k: json.loads(v) for k, v in self.db().execute("SELECT key, value FROM meta")}

    def db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            conn.execute("PRAGMA cache_size=-16000")  # 16 MB of pages per thread
            self._local.conn = conn
        return conn

    def count(self, f: Filters = Filters()) -> int:
        where, args = f.where()
        return int(self.db().execute(f"SELECT count(*) FROM files WHERE {where}", args).fetchone()[0])

    def page(self, f: Filters, sort: str = "path", offset: int = 0, limit: int = 50) -> list[FileRow]:
        where, args = f.where()
        order = SORTS.get(sort, "id")
        sql = f"SELECT {COLUMNS} FROM files WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        return [FileRow(*r) for r in self.db().execute(sql, [*args, limit, offset])]

    def paths(self, f: Filters) -> Iterator[str]:
        where, args = f.where()
        for (p,) in self.db().execute(f"SELECT path FROM files WHERE {where} ORDER BY id", args):
            yield str(p)

    def get(self, path: str) -> FileRow | None:
        r = self.db().execute(f"SELECT {COLUMNS} FROM files WHERE path = ?", [path]).fetchone()
        return FileRow(*r) if r else None

    def existing(self, paths: Iterable[str]) -> set[str]:
        found: set[str] = set()
        db = self.db()
        for p in paths:
            if db.execute("SELECT 1 FROM files WHERE path = ?", [p]).fetchone():
                found.add(p)
        return found


class Indexes:
    """Open indexes of one store, built on first use (one build per version at a time)."""

    def __init__(self, store: Store, storage_options: dict[str, Any] | None = None):
        self.store = store
        self.storage_options = storage_options or {}
        self.root = Path(store.cache.root) / "ui" / "index"
        self._open: dict[str, VersionIndex] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, ds: Dataset) -> VersionIndex:
        """The index of the final version ``ds`` (built now if missing)."""
        with self._lock:
            if ds.id in self._open:
                return self._open[ds.id]
            lock = self._locks.setdefault(ds.id, threading.Lock())
        with lock:
            with self._lock:
                if ds.id in self._open:
                    return self._open[ds.id]
            target = self.root / f"{ds.id}.v{INDEX_FORMAT}.sqlite"
            if not target.exists():
                if int(ds.record.stats.get("files", 0)) > IN_PROCESS_MAX_FILES:
                    self._build_in_child(ds.id, target)
                else:
                    build(self.store, ds.id, target)
            idx = VersionIndex(ds.id, target)
            with self._lock:
                self._open[ds.id] = idx
            return idx

    def _build_in_child(self, version_id: str, target: Path) -> None:
        settings = {"url": self.store.url, "storage_options": self.storage_options, "cache_dir": str(self.store.cache.root),
                    "version_id": version_id, "target": str(target)}
        proc = subprocess.run([sys.executable, "-m", "dagstore.ui.indexer"], input=json.dumps(settings), text=True,
                              capture_output=True, timeout=3600)
        if proc.returncode != 0 or not target.exists():
            lines = (proc.stderr or "").strip().splitlines()
            raise RuntimeError(f"indexing version {version_id} failed: {lines[-1] if lines else proc.returncode}")
