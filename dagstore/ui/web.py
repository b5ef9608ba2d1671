"""Rendering: every page is a Jinja2 template (autoescaped) and the same route answers JSON
(``.json`` suffix, ``?_format=json`` or ``Accept: application/json``), Datasette style."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .context import UI

ENV = jinja2.Environment(loader=jinja2.PackageLoader("dagstore.ui", "templates"), autoescape=True,
                         trim_blocks=True, lstrip_blocks=True)
PAGE_SIZES = (25, 50, 100, 200)


def human_size(n: int | float | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


ENV.filters["size"] = human_size
ENV.filters["qs"] = lambda d: urlencode({k: v for k, v in d.items() if v not in (None, "")})


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.endswith(".json") or request.url.path.startswith("/api/") or request.query_params.get("_format") == "json" \
        or (accept.startswith("application/json") and "html" not in accept)


def ui_of(request: Request) -> UI:
    ui: UI = request.app.state.ui
    return ui


def render(request: Request, template: str, ctx: Mapping[str, Any], doc: Any = None, status: int = 200) -> Response:
    """The page, or ``doc`` (default: ``ctx``) as JSON."""
    if wants_json(request):
        return JSONResponse(ctx if doc is None else doc, status_code=status)
    ui = ui_of(request)
    html = ENV.get_template(template).render(request=request, csrf=ui.csrf, read_only=ui.options.read_only,
                                             path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status)


class Pager:
    """Page number and size from the query string, and links to the neighbours."""

    def __init__(self, request: Request, total: int, default_size: int = 50):
        q = request.query_params
        self.size = int(q["size"]) if q.get("size", "").isdigit() and int(q["size"]) in PAGE_SIZES else default_size
        pages = max(1, math.ceil(total / self.size))
        self.page = min(max(1, int(q["page"]) if q.get("page", "").isdigit() else 1), pages)
        self.pages, self.total = pages, total
        self.offset = (self.page - 1) * self.size
        self._request = request

    def link(self, page: int) -> str | None:
        if not 1 <= page <= self.pages:
            return None
        params = [(k, v) for k, v in self._request.query_params.multi_items() if k != "page"] + [("page", str(page))]
        return f"{self._request.url.path}?{urlencode(params)}"

    def doc(self) -> dict[str, Any]:
        return {"page": self.page, "pages": self.pages, "size": self.size, "total": self.total,
                "next": self.link(self.page + 1), "previous": self.link(self.page - 1)}


def page(path: str, endpoint: Any, methods: list[str] | None = None) -> list[Any]:
    """Routes for ``path`` and its ``.json`` twin (the twin first: ``{id}`` would swallow it)."""
    return [Route(path + ".json", endpoint, methods=methods), Route(path, endpoint, methods=methods)]


def path_param(request: Request, name: str) -> str:
    value = request.path_params[name]
    return str(value)
