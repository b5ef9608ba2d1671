"""Connectors, datasources and describe: ``dagstore connector|datasource|describe``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..api import records
from ..api.dataset import Dataset
from ..connectors import ConnectorRegistry, parse_spec_string
from ..errors import DatasetNotFoundError
from .app import Settings, by_ref, cli, emit, pass_settings, summary, table, title, verb
from .records import RecordVerbs


@cli.group(name="connector")
def connector() -> None:
    """Connectors: where and with which credentials (secrets as ${ENV} references)."""


CONNECTORS = RecordVerbs(connector, records.CONNECTORS, ["NAME", "TYPE", "FROM", "WHERE"],
                         lambda c: [c.name, c.type, c.source, c.where()], lambda c: f"{c.name} ({c.type}, {c.where()})",
                         force_delete="delete it even though datasources, exporters or export methods use it")


@CONNECTORS.create
@click.argument("name")
@click.argument("spec")
def connector_create(name: str, spec: str) -> tuple[str, dict[str, Any]]:
    """Store a connector, e.g. NAME "sql, postgresql+psycopg://app@db:5432/wh, password=${PGPASSWORD}"."""
    ctype, kw = parse_spec_string(spec)
    return name, {**kw, "type": ctype}


@connector.command(name="update")
@click.argument("name")
@click.argument("fields", nargs=-1, required=True, metavar="KEY=VALUE...")
@verb
@pass_settings
def connector_update(s: Settings, name: str, fields: tuple[str, ...]) -> None:
    """Change a stored connector's fields (as in create: url=…, password=${ENV}, type=…; KEY=
    with nothing removes a field). Datasources and exporters using it follow."""
    kw: dict[str, Any] = {}
    for f in fields:
        key, eq, value = f.partition("=")
        if not eq or not key:
            raise click.UsageError(f"{f!r}: use KEY=VALUE")
        table, _, sub = key.partition(".")
        val: Any = {"true": True, "false": False}.get(value.lower(), value) if value else None
        if sub:
            kw.setdefault(table, dict(ConnectorRegistry(s.store()).get(name).spec.get(table) or {}))[sub] = val
        else:
            kw[key] = val
    c = ConnectorRegistry(s.store()).update(name, **kw)
    emit(s, c.to_dict(), f"updated connector {c.name} ({c.type}, {c.where()})")


CONNECTORS.add_list_test_delete(
    "Every connector: config file, environment, store (later wins).",
    "Check a connector (SELECT 1, list + probe file, HEAD, metadata); exit 1 if it fails.",
    "Remove a stored connector (not one from the config file or the environment, nor one in use unless --force).")


@cli.group(name="datasource")
def datasource() -> None:
    """Datasources: a table, a query or a path read through a connector."""


def _preview(p: Any) -> tuple[dict[str, Any], list[str]]:
    lines = table([f"{n} ({t})" for n, t in p.columns], [[json.dumps(v, default=str) for v in r] for r in p.rows]) \
        if p.columns else []
    return {"columns": p.columns, "rows": p.rows, "files": p.files}, lines + [f"  {path}  {size}" for path, size in p.files]


DATASOURCES = RecordVerbs(datasource, records.DATASOURCES, ["NAME", "CONNECTOR", "READS"],
                          lambda d: [d.name, d.connector, d.describe()],
                          lambda d: f"{d.name} ({d.describe()} via {d.connector})", _preview)


@DATASOURCES.create
@click.argument("name")
@click.option("--connector", "conn", required=True, help="connector name")
@click.option("--table", help="SQL table")
@click.option("--schema", help="SQL schema of the table")
@click.option("--query", help="SQL query (run read-only)")
@click.option("--path", help="file, folder or wildcard on a file-server or bucket connector")
@click.option("--separator", help="field separator of the path's CSV / TSV files: , ; tab | (default: guessed)")
@click.option("--decimal", help="decimal mark of the path's CSV / TSV files: . or , (default: guessed)")
def datasource_create(name: str, conn: str, table: str | None, schema: str | None, query: str | None,
                      path: str | None, separator: str | None, decimal: str | None) -> tuple[str, dict[str, Any]]:
    """Store a datasource."""
    return name, {"connector": conn, "table": table, "schema": schema, "query": query, "path": path,
                  "separator": separator, "decimal": decimal}


DATASOURCES.add_list_test_delete(
    "Every stored datasource.",
    "Connect and preview the first rows (with types) or the first files (with sizes).",
    "Remove a stored datasource (its versions stay).")


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
    ds = Dataset.sync_datasource(name, dataset_name, dataset_project=project, store=st, file_format=file_format or "parquet")
    changed = ds.id != before
    meta = ds.get_metadata("datasource") or {}
    rows = f", {meta['rows']} rows" if "rows" in meta else f", {meta.get('files', 0)} files"
    emit(s, {**summary(ds), "changed": changed, "datasource": meta},
         f"{'new version' if changed else 'unchanged'}: {title(ds)} ({ds.id}{rows})")


@cli.command()
@click.option("--id", "ref", required=True, metavar="ID", help="dataset id (or unique prefix, or project/name@version)")
@click.option("--path", "dataset_path", help="the tabular file (needed when the version holds several)")
@click.option("--separator", metavar="SEP", help="CSV field separator: , ; tab | (default: guessed)")
@click.option("--decimal", metavar="MARK", help="decimal mark: . or , (default: guessed)")
@verb
@pass_settings
def describe(s: Settings, ref: str, dataset_path: str | None, separator: str | None, decimal: str | None) -> None:
    """Statistics of a tabular file (Parquet, CSV, TSV, JSON lines) of a version."""
    d = by_ref(s, ref).describe(dataset_path, separator=separator, decimal=decimal)
    emit(s, d, _describe_lines(d))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


_BARS = " ▁▂▃▄▅▆▇█"


def _spark(counts: list[int]) -> str:
    """A histogram as one line of block characters."""
    top = max(counts) if counts else 0
    return "".join(_BARS[round(c / top * (len(_BARS) - 1))] if top else " " for c in counts)


def _distribution(c: dict[str, Any]) -> str:
    hist = c.get("histogram")
    if hist and hist.get("counts"):
        return f"{_fmt(hist['edges'][0])} {_spark(hist['counts'])} {_fmt(hist['edges'][-1])}"
    return ", ".join(f"{t['value']}:{t['count']}" for t in c.get("top", [])[:3])


def _describe_lines(d: dict[str, Any]) -> list[str]:
    """The statistics as a user reads them in a terminal: the columns with their
    distributions, the correlation matrix, and the sample rows."""
    rows = [[c["name"], c["type"], _fmt(c["nulls"]), ("~" if c.get("distinct_approximate") else "") + _fmt(c["distinct"]), _fmt(c["min"]), _fmt(c["max"]),
             _fmt(c["mean"]), _fmt(c["std"]), _distribution(c)] for c in d["columns"]]
    dialect = d.get("dialect")
    how = f" (separator {dialect['separator']!r}, decimal {dialect['decimal']!r}{', guessed' if dialect['guessed'] else ''})" if dialect else ""
    lines = [f"{d['rows']} rows, {len(d['columns'])} columns{how}"]
    if any(c.get("distinct_approximate") for c in d["columns"]):
        lines.append("~ distinct: approximate (estimated past the exact bound)")
    lines += table(["COLUMN", "TYPE", "NULLS", "DISTINCT", "MIN", "MAX", "MEAN", "STD", "DISTRIBUTION (histogram or top values)"], rows)
    corr = d.get("correlation") or {}
    if corr:
        names = list(corr)
        lines += ["", "correlation (Pearson)"]
        lines += table(["", *names], [[a, *(("%.2f" % corr[a][b]) if corr[a].get(b) is not None else "-" for b in names)] for a in names])
    sample = d.get("sample") or []
    if sample:
        cols = list(sample[0])
        lines += ["", f"first {len(sample)} rows"]
        lines += table(cols, [[_fmt(r.get(k)) for k in cols] for r in sample])
    return lines
