"""Datasets as the pages see them: versions grouped by project/name, their stable integer
ids (also Label Studio project ids) and the lineage DAG laid out for an SVG drawing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import xxhash

from dagstore.core.records import version_key

from .web import human_size

STATUS = {False: "final", True: "published"}


def project_id(project: str, name: str) -> int:
    """A stable positive 31-bit integer for a dataset: the first 31 bits of the xxh3-64 of
    ``project``, a NUL and ``name`` (a rename gives a new id)."""
    return (xxhash.xxh3_64_intdigest(f"{project}\x00{name}".encode()) >> 33) or 1


def status_of(rec: Any, draft: bool) -> str:
    return "draft" if draft else STATUS[bool(rec.published)]


@dataclass
class DatasetInfo:
    """One dataset: all its versions (finals and drafts), newest version last."""

    project: str
    name: str
    versions: list[tuple[Any, str]] = field(default_factory=list)  # (record, status)

    @property
    def id(self) -> int:
        return project_id(self.project, self.name)

    @property
    def title(self) -> str:
        return f"{self.project}/{self.name}"

    def finals(self) -> list[Any]:
        return [r for r, s in self.versions if s != "draft"]

    def latest(self) -> tuple[Any, str]:
        """The highest final version, else the newest draft."""
        finals = [(r, s) for r, s in self.versions if s != "draft"]
        return max(finals or self.versions, key=lambda rs: (version_key(rs[0].version), rs[0].created))

    def latest_final(self) -> Any | None:
        finals = self.finals()
        return max(finals, key=lambda r: (version_key(r.version), r.created)) if finals else None

    def summary(self) -> dict[str, Any]:
        rec, status = self.latest()
        return {"id": self.id, "project": self.project, "name": self.name, "title": self.title,
                "latest_version": rec.version, "latest_id": rec.id, "versions": len(self.versions),
                "files": int(rec.stats.get("files", 0)), "bytes": int(rec.stats.get("bytes", 0)), "status": status,
                "origin": rec.origin or "upload", "tags": sorted(rec.tags), "created": rec.created,
                "description": rec.description}


def group(finals: list[Any], drafts: list[Any]) -> list[DatasetInfo]:
    """Datasets sorted by project, then name."""
    out: dict[tuple[str, str], DatasetInfo] = {}
    for rec, draft in [*((r, False) for r in finals), *((r, True) for r in drafts)]:
        info = out.setdefault((rec.project, rec.name), DatasetInfo(rec.project, rec.name))
        info.versions.append((rec, status_of(rec, draft)))
    for info in out.values():
        info.versions.sort(key=lambda rs: (version_key(rs[0].version), rs[0].created))
    return [out[k] for k in sorted(out)]


def matches(d: dict[str, Any], q: str, origin: str, status: str, tag: str) -> bool:
    q = q.lower()
    return (not q or q in d["name"].lower() or q in d["project"].lower()) and (not origin or d["origin"] == origin) \
        and (not status or d["status"] == status) and (not tag or tag in d["tags"])


@dataclass
class Node:
    id: str
    label: str
    detail: str
    x: int
    y: int
    external: bool
    status: str


def _lineage_rows(info: DatasetInfo, lookup: dict[str, Any]) -> list[tuple[Any, str, bool]]:
    """(record or None, status or missing id, external) per row, oldest first; a parent from
    another dataset gets its row just before its first child."""
    recs = [(r, s) for r, s in sorted(info.versions, key=lambda rs: (rs[0].created, version_key(rs[0].version)))]
    seen = {r.id for r, _ in recs}  # this dataset's versions, then each outside parent once
    rows: list[tuple[Any, str, bool]] = []
    for r, s in recs:
        for p in r.parents:
            if p not in seen:
                seen.add(p)
                ext = lookup.get(p)
                rows.append((ext, "external", True) if ext is not None else (None, p, True))
        rows.append((r, s, False))
    return rows


def lineage(info: DatasetInfo, lookup: dict[str, Any]) -> dict[str, Any]:
    """Nodes (one row per version, oldest at the top; lanes like ``git log --graph``) and edges
    from parent to child. Parents from other datasets are drawn as external nodes."""
    rows = _lineage_rows(info, lookup)
    lane_of: dict[str, int] = {}
    continued: set[str] = set()  # parents whose lane a child already took
    lanes = 0
    nodes: list[Node] = []
    for i, (rec, status, external) in enumerate(rows):
        rid = rec.id if rec is not None else status
        first = next((p for p in (rec.parents if rec is not None else ()) if p in lane_of), None)
        if first is not None and first not in continued:
            lane = lane_of[first]
            continued.add(first)
        else:
            lane, lanes = lanes, lanes + 1
        lane_of[rid] = lane
        if rec is None:
            nodes.append(Node(rid, rid[:12], "not in this store", lane, i, True, "missing"))
            continue
        st = rec.stats
        label = f"{rec.project}/{rec.name} {rec.version}" if external else f"{rec.version}"
        detail = f"{st.get('files', 0)} files · {human_size(st.get('bytes', 0))} · +{st.get('added', 0)} ~{st.get('modified', 0)} -{st.get('removed', 0)}"
        nodes.append(Node(rid, label, detail, lane, i, external, status))
    pos = {n.id: n for n in nodes}
    edges = [(pos[p], n) for n, (rec, _, _) in zip(nodes, rows) if rec is not None for p in rec.parents if p in pos]
    return {"nodes": nodes, "edges": edges, "width": 220 + 28 * max([n.x for n in nodes], default=0),
            "height": 40 + 48 * len(nodes)}

