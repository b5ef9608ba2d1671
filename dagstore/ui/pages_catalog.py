"""Pages 1 and 2: the datasets, and one dataset with its versions and lineage DAG."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .catalog import DatasetInfo, group, lineage, matches
from .web import Pager, page, render, ui_of

STATUSES = ("draft", "final", "published")


def datasets_of(request: Request) -> list[DatasetInfo]:
    finals, drafts = ui_of(request).records()
    return group(finals, drafts)


def find_dataset(request: Request, pid: int) -> DatasetInfo:
    for info in datasets_of(request):
        if info.id == pid:
            return info
    raise HTTPException(404, f"no dataset with id {pid}")


def datasets(request: Request) -> Response:
    q = request.query_params
    want = {k: (q.get(k) or "").strip()[:200] for k in ("q", "origin", "status", "tag")}
    rows = [d.summary() for d in datasets_of(request)]
    facets = {"origin": sorted({d["origin"] for d in rows}), "status": [s for s in STATUSES if any(d["status"] == s for d in rows)],
              "tag": sorted({t for d in rows for t in d["tags"]})}
    hits = [d for d in rows if matches(d, want["q"], want["origin"], want["status"], want["tag"])]
    pager = Pager(request, len(hits))
    shown = hits[pager.offset: pager.offset + pager.size]
    return render(request, "datasets.html", {"datasets": shown, "filters": want, "facets": facets, "pager": pager.doc()},
                  {"datasets": shown, "filters": want, **pager.doc()})


def dataset(request: Request) -> Response:
    raw = str(request.path_params["pid"])
    if not raw.isdigit():
        raise HTTPException(404, f"no dataset with id {raw!r}")
    info = find_dataset(request, int(raw))
    finals, drafts = ui_of(request).records()
    graph = lineage(info, {r.id: r for r in [*finals, *drafts]})
    versions = [{"id": r.id, "version": r.version, "status": s, "created": r.created, "files": r.stats.get("files", 0),
                 "bytes": r.stats.get("bytes", 0), "added": r.stats.get("added", 0), "modified": r.stats.get("modified", 0),
                 "removed": r.stats.get("removed", 0), "parents": list(r.parents), "tags": sorted(r.tags),
                 "origin": r.origin or "upload"} for r, s in reversed(info.versions)]
    doc: dict[str, Any] = {**info.summary(), "versions_list": versions,
                           "lineage": {"nodes": [n.__dict__ for n in graph["nodes"]],
                                       "edges": [[a.id, b.id] for a, b in graph["edges"]]}}
    return render(request, "dataset.html", {"d": info.summary(), "versions": versions, "graph": graph}, doc)


def home(request: Request) -> Response:
    return RedirectResponse("/datasets", status_code=302)


ROUTES = [*page("/datasets", datasets), *page("/datasets/{pid}", dataset)]
