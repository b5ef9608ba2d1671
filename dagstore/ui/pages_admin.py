"""Page 9: connectors, datasources, export methods and exporters: lists, test (with its
result), create and delete (honouring the export-method creation / deletion switches),
datasource pull and exporter run. Secrets are taken only as ``${ENV}`` references (the
registries refuse literals) and every listing is the registries' redacted form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dagstore import Dataset
from dagstore.api.records import KINDS, RecordKind
from dagstore.connectors.registry import connector_types

from .forms import error_line, form_of
from .web import page, render, ui_of


def _spec_lines(text: str) -> dict[str, Any]:
    """``key=value`` lines (blank lines and ``#`` comments skipped); dotted keys fill tables. A value
    quoted as in the config file (``password = "${PW}"``) loses its one pair of quotes."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"spec line {line!r} is not key=value")
        *tables, last = key.strip().split(".")
        node = out
        for t in tables:
            node = node.setdefault(t, {})
        value = value.strip()
        node[last] = value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" else value
    return out


def _pull(store: Any, name: str, form: dict[str, Any]) -> Any:
    project, dataset = form.get("project") or None, form.get("dataset") or ""
    if not dataset:
        raise ValueError("give the dataset a name")
    ds = Dataset.sync_datasource(name, dataset, dataset_project=project, store=store)
    return f"version {ds.version} of {ds.project}/{ds.name} ({ds.id})"


def _run(store: Any, name: str, form: dict[str, Any]) -> Any:
    if not form.get("version"):
        raise ValueError("give the id of the version to export")
    d = store.exporters.run(name, form["version"], dataset_path=form.get("dataset_path") or None)
    return f"{d.status}: {d.count} written to {d.target or d.name}"


ACTIONS: dict[str, Callable[[Any, str, dict[str, Any]], Any]] = {"pull": _pull, "run": _run}


def _kind(request: Request) -> tuple[str, RecordKind]:
    name = str(request.path_params["kind"])
    if name not in KINDS:
        raise HTTPException(404, f"no page {name!r}")
    return name, KINDS[name]


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def listing(request: Request, result: dict[str, Any] | None = None, status: int = 200) -> Response:
    ui = ui_of(request)
    slug, kind = _kind(request)
    reg = kind.registry(ui.store)
    error = None
    try:
        items = [x.to_dict() for x in reg.list()]
    except Exception as exc:  # a broken config file: said on this page only
        items, error = [], error_line(exc)
    switches = {"creation": getattr(reg, "creation_enabled", True), "deletion": getattr(reg, "deletion_enabled", True)}
    ctx = {"slug": slug, "kind": kind, "items": items, "result": result, "error": error, "switches": switches,
           "types": _types() if slug == "connectors" else []}
    return render(request, "admin.html", ctx, {"items": items, "result": result, "error": error, **switches}, status=status)


def _types() -> list[str]:
    return sorted(connector_types())


def _act(ui: Any, slug: str, kind: RecordKind, action: str, name: str, form: dict[str, Any]) -> dict[str, Any]:
    reg = kind.registry(ui.store)
    if action == "create":
        values = {k: form.get(k) for k in kind.fields[1:]}
        if kind.spec:  # a connector's settings, as key=value lines
            values.update(_spec_lines(values.pop("spec") or ""))
        kind.create(ui.store, form.get("name", ""), values)
        return {"ok": True, "action": action, "name": form.get("name", ""), "message": "created"}
    if action == "delete":
        reg.delete(name)
        return {"ok": True, "action": action, "name": name, "message": "deleted"}
    if action == "test":
        res = reg.test(name)
        doc = _plain(res) if is_dataclass(res) else {"ok": bool(getattr(res, "ok", res)), "message": str(getattr(res, "message", res))}
        return {"action": action, "name": name, **doc}
    if action in kind.actions:
        return {"ok": True, "action": action, "name": name, "message": str(ACTIONS[action](ui.store, name, form))}
    raise HTTPException(404, f"no action {action!r} on {slug}")


async def act(request: Request) -> Response:
    slug, kind = _kind(request)
    form = await form_of(request)
    action = str(request.path_params.get("action", "create"))
    name = str(request.path_params.get("name", ""))
    try:
        result = await run_in_threadpool(_act, ui_of(request), slug, kind, action, name, form)
        status = 200
    except HTTPException:
        raise
    except Exception as exc:  # every refusal of a registry is shown on the page, as one line
        result, status = {"ok": False, "action": action, "name": name or form.get("name", ""), "message": error_line(exc)}, 400
    return await run_in_threadpool(listing, request, result, status)


ROUTES = [*page("/{kind}", listing), Route("/{kind}/create", act, methods=["POST"]),
          Route("/{kind}/{name}/{action}", act, methods=["POST"])]
