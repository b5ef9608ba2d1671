"""The difference between two versions, computed by SQL over their two indexes (never both
states in memory): added, removed, modified and annotation-only paths, one page at a time,
and the class-count and split deltas."""

from __future__ import annotations

import sqlite3
from typing import Any

from .index import VersionIndex

KINDS = {
    "added": "SELECT n.path FROM files n WHERE NOT EXISTS (SELECT 1 FROM o.files x WHERE x.path = n.path)",
    "removed": "SELECT x.path FROM o.files x WHERE NOT EXISTS (SELECT 1 FROM files n WHERE n.path = x.path)",
    "modified": "SELECT n.path FROM files n JOIN o.files x ON x.path = n.path "
                "WHERE n.hash != x.hash OR n.size != x.size OR n.url IS NOT x.url OR n.ann IS NOT x.ann",
    "annotation_only": "SELECT n.path FROM files n JOIN o.files x ON x.path = n.path "
                       "WHERE n.hash = x.hash AND n.size = x.size AND n.url IS x.url AND n.ann IS NOT x.ann",
}


def _deltas(new: VersionIndex, old: VersionIndex, sql: str) -> list[dict[str, Any]]:
    a = dict(new.db().execute(sql).fetchall())
    b = dict(old.db().execute(sql).fetchall())
    keys = sorted(set(a) | set(b), key=lambda k: ("" if k is None else str(k)))
    return [{"value": "(none)" if k is None else k, "old": int(b.get(k, 0)), "new": int(a.get(k, 0)),
             "delta": int(a.get(k, 0)) - int(b.get(k, 0))} for k in keys if a.get(k, 0) != b.get(k, 0)]


def diff(new: VersionIndex, old: VersionIndex, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """``{kind: {"count": n, "paths": [...]}}`` for each kind, plus ``classes`` and ``splits`` deltas."""
    db = sqlite3.connect(f"file:{new.path}?mode=ro&immutable=1", uri=True)  # its own: ATTACH stays private
    try:
        db.execute("ATTACH DATABASE ? AS o", [f"file:{old.path}?mode=ro&immutable=1"])
        out: dict[str, Any] = {}
        for kind, sql in KINDS.items():
            count = int(db.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
            paths = [p for (p,) in db.execute(f"{sql} ORDER BY 1 LIMIT ? OFFSET ?", [limit, offset])]
            out[kind] = {"count": count, "paths": paths}
    finally:
        db.close()
    out["classes"] = _deltas(new, old, "SELECT label, count(*) FROM labels GROUP BY label")
    out["splits"] = _deltas(new, old, "SELECT split, count(*) FROM files GROUP BY split")
    return out
