"""The difference between two versions: ``State.diff`` of their columnar states (added,
removed, modified and annotation-only paths, one page of each), and the class-count and split
deltas from their indexes' cubes."""

from __future__ import annotations

from typing import Any

from .index import VersionIndex


def _counts(idx: VersionIndex) -> dict[str, dict[str, int]]:
    files, labels = idx.cubes
    splits = dict(zip(["(none)", *idx.meta["splits"]], files.sum(axis=(1, 2)).tolist()))
    return {"splits": splits, "classes": dict(zip(idx.meta["labels"], labels.sum(axis=(1, 2, 3)).tolist()))}


def _deltas(new: dict[str, int], old: dict[str, int]) -> list[dict[str, Any]]:
    return [{"value": k, "old": old.get(k, 0), "new": new.get(k, 0), "delta": new.get(k, 0) - old.get(k, 0)}
            for k in sorted(set(new) | set(old)) if new.get(k, 0) != old.get(k, 0)]


def diff(new: VersionIndex, old: VersionIndex, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """``{kind: {"count": n, "paths": [...]}}`` for each kind, plus ``classes`` and ``splits`` deltas."""
    d = old.state.diff(new.state)
    out: dict[str, Any] = {kind: {"count": len(paths), "paths": paths[offset:offset + limit]}
                           for kind, paths in (("added", d.added), ("removed", d.removed), ("modified", d.modified),
                                               ("annotation_only", d.annotation_only))}
    a, b = _counts(new), _counts(old)
    out["classes"] = _deltas(a["classes"], b["classes"])
    out["splits"] = _deltas(a["splits"], b["splits"])
    return out
