"""Pages 4 and 6: one file of a version (preview, thumbnail, raw bytes) and the ``describe``
page of a tabular file. A damaged or missing object is an error on that file's page only."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from PIL.Image import DecompressionBombError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dagstore import DagstoreError

from .derive import KINDS
from .index import FileRow
from .overlay import overlay
from .pages_version import final_version, row_doc, version_doc
from .previews import HEAD_BYTES, head, inline_type, sniffed_type
from .web import page, render, ui_of

TABULAR = (".parquet", ".csv", ".tsv", ".jsonl")


def _inline(row: FileRow, read: Callable[[int], bytes]) -> str | None:
    """``inline_type`` of the path; for an image without an image extension (its kind is its
    annotation's: none, or another extension), of its first bytes (``read(limit)``)."""
    found = inline_type(row.path)
    if found is None and row.kind == "image" and not row.path.lower().endswith(KINDS["image"]):
        try:
            return sniffed_type(read(HEAD_BYTES))
        except (DagstoreError, OSError):
            return None
    return found


def _row(request: Request) -> tuple[Any, FileRow]:
    ds = final_version(request)
    path = request.query_params.get("path", "")
    row = ui_of(request).index(ds).get(path) if path else None
    if row is None:
        raise HTTPException(404, f"no file {path!r} in version {ds.id}")
    return ds, row


def _require_previews(request: Request) -> None:
    if not ui_of(request).previews():
        raise HTTPException(403, "previews are turned off for this store")


def preview(request: Request) -> Response:
    ui = ui_of(request)
    ds, row = _row(request)
    colors = ui.index(ds).meta.get("colors", {})
    ann = row.annotation()
    ctx: dict[str, Any] = {"v": version_doc(ds), "f": row_doc(row, colors), "annotation": ann, "previews": ui.previews(),
                           "error": None, "content": None, "inline": _inline(row, lambda n: ui.blobs.read(row, limit=n)),
                           "tabular": row.path.lower().endswith(TABULAR), "q": urllib.parse.quote(row.path)}
    textlike = row.kind not in ("image", "audio") and (not ctx["tabular"] or row.path.lower().endswith((".csv", ".tsv")))
    if ctx["previews"] and textlike:
        try:
            ctx["content"] = head(row, ui.blobs.read(row, limit=64 << 10))
        except (DagstoreError, OSError) as exc:
            ctx["error"] = str(exc)
    ctx["overlay"] = overlay(ann, colors) if row.kind == "image" else None
    doc = {**ctx["f"], "annotation": ann, "content": ctx["content"], "error": ctx["error"]}
    return render(request, "preview.html", ctx, doc, status=200 if ctx["error"] is None else 502)


def raw(request: Request) -> Response:
    """The file's bytes: inline for raster images and audio, else as an attachment."""
    _require_previews(request)
    ui = ui_of(request)
    _, row = _row(request)
    if request.headers.get("if-none-match") == f'"{row.hash}"':
        return Response(status_code=304)
    try:
        data = ui.blobs.read(row)
    except (DagstoreError, OSError) as exc:
        raise HTTPException(502, str(exc)) from None
    kind = _inline(row, lambda n: data)
    name = urllib.parse.quote(row.path.rsplit("/", 1)[-1])
    headers = {"ETag": f'"{row.hash}"', "Cache-Control": "private, max-age=31536000, immutable",
               "Content-Disposition": f"{'inline' if kind else 'attachment'}; filename*=UTF-8''{name}",
               "Content-Security-Policy": "sandbox; default-src 'none'"}
    return Response(data, media_type=kind or "application/octet-stream", headers=headers)


def thumb(request: Request) -> Response:
    _require_previews(request)
    ui = ui_of(request)
    _, row = _row(request)
    headers = {"ETag": f'"t{row.hash}"', "Cache-Control": "private, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    hit = request.app.state.thumbs.get(row.hash)
    if hit is None:
        if row.kind != "image":
            raise HTTPException(404, f"{row.path} is not an image")
        try:
            hit = request.app.state.thumbs.make(row.hash, ui.blobs.read(row))
        except (DagstoreError, OSError) as exc:
            raise HTTPException(502, f"{row.path}: {exc}") from None
        except DecompressionBombError:  # Pillow's pixel limit, told by the header: nothing was decoded
            raise HTTPException(422, f"{row.path}: too many pixels to make a thumbnail of") from None
    return Response(hit[0], media_type=hit[1], headers=headers)


def describe(request: Request) -> Response:
    ds, row = _row(request)
    _require_previews(request)
    try:
        stats = ds.describe(row.path)
        error = None
    except (DagstoreError, OSError, ValueError) as exc:
        stats, error = None, str(exc)
    ctx = {"v": version_doc(ds), "f": row_doc(row), "stats": stats, "error": error, "q": urllib.parse.quote(row.path)}
    return render(request, "describe.html", ctx, {"path": row.path, "describe": stats, "error": error},
                  status=200 if error is None else 502)


ROUTES = [*page("/versions/{vid}/preview", preview), *page("/versions/{vid}/describe", describe),
          Route("/versions/{vid}/raw", raw), Route("/versions/{vid}/thumb", thumb)]
