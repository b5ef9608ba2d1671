"""Pages 7 and 8: the export dialog, export jobs with live progress and their zip, snapshots;
sending a selection (ticked items or the current filter) through an export method, and the
delivery log."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from dagstore import DagstoreError, DatasetNotFoundError, ExportFormat

from .forms import error_line, export_filters, form_of
from .index import Filters
from .pages_version import methods_of, final_version, version_doc
from .web import Pager, page, render, ui_of

JOB_ID = set("0123456789abcdef")


def export_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    ui = ui_of(request)
    ds = final_version(request)
    f = Filters.from_query(request.query_params)
    v = version_doc(ds, ui.index(ds))
    ctx = {"v": v, "formats": [x.value for x in ExportFormat], "filters": f.items(),
           "export_filters": export_filters(f), "splits": v["splits"], "error": error,
           "snapshots": [s.to_dict() for s in ui.store.list_snapshots(ds.id)]}
    return render(request, "export.html", ctx, status=status)


def _start(ui: Any, vid: str, form: dict[str, Any]) -> Any:
    ds = ui.dataset(vid)
    f = Filters(*(form.get(f"filter_{k}", "") for k in ("q", "split", "label", "annotated", "kind")))
    filters = export_filters(f, form.get("splits"))
    media = form.get("include_media") == "on"
    if form.get("snapshot"):
        snap = ds.create_snapshot(form["snapshot"], filters=filters)
        return snap.create_export(form.get("format") or "JSON", include_media=media)
    return ds.create_export(form.get("format") or "JSON", filters=filters, include_media=media)


async def export_start(request: Request) -> Response:
    if request.method == "GET":
        return await run_in_threadpool(export_form, request)
    form = await form_of(request)
    ui = ui_of(request)
    try:
        job = await run_in_threadpool(_start, ui, str(request.path_params["vid"]), form)
    except DatasetNotFoundError:
        raise
    except DagstoreError as exc:
        return await run_in_threadpool(export_form, request, error_line(exc), 400)
    return RedirectResponse(f"/exports/{job.id}", status_code=303)


def _job(request: Request) -> Any:
    jid = str(request.path_params["job"])
    if not jid or not set(jid) <= JOB_ID or len(jid) > 64:
        raise HTTPException(404, f"no export job {jid!r}")
    try:
        return ui_of(request).store.get_export(jid)
    except DatasetNotFoundError:
        raise HTTPException(404, f"no export job {jid!r}") from None


def exports(request: Request) -> Response:
    ui = ui_of(request)
    jobs = [j.to_dict() for j in reversed(ui.store.list_exports())]
    pager = Pager(request, len(jobs))
    shown = jobs[pager.offset: pager.offset + pager.size]
    snaps = [s.to_dict() for s in reversed(ui.store.list_snapshots())]
    return render(request, "exports.html", {"jobs": shown, "snapshots": snaps, "pager": pager.doc()},
                  {"jobs": shown, "snapshots": snaps, **pager.doc()})


def job(request: Request) -> Response:
    j = _job(request)
    return render(request, "job.html", {"job": j.to_dict()}, j.to_dict())


def download(request: Request) -> Response:
    """The finished zip, checked against its hash on the way out of the store."""
    j = _job(request)
    if j.status != "completed":
        raise HTTPException(409, f"export job {j.id} is {j.status}, not completed")
    folder = tempfile.mkdtemp(prefix="dagstore-ui-")
    path = os.path.join(folder, f"{j.id}.zip")
    try:
        j.download(path)
    except DagstoreError as exc:
        os.rmdir(folder)
        raise HTTPException(502, error_line(exc)) from None

    def cleanup() -> None:
        os.unlink(path)
        os.rmdir(folder)

    name = f"{j.format.lower()}-{j.dataset_id[:8]}-{j.id[:8]}.zip"
    return FileResponse(path, media_type="application/zip", filename=name, background=BackgroundTask(cleanup))


def _send(ui: Any, vid: str, form: dict[str, Any]) -> Any:
    ds = ui.dataset(vid)
    if not form.get("name"):
        raise ValueError("give the selection a name")
    ann = json.loads(form["annotation"]) if form.get("annotation") else None
    if form.get("scope") == "filter":
        f = Filters(*(form.get(f"filter_{k}", "") for k in ("q", "split", "label", "annotated", "kind")))
        ids = list(ui.index(ds).paths(f))
    else:
        ids = list(form.get("ids") or [])
    if not ids:
        raise ValueError("nothing selected: tick items, or send everything the current filter matches")
    return ds.export_selection(form["name"], ids, form.get("method") or "", annotation=ann)


async def select(request: Request) -> Response:
    form = await form_of(request)
    ui = ui_of(request)
    vid = str(request.path_params["vid"])
    try:
        d = await run_in_threadpool(_send, ui, vid, form)
        result, error, status = d.to_dict(), None, 200
    except DatasetNotFoundError:
        raise
    except (DagstoreError, ValueError) as exc:
        result, error, status = None, error_line(exc), 400
    ds = await run_in_threadpool(ui.dataset, vid)
    return render(request, "sent.html", {"v": version_doc(ds), "delivery": result, "error": error},
                  {"delivery": result, "error": error}, status=status)


def deliveries(request: Request) -> Response:
    ui = ui_of(request)
    q = request.query_params
    rows = [d.to_dict() for d in ui.store.deliveries(method=q.get("method") or None, dataset_id=q.get("dataset") or None,
                                                       status=q.get("status") or None)]
    pager = Pager(request, len(rows))
    shown = rows[pager.offset: pager.offset + pager.size]
    return render(request, "deliveries.html", {"rows": shown, "pager": pager.doc(), "methods": [m.name for m in methods_of(ui.store)]},
                  {"deliveries": shown, **pager.doc()})


ROUTES = [*page("/versions/{vid}/export", export_start, methods=["GET", "POST"]), Route("/versions/{vid}/select", select, methods=["POST"]),
          *page("/exports", exports), Route("/exports/{job}/download", download), *page("/exports/{job}", job),
          *page("/deliveries", deliveries)]
