"""Connectors, datasources and describe: ``dagstore connector|datasource|describe``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..api.dataset import Dataset
from ..connectors import DatasourceRegistry, ConnectorRegistry, parse_spec_string
from ..errors import DatasetNotFoundError
from .app import Settings, by_ref, cli, emit, pass_settings, summary, table, title, verb


@cli.group(name="connector")
def connector() -> None:
    """Connectors: where and with which credentials (secrets as ${ENV} references)."""


@connector.command(name="create")
@click.argument("name")
@click.argument("spec")
@verb
@pass_settings
def connector_create(s: Settings, name: str, spec: str) -> None:
    """Store a connector, e.g. NAME "sql, postgresql+psycopg://app@db:5432/wh, password=${PGPASSWORD}"."""
    ctype, kw = parse_spec_string(spec)
    c = ConnectorRegistry(s.store()).create(name, ctype, **kw)
    emit(s, c.to_dict(), f"created connector {c.name} ({c.type}, {c.where()})")


@connector.command(name="list")
@verb
@pass_settings
def connector_list(s: Settings) -> None:
    """Every connector: config file, environment, store (later wins)."""
    conns = ConnectorRegistry(s.store()).list()
    emit(s, [c.to_dict() for c in conns],
         table(["NAME", "TYPE", "FROM", "WHERE"], [[c.name, c.type, c.source, c.where()] for c in conns])
         if conns else "no connectors")


@connector.command(name="test")
@click.argument("name")
@verb
@pass_settings
def connector_test(s: Settings, name: str) -> None:
    """Check a connector (SELECT 1, list + probe file, HEAD, metadata); exit 1 if it fails."""
    res = ConnectorRegistry(s.store()).test(name)
    emit(s, {"name": name, "ok": res.ok, "message": res.message}, ("ok: " if res.ok else "failed: ") + res.message)
    if not res.ok:
        raise click.exceptions.Exit(1)


@connector.command(name="delete")
@click.argument("name")
@verb
@pass_settings
def connector_delete(s: Settings, name: str) -> None:
    """Remove a stored connector (not one from the config file or the environment)."""
    ConnectorRegistry(s.store()).delete(name)
    emit(s, {"deleted": name}, f"deleted connector {name}")


@cli.group(name="datasource")
def datasource() -> None:
    """Datasources: a table, a query or a path read through a connector."""


@datasource.command(name="create")
@click.argument("name")
@click.option("--connector", "conn", required=True, help="connector name")
@click.option("--table", help="SQL table")
@click.option("--schema", help="SQL schema of the table")
@click.option("--query", help="SQL query (run read-only)")
@click.option("--path", help="file, folder or wildcard on a file-server or bucket connector")
@verb
@pass_settings
def datasource_create(s: Settings, name: str, conn: str, table: str | None, schema: str | None, query: str | None,
                      path: str | None) -> None:
    """Store a datasource."""
    d = DatasourceRegistry(s.store()).create(name, conn, table=table, schema=schema, query=query, path=path)
    emit(s, d.to_dict(), f"created datasource {d.name} ({d.describe()} via {d.connector})")


@datasource.command(name="list")
@verb
@pass_settings
def datasource_list(s: Settings) -> None:
    """Every stored datasource."""
    ds = DatasourceRegistry(s.store()).list()
    emit(s, [d.to_dict() for d in ds],
         table(["NAME", "CONNECTOR", "READS"], [[d.name, d.connector, d.describe()] for d in ds]) if ds else "no datasources")


@datasource.command(name="test")
@click.argument("name")
@verb
@pass_settings
def datasource_test(s: Settings, name: str) -> None:
    """Connect and preview the first rows (with types) or the first files (with sizes)."""
    p = DatasourceRegistry(s.store()).test(name)
    doc = {"name": name, "ok": p.ok, "message": p.message, "columns": p.columns, "rows": p.rows, "files": p.files}
    lines = [("ok: " if p.ok else "failed: ") + p.message]
    if p.columns:
        lines += table([f"{n} ({t})" for n, t in p.columns], [[json.dumps(v, default=str) for v in r] for r in p.rows])
    lines += [f"  {path}  {size}" for path, size in p.files]
    emit(s, doc, lines)
    if not p.ok:
        raise click.exceptions.Exit(1)


@datasource.command(name="delete")
@click.argument("name")
@verb
@pass_settings
def datasource_delete(s: Settings, name: str) -> None:
    """Remove a stored datasource (its versions stay)."""
    DatasourceRegistry(s.store()).delete(name)
    emit(s, {"deleted": name}, f"deleted datasource {name}")


@datasource.command(name="pull")
@click.argument("name")
@click.option("--project", help="dataset project")
@click.option("--name", "dataset_name", required=True, help="dataset name")
@click.option("--format", "file_format", type=click.Choice(["parquet", "csv"]), default=None,
              help="file for SQL results on the first pull (default parquet; later pulls keep it)")
@verb
@pass_settings
def datasource_pull(s: Settings, name: str, project: str | None, dataset_name: str, file_format: str | None) -> None:
    """Read a datasource into a version: create the dataset, or a child only if the data changed."""
    st = s.store()
    try:
        before: str | None = Dataset.get(dataset_project=project, dataset_name=dataset_name, only_completed=True,
                                         store=st).id
    except DatasetNotFoundError:
        before = None
    if before is None:
        ds = Dataset.create_from_datasource(name, dataset_name, dataset_project=project,
                                            file_format=file_format or "parquet", store=st)
    else:
        ds = Dataset.sync_datasource(name, dataset_name, dataset_project=project, store=st)
    changed = ds.id != before
    meta = ds.get_metadata("datasource") or {}
    rows = f", {meta['rows']} rows" if "rows" in meta else f", {meta.get('files', 0)} files"
    emit(s, {**summary(ds), "changed": changed, "datasource": meta},
         f"{'new version' if changed else 'unchanged'}: {title(ds)} ({ds.id}{rows})")


@cli.command()
@click.option("--id", "ref", required=True, metavar="ID", help="dataset id (or unique prefix, or project/name@version)")
@click.option("--path", "dataset_path", help="the tabular file (needed when the version holds several)")
@verb
@pass_settings
def describe(s: Settings, ref: str, dataset_path: str | None) -> None:
    """Statistics of a tabular file (Parquet, CSV, TSV, JSON lines) of a version."""
    d = by_ref(s, ref).describe(dataset_path)
    emit(s, d, _describe_lines(d))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _describe_lines(d: dict[str, Any]) -> list[str]:
    rows = [[c["name"], c["type"], _fmt(c["nulls"]), _fmt(c["distinct"]), _fmt(c["min"]), _fmt(c["max"]),
             _fmt(c["mean"]), _fmt(c["std"]),
             ", ".join(f"{t['value']}:{t['count']}" for t in c.get("top", [])[:3])] for c in d["columns"]]
    lines = [f"{d['rows']} rows, {len(d['columns'])} columns"]
    lines += table(["COLUMN", "TYPE", "NULLS", "DISTINCT", "MIN", "MAX", "MEAN", "STD", "TOP"], rows)
    return lines
