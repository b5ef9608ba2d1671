"""Who may use the UI and which requests may change anything.

- With a token (``--token`` / ``DAGSTORE_UI_TOKEN``; required off loopback) every request
  needs it: ``Authorization: Token …`` (or ``Bearer``), or the cookie a browser gets after
  opening any page once with ``?token=…`` (the cookie holds an HMAC of the token, never the
  token). Without one, only loopback Host names are answered (no DNS rebinding).
- A state-changing request (POST, PUT, PATCH, DELETE) needs the page's CSRF token (field
  ``csrf_token`` of a urlencoded form, or header ``X-CSRF-Token``) or the API token; ``/api/`` calls without a
  configured token need a JSON body or a non-form method (which a cross-site page cannot send
  without a CORS preflight, never granted). ``--read-only`` refuses them all.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from .context import UI

COOKIE = "dagstore_ui"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
Handler = Callable[[Request], Awaitable[Response]]


def _cookie_value(ui: UI) -> str:
    return hmac.new(ui.secret, (ui.options.token or "").encode(), hashlib.sha256).hexdigest()


def _header_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") and value.strip() else None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def _deny(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/") or "json" in request.headers.get("accept", "") and "html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": message}, status_code=status)
    return PlainTextResponse(message, status_code=status)


def _host_ok(ui: UI, request: Request) -> bool:
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ui.options.allowed_hosts


async def _csrf_ok(ui: UI, request: Request) -> bool:
    if _same(request.headers.get("x-csrf-token"), ui.csrf):
        return True
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = await request.body()  # cached: the route reads it again
        values = parse_qs(body.decode("latin-1"), max_num_fields=10_000).get("csrf_token", [])
        return len(values) == 1 and _same(values[0], ui.csrf)
    return False


def _api_call_ok(request: Request) -> bool:
    """Without a token, an API write must be one a cross-site page cannot send unannounced."""
    ctype = request.headers.get("content-type", "")
    return request.method in ("DELETE", "PUT", "PATCH") or ctype.startswith("application/json") \
        or _header_token(request) is not None


async def guard(ui: UI, request: Request, call_next: Handler) -> Response:
    """The one security check, run before every route."""
    token = ui.options.token
    authed_by_header = False
    if token:
        given = _header_token(request)
        if _same(given, token):
            authed_by_header = True
        elif _same(request.query_params.get("token"), token) and request.method == "GET":
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            resp: Response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            resp.set_cookie(COOKIE, _cookie_value(ui), httponly=True, samesite="strict")
            return resp
        elif not _same(request.cookies.get(COOKIE), _cookie_value(ui)):
            return _deny(request, 401, "authentication required: send Authorization: Token <token>, or open the UI with ?token=<token>")
    elif not _host_ok(ui, request):
        return _deny(request, 403, "this server answers only loopback host names; start it with --token to serve others")
    if request.method in UNSAFE:
        if ui.options.read_only:
            return _deny(request, 403, "this server is read-only (--read-only)")
        api = request.url.path.startswith("/api/")
        if not authed_by_header and not (api and not token and _api_call_ok(request)) and not await _csrf_ok(ui, request):
            return _deny(request, 403, "missing or wrong CSRF token; reload the page and try again")
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
                                "script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'")
    return response
