"""Reading a posted form off the event loop's back: the fields as a plain dict (lists for
repeated names), and the one-line error a failed action shows on its page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .index import Filters


async def form_of(request: Request) -> dict[str, Any]:
    """``{name: value}`` (``{name: [values]}`` for ``ids``); files are ignored."""
    form = await request.form()
    out: dict[str, Any] = {}
    for k, v in form.multi_items():
        if not isinstance(v, str) or k == "csrf_token":
            continue
        if k in ("ids", "splits"):
            out.setdefault(k, []).append(v)
        else:
            out[k] = v.strip()
    return out


def error_line(exc: BaseException) -> str:
    """An exception as one line (dagstore's errors are already free of secrets)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def export_filters(f: Filters, splits: list[str] | None = None) -> dict[str, Any]:
    """The page's filter as export/selection filters (``kind`` has no export equivalent)."""
    out: dict[str, Any] = {}
    if f.q:
        out["wildcard"] = [f.q if any(c in f.q for c in "*?[") else f.q.rstrip("/") + "/*" if f.q.endswith("/") else f.q + "*"]
    if f.split and f.split != "(none)":
        out["splits"] = [f.split]
    if splits:
        out["splits"] = sorted(set(out.get("splits", [])) | set(splits))
    if f.label:
        out["labels"] = [f.label]
    if f.annotated == "yes":
        out["tasks"] = "annotated"
    return out
