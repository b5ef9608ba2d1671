"""The ASGI application: routes, the security guard, error pages.

``create_app(store=…)`` is what ``dagstore ui`` serves, and what you mount in your own ASGI
server (``app.mount("/data", create_app(Store("s3://bucket/store")))``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dagstore import DagstoreError, DatasetNotFoundError, FormatError, IntegrityError, StorageError, Store

from . import labelstudio, pages_admin, pages_catalog, pages_export, pages_files, pages_version
from .context import UI, Options
from .previews import Thumbnails
from .security import guard
from .web import render

log = logging.getLogger("dagstore.ui")


def _error(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, {"detail": message}, status=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request, exc.status_code, str(exc.detail))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(request, 404, str(exc))


async def _refused(request: Request, exc: Exception) -> Response:
    """A store object that cannot be read is a 502 on this page (the others keep working);
    any other dagstore error is the request's fault (400)."""
    damaged = isinstance(exc, (FormatError, IntegrityError, StorageError))
    return _error(request, 502 if damaged else 400, f"{type(exc).__name__}: {exc}")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("dagstore ui: %s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    return _error(request, 500, f"internal error ({type(exc).__name__}); see the server log")


def create_app(store: Store | str | None = None, token: str | None = None, read_only: bool = False, previews: bool = True,
               allowed_hosts: tuple[str, ...] | None = None, storage_options: dict[str, Any] | None = None) -> Starlette:
    """The UI over ``store`` (a Store, a URL, or ``DAGSTORE_URL``); ``token`` defaults to
    ``DAGSTORE_UI_TOKEN``. See docs/ui.md for what the options mean."""
    st = store if isinstance(store, Store) else Store(store, storage_options=storage_options)
    opts = Options(token=token if token is not None else (os.environ.get("DAGSTORE_UI_TOKEN") or None), read_only=read_only,
                   previews=previews, storage_options=dict(storage_options or st.storage_options or {}))
    if allowed_hosts is not None:
        opts.allowed_hosts = allowed_hosts
    ui = UI(st, opts)

    class Guard(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            return await guard(ui, request, call_next)

    routes: list[Any] = [Route("/", pages_catalog.home), *labelstudio.ROUTES, *pages_catalog.ROUTES, *pages_version.ROUTES,
                         *pages_files.ROUTES, *pages_export.ROUTES,
                         Mount("/static", StaticFiles(packages=[("dagstore.ui", "static")]), name="static"),
                         *pages_admin.ROUTES]  # last: its /{kind} pages match any top-level name
    app = Starlette(routes=routes, middleware=[Middleware(Guard)],
                    exception_handlers={HTTPException: _http_error, DatasetNotFoundError: _not_found,
                                        DagstoreError: _refused, Exception: _unexpected})
    app.state.ui = ui
    app.state.thumbs = Thumbnails()
    return app
