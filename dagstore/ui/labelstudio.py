"""Label Studio's export API on the UI's server, so Label Studio scripts and its SDK
(``LabelStudio(base_url=…, api_key=…)``) work against a dagstore store unchanged:
``/api/version``, ``/api/projects/``, Easy Export, and export snapshots (``ls_exports``)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from dagstore import Dataset, DagstoreError, ExportFormat, __version__

from . import ls_exports
from .catalog import DatasetInfo, group
from .forms import error_line
from .web import ui_of

LS_RELEASE = "1.20.0"  # the Label Studio API this one follows
SINGLE_FILE = {"JSON": ".json", "JSON_MIN": ".json", "CSV": ".csv", "TSV": ".tsv"}
FORMAT_TITLES = {"JSON": "JSON", "JSON_MIN": "JSON-MIN", "CSV": "CSV", "TSV": "TSV", "COCO": "COCO", "VOC": "Pascal VOC XML",
                 "YOLO": "YOLO", "CONLL2003": "CONLL2003", "ASR_MANIFEST": "ASR Manifest", "BRUSH_TO_PNG": "Brush labels to PNG",
                 "BRUSH_TO_NUMPY": "Brush labels to NumPy"}


def _project(info: DatasetInfo) -> dict[str, Any]:
    rec = info.latest_final()
    return {"id": info.id, "title": info.title, "description": rec.description if rec else "",
            "created_at": info.versions[0][0].created, "task_number": int(rec.stats.get("files", 0)) if rec else 0,
            "is_published": bool(rec and rec.published), "dagstore_version_id": rec.id if rec else None}


def _info(request: Request) -> DatasetInfo:
    raw = str(request.path_params["pid"])
    finals, drafts = ui_of(request).records()
    for info in group(finals, drafts):
        if str(info.id) == raw:
            if info.latest_final() is None:
                raise HTTPException(404, f"project {raw} has no final version yet")
            return info
    raise HTTPException(404, f"no project {raw}")


def _latest(request: Request, info: DatasetInfo) -> Dataset:
    rec = info.latest_final()
    if rec is None:
        raise HTTPException(404, f"project {info.id} has no final version yet")
    return ui_of(request).dataset(rec.id)


def version(request: Request) -> Response:
    return JSONResponse({"release": LS_RELEASE, "edition": "Community", "label-studio-os-package": {"version": LS_RELEASE},
                         "label-studio-os-backend": {}, "label-studio-frontend": {}, "dm2": {}, "label-studio-converter": {},
                         "lsf": {}, "backend": {}, "dagstore": __version__})


def projects(request: Request) -> Response:
    finals, drafts = ui_of(request).records()
    rows = [_project(i) for i in group(finals, drafts) if i.latest_final() is not None]
    q = request.query_params
    size = min(int(q["page_size"]), 1000) if q.get("page_size", "").isdigit() and int(q["page_size"]) > 0 else 100
    page = int(q["page"]) if q.get("page", "").isdigit() and int(q["page"]) > 0 else 1
    shown = rows[(page - 1) * size: page * size]
    base = str(request.url.remove_query_params(["page"]))

    def link(n: int) -> str | None:
        return f"{base}{'&' if '?' in base else '?'}page={n}" if 1 <= n and (n - 1) * size < len(rows) else None

    return JSONResponse({"count": len(rows), "next": link(page + 1), "previous": link(page - 1) if page > 1 else None,
                         "results": shown})


def project(request: Request) -> Response:
    return JSONResponse(_project(_info(request)))


def formats(request: Request) -> Response:
    return JSONResponse([{"name": f.value, "title": FORMAT_TITLES.get(f.value, f.value.replace("_", " ").title()),
                          "description": f"dagstore {f.value} export", "tags": [], "disabled": False} for f in ExportFormat])


def _send_artifact(fmt: str, stem: str, make: Callable[[str], Any]) -> Response:
    """The export ``make(target)`` writes into a temp folder, removed after it is sent: its one
    file for JSON, JSON_MIN, CSV and TSV (made as a folder), else a zip (made as a ``.zip``
    target: the export's own zip, fixed timestamps, so two downloads are the same bytes)."""
    folder = tempfile.mkdtemp(prefix="dagstore-ls-")
    cleanup = BackgroundTask(shutil.rmtree, folder, ignore_errors=True)
    ext = SINGLE_FILE.get(fmt)
    try:
        if ext is None:
            make(os.path.join(folder, f"{stem}.zip"))
            return FileResponse(os.path.join(folder, f"{stem}.zip"), filename=f"{stem}.zip", media_type="application/zip", background=cleanup)
        out = os.path.join(folder, "out")
        make(out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    main = next(f for f in sorted(os.listdir(out)) if f.endswith(ext) and f not in ("export.json", "config.json"))
    return FileResponse(os.path.join(out, main), filename=f"{stem}{ext}", background=cleanup,
                        media_type="application/json" if ext == ".json" else "text/csv")


def easy_export(request: Request) -> Response:
    """``GET /api/projects/{id}/export``: the whole export, synchronously."""
    info = _info(request)
    q = request.query_params
    fmt = ls_exports.parse_type(q.get("exportType") or q.get("export_type"))
    all_tasks = (q.get("download_all_tasks") or "false").lower() in ("true", "1", "yes")
    media = (q.get("download_resources") or "false").lower() in ("true", "1", "yes")
    ds = _latest(request, info)
    return _send_artifact(fmt, f"project-{info.id}-{fmt}",
                          lambda target: ds.export(fmt, target, filters=None if all_tasks else {"tasks": "annotated"}, include_media=media))


def _body(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


async def exports(request: Request) -> Response:
    """``GET``: the project's exports; ``POST``: a new one (a snapshot and its JSON job)."""
    info = await run_in_threadpool(_info, request)
    ui = ui_of(request)
    pid = info.id
    if request.method == "GET":
        recs = await run_in_threadpool(ls_exports.records, ui.store, pid)
        return JSONResponse([await run_in_threadpool(ls_exports.view, ui.store, r) for r in recs])
    body = _body(await request.json()) if await request.body() else {}

    def create() -> dict[str, Any]:
        ds = _latest(request, info)
        filters = ls_exports.ls_filters(body)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rec = ls_exports.claim(ui.store, pid, {"title": str(body.get("title") or ""), "created_at": now, "version_id": ds.id,
                                               "snapshot": "", "jobs": {}, "task_number": int(ds.record.stats.get("files", 0)),
                                               **{k: body.get(k) for k in ("task_filter_options", "annotation_filter_options",
                                                                           "serialization_options")}})
        snap = ds.create_snapshot(f"ls-{pid}-{rec['id']}-{os.urandom(3).hex()}", filters=filters)
        job = snap.create_export("JSON", include_media=False)
        rec.update(snapshot=snap.name, jobs={"JSON": job.id}, title=rec["title"] or f"{info.title} at {now}")
        ls_exports.save(ui.store, pid, rec)
        return ls_exports.view(ui.store, rec)

    try:
        return JSONResponse(await run_in_threadpool(create), status_code=201)
    except DagstoreError as exc:
        return JSONResponse({"detail": error_line(exc)}, status_code=400)


def _export(request: Request) -> tuple[int, dict[str, Any]]:
    info = _info(request)
    raw = str(request.path_params["pk"])
    rec = ls_exports.record(ui_of(request).store, info.id, int(raw)) if raw.isdigit() else None
    if rec is None:
        raise HTTPException(404, f"no export {raw} in project {info.id}")
    return info.id, rec


def export_one(request: Request) -> Response:
    pid, rec = _export(request)
    store = ui_of(request).store
    if request.method == "DELETE":
        ls_exports.delete(store, pid, int(rec["id"]))
        return Response(status_code=204)
    return JSONResponse(ls_exports.view(store, rec))


async def convert(request: Request) -> Response:
    pid, rec = await run_in_threadpool(_export, request)
    body = _body(await request.json()) if await request.body() else {}
    store = ui_of(request).store

    def run() -> dict[str, Any]:
        fmt = ls_exports.parse_type(body.get("export_type"))
        if fmt not in rec["jobs"]:
            job = store.get_snapshot(rec["snapshot"]).create_export(fmt, include_media=bool(body.get("download_resources")))
            rec["jobs"][fmt] = job.id
            ls_exports.save(store, pid, rec)
        view = ls_exports.view(store, rec)
        cf = next(c for c in view["converted_formats"] if c["export_type"] == fmt)
        return {"export_type": fmt, "converted_format": cf["id"]}

    try:
        return JSONResponse(await run_in_threadpool(run))
    except DagstoreError as exc:
        return JSONResponse({"detail": error_line(exc)}, status_code=400)


def download(request: Request) -> Response:
    pid, rec = _export(request)
    q = request.query_params
    fmt = ls_exports.parse_type(q.get("exportType") or q.get("export_type"))
    store = ui_of(request).store
    if fmt not in rec["jobs"]:
        raise HTTPException(404, f"export {rec['id']} has no {fmt} conversion; POST …/convert first")
    job = store.get_export(rec["jobs"][fmt])
    if job.status != "completed":
        raise HTTPException(409, f"the {fmt} conversion of export {rec['id']} is {job.status}")
    return _send_artifact(fmt, f"project-{pid}-at-{rec['id']}-{fmt}", job.download)


def _both(path: str, endpoint: Any, methods: list[str] | None = None) -> list[Route]:
    """Label Studio answers with and without the trailing slash."""
    return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]


ROUTES = [*_both("/api/version", version), *_both("/api/projects", projects), *_both("/api/projects/{pid}", project),
          *_both("/api/projects/{pid}/export", easy_export), *_both("/api/projects/{pid}/export/formats", formats),
          *_both("/api/projects/{pid}/exports", exports, ["GET", "POST"]),
          *_both("/api/projects/{pid}/exports/{pk}", export_one, ["GET", "DELETE"]),
          *_both("/api/projects/{pid}/exports/{pk}/convert", convert, ["POST"]),
          *_both("/api/projects/{pid}/exports/{pk}/download", download)]
