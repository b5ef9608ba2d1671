"""Facet counts of a version under the current filter: split, class, annotated, kind.

The one place facets are computed (over the UI's SQLite index today; a columnar state with
its own facet API can take over here without touching the pages). Each facet is counted with
its own filter left out, so clicking a value narrows and the other values stay visible.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .index import Filters, VersionIndex

MAX_VALUES = 100  # a facet lists at most this many values (the most frequent)


def _counts(idx: VersionIndex, f: Filters, column: str) -> list[tuple[str, int]]:
    where, args = f.where()
    if column == "label":
        sql = (f"SELECT label, count(*) FROM labels WHERE file IN (SELECT id FROM files WHERE {where}) "
               "GROUP BY label ORDER BY count(*) DESC, label LIMIT ?") if where != "1" else \
              "SELECT label, count(*) FROM labels GROUP BY label ORDER BY count(*) DESC, label LIMIT ?"
    else:
        sql = f"SELECT {column}, count(*) FROM files WHERE {where} GROUP BY {column} ORDER BY count(*) DESC LIMIT ?"
    rows = idx.db().execute(sql, [*args, MAX_VALUES]).fetchall()
    if column == "annotated":
        return [("yes" if v else "no", int(n)) for v, n in rows]
    return [("(none)" if v is None else str(v), int(n)) for v, n in rows]


def facets(idx: VersionIndex, f: Filters) -> dict[str, Any]:
    """``{"split": [(value, count)…], "label": …, "annotated": …, "kind": …, "total": n}``."""
    out: dict[str, Any] = {
        "split": _counts(idx, replace(f, split=""), "split"),
        "label": _counts(idx, replace(f, label=""), "label"),
        "annotated": _counts(idx, replace(f, annotated=""), "annotated"),
        "kind": _counts(idx, replace(f, kind=""), "kind"),
    }
    out["total"] = idx.count(f)
    return out
