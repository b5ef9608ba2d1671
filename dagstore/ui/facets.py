"""Facet counts of a version under the current filter: split, class, annotated, kind.

The one place facets are computed (over the UI's SQLite index today; a columnar state with
its own facet API can take over here without touching the pages). Each facet is counted with
its own filter left out, so clicking a value narrows and the other values stay visible.

The index stores two small cubes built once with it: file counts by (split, annotated, kind)
and file counts by (class, split, annotated, kind). Any filter on those four is answered
from them without reading the files; a path search (``q``) first selects its files into a
temporary table (one index range scan for a prefix, one scan for a glob).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from .index import Filters, VersionIndex

MAX_VALUES = 100  # a facet lists at most this many values (the most frequent)
COLUMNS = ("split", "label", "annotated", "kind")


def _conds(f: Filters, label_col: bool) -> tuple[str, list[Any]]:
    """Conditions of ``f`` but ``q`` on a cube or a selection (bound parameters only)."""
    conds: list[str] = []
    args: list[Any] = []
    if f.split:
        conds.append("split IS NULL" if f.split == "(none)" else "split = ?")
        args += [] if f.split == "(none)" else [f.split]
    if f.annotated in ("yes", "no"):
        conds.append("annotated = ?")
        args.append(1 if f.annotated == "yes" else 0)
    if f.kind:
        conds.append("kind = ?")
        args.append(f.kind)
    if f.label and label_col:
        conds.append("label = ?")
        args.append(f.label)
    return " AND ".join(conds) or "1", args


def _shape(column: str, rows: list[Any]) -> list[tuple[str, int]]:
    if column == "annotated":
        return [("yes" if v else "no", int(n)) for v, n in rows]
    return [("(none)" if v is None else str(v), int(n)) for v, n in rows]


def _joined(selection: str, small: bool) -> str:
    """The selection's files with their labels: a small selection looks its labels up by file
    (CROSS JOIN keeps that order in SQLite), a large one is matched while scanning the labels."""
    return f"(SELECT l.label, s.* FROM {selection} s {'CROSS JOIN' if small else 'JOIN'} labels l ON l.file = s.id)"


def _counts(db: sqlite3.Connection, f: Filters, column: str, selection: str | None, small: bool = True) -> list[tuple[str, int]]:
    """Counts of ``column`` under ``f`` (its ``q`` already applied by ``selection``, if any)."""
    if selection is None:  # from the cubes
        table = "cube_labels" if column == "label" or f.label else "cube_files"
        where, args = _conds(f, table == "cube_labels")
        sql = f"SELECT {column}, sum(n) FROM {table} WHERE {where} GROUP BY {column} ORDER BY sum(n) DESC, 1 LIMIT ?"
    elif column == "label" or f.label:
        where, args = _conds(f, True)
        sql = f"SELECT {column}, count(*) FROM {_joined(selection, small)} WHERE {where} GROUP BY {column} ORDER BY count(*) DESC, 1 LIMIT ?"
    else:
        where, args = _conds(f, False)
        sql = f"SELECT {column}, count(*) FROM {selection} WHERE {where} GROUP BY {column} ORDER BY count(*) DESC, 1 LIMIT ?"
    return _shape(column, db.execute(sql, [*args, MAX_VALUES]).fetchall())


def _total(db: sqlite3.Connection, f: Filters, selection: str | None, small: bool = True) -> int:
    if selection is None:
        table = "cube_labels" if f.label else "cube_files"
        where, args = _conds(f, bool(f.label))
        return int(db.execute(f"SELECT coalesce(sum(n), 0) FROM {table} WHERE {where}", args).fetchone()[0])
    where, args = _conds(f, bool(f.label))
    src = _joined(selection, small) if f.label else selection
    return int(db.execute(f"SELECT count(*) FROM {src} WHERE {where}", args).fetchone()[0])


def facets(idx: VersionIndex, f: Filters) -> dict[str, Any]:
    """``{"split": [(value, count)…], "label": …, "annotated": …, "kind": …, "total": n}``."""
    db = idx.db()
    selection = None
    small = True
    if f.q:
        where, args = Filters(q=f.q).where()
        db.execute("CREATE TEMP TABLE sel (id INTEGER PRIMARY KEY, split TEXT, annotated INTEGER, kind TEXT)")
        n = db.execute(f"INSERT INTO temp.sel SELECT id, split, annotated, kind FROM files WHERE {where}", args).rowcount
        small = n < 0.2 * db.execute("SELECT sum(n) FROM cube_files").fetchone()[0]
        selection = "temp.sel"
    try:
        out: dict[str, Any] = {c: _counts(db, replace(f, **{c: ""}), c, selection, small) for c in COLUMNS}
        out["total"] = _total(db, f, selection, small)
        return out
    finally:
        if selection:
            db.execute("DROP TABLE temp.sel")
