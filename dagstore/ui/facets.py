"""Facet counts of a version under the current filter: split, class, annotated, kind.

The one place facets are computed (over the UI's SQLite index today; a columnar state with
its own facet API can take over here without touching the pages). Each facet is counted with
its own filter left out, so clicking a value narrows and the other values stay visible.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlite3

from .index import Filters, VersionIndex

MAX_VALUES = 100  # a facet lists at most this many values (the most frequent)


def _counts(db: sqlite3.Connection, f: Filters, column: str) -> list[tuple[str, int]]:
    where, args = f.where()
    if column == "label":
        sql = (f"SELECT label, count(*) FROM labels WHERE file IN (SELECT id FROM files WHERE {where}) "
               "GROUP BY label ORDER BY count(*) DESC, label LIMIT ?") if where != "1" else \
              "SELECT label, count(*) FROM labels GROUP BY label ORDER BY count(*) DESC, label LIMIT ?"
    else:
        sql = f"SELECT {column}, count(*) FROM files WHERE {where} GROUP BY {column} ORDER BY count(*) DESC LIMIT ?"
    rows = db.execute(sql, [*args, MAX_VALUES]).fetchall()
    if column == "annotated":
        return [("yes" if v else "no", int(n)) for v, n in rows]
    return [("(none)" if v is None else str(v), int(n)) for v, n in rows]


COLUMNS = ("split", "label", "annotated", "kind")


def unfiltered(db: sqlite3.Connection) -> dict[str, Any]:
    """The facets of the whole version (stored in the index when it is built)."""
    return {**{c: _counts(db, Filters(), c) for c in COLUMNS}, "total": db.execute("SELECT count(*) FROM files").fetchone()[0]}


def facets(idx: VersionIndex, f: Filters) -> dict[str, Any]:
    """``{"split": [(value, count)…], "label": …, "annotated": …, "kind": …, "total": n}``;
    a facet whose filter (its own left out) is empty comes from the index's stored counts."""
    whole = idx.meta.get("facets")
    out: dict[str, Any] = {}
    for c in COLUMNS:
        rest = replace(f, **{c: ""})
        out[c] = [tuple(x) for x in whole[c]] if whole and not rest.items() else _counts(idx.db(), rest, c)
    out["total"] = whole["total"] if whole and not f.items() else idx.count(f)
    return out
