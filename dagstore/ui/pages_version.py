"""Pages 3 and 5: a version (metadata, the file table and the image grid with facets) and its
diff against its parent or any version picked."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dagstore import Dataset

from .catalog import project_id, status_of
from .diff import diff
from .facets import facets
from .index import SORTS, FileRow, Filters, VersionIndex
from .overlay import overlay
from .web import Pager, page, render, ui_of


def version_doc(ds: Dataset, idx: VersionIndex | None = None) -> dict[str, Any]:
    """What the pages say about a version (its splits come from its index: a version's
    state is never loaded by the server)."""
    r = ds.record
    return {"id": ds.id, "project": ds.project, "name": ds.name, "version": ds.version,
            "status": status_of(r, not ds.is_final()), "created": r.created, "finalized": r.finalized,
            "parents": ds.parents, "tags": ds.tags, "description": ds.description, "origin": r.origin or "upload",
            "stats": dict(r.stats), "metadata_keys": sorted(r.metadata), "dataset_id": project_id(ds.project, ds.name),
            "classes": ds.classes, "splits": list(idx.meta.get("splits", [])) if idx is not None else []}


def row_doc(row: FileRow, colors: dict[str, str] | None = None) -> dict[str, Any]:
    ann = row.annotation()
    doc: dict[str, Any] = {"path": row.path, "size": row.size, "hash": row.hash, "kind": row.kind, "split": row.split,
                           "annotated": bool(row.annotated), "regions": row.nregions, "link": row.url is not None}
    if colors is not None:
        doc["labels"] = sorted({*(ann.get("labels") or []), *(r.get("label") for r in ann.get("regions") or [] if r.get("label"))})
        doc["overlay"] = overlay(ann, colors) if row.kind == "image" else None
    return doc


def final_version(request: Request) -> Dataset:
    ds = ui_of(request).dataset(str(request.path_params["vid"]))
    if not ds.is_final():
        raise HTTPException(409, f"version {ds.id} is a draft: finalize it to browse its files")
    return ds


def version(request: Request) -> Response:
    ui = ui_of(request)
    ds = ui.dataset(str(request.path_params["vid"]))
    idx = ui.index(ds) if ds.is_final() else None
    doc = version_doc(ds, idx)
    fac = facets(idx, Filters()) if idx is not None else None
    return render(request, "version.html", {"v": doc, "facets": fac, "previews": ui.previews()}, {**doc, "facets": fac})


def files(request: Request) -> Response:
    """The file table (``/files``) or the image grid (``/grid``) of a version: one page of the
    filtered, sorted files, with the facets of the current filter."""
    ui = ui_of(request)
    ds = final_version(request)
    idx = ui.index(ds)
    f = Filters.from_query(request.query_params)
    sort = request.query_params.get("sort", "path")
    sort = sort if sort in SORTS else "path"
    grid = request.url.path.rstrip("/").removesuffix(".json").endswith("/grid")
    fac = facets(idx, f)
    pager = Pager(request, fac["total"], default_size=100 if grid else 50)
    colors = idx.meta.get("colors", {})
    rows = [row_doc(r, colors) for r in idx.page(f, sort, pager.offset, pager.size)]
    ctx = {"v": version_doc(ds, idx), "rows": rows, "filters": f.items(), "sort": sort, "facets": fac, "pager": pager.doc(),
           "grid": grid, "previews": ui.previews(), "colors": colors,
           "methods": [m.name for m in methods_of(ui.store)]}
    return render(request, "files.html", ctx, {"files": rows, "filters": f.items(), "sort": sort, "facets": fac, **pager.doc()})


def methods_of(store: Any) -> list[Any]:
    try:
        return list(store.export_methods.list())
    except Exception:  # delivery not installed or misconfigured: the grid still works
        return []


def compare(request: Request) -> Response:
    ui = ui_of(request)
    ds = final_version(request)
    against = request.query_params.get("against") or (ds.parents[0] if ds.parents else "")
    idx = ui.index(ds)
    doc: dict[str, Any] = {"v": version_doc(ds, idx), "against": None, "diff": None}
    if against:
        old = ui.dataset(against)
        if not old.is_final():
            raise HTTPException(409, f"version {old.id} is a draft")
        pager_size = 100
        page_no = int(request.query_params["page"]) if request.query_params.get("page", "").isdigit() else 1
        old_idx = ui.index(old)
        doc["against"] = version_doc(old, old_idx)
        doc["diff"] = diff(idx, old_idx, pager_size, (max(page_no, 1) - 1) * pager_size)
    finals, _ = ui.records()
    others = sorted((r for r in finals if r.id != ds.id and r.project == ds.project and r.name == ds.name),
                    key=lambda r: r.created, reverse=True)
    doc["choices"] = [{"id": r.id, "version": r.version} for r in others]
    return render(request, "diff.html", doc)


ROUTES = [*page("/versions/{vid}", version), *page("/versions/{vid}/files", files), *page("/versions/{vid}/grid", files),
          *page("/versions/{vid}/diff", compare)]
