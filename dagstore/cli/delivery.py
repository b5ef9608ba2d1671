"""Export methods, selections, exporters and the delivery log: export-method, select,
exporter, deliveries."""

from __future__ import annotations

import json
from typing import Any

import click

from ..api import records
from ..delivery import Delivery, list_deliveries
from ..delivery.exporters import Exporters
from ..delivery.sql_export import MODES
from .app import Settings, by_ref, cli, emit, pass_settings, table, verb
from .records import RecordVerbs
from .args import filter_args


def _delivery_line(d: Delivery) -> str:
    if d.kind == "exporter":
        unit = "rows" if d.method_type == "sql" else "files"
        return f"{d.status}: exporter {d.method} wrote {d.count} {unit} of {d.dataset_id} to {d.name} (id {d.id})"
    what = f"{d.count} ids, " if d.kind == "selection" else ""
    return f"{d.status}: {d.kind} {d.name!r} of {d.dataset_id} to {d.method} ({what}{d.attempts} attempt(s), id {d.id})"


# -- export methods ------------------------------------------------------------------------------


@cli.group("export-method")
def export_method() -> None:
    """Named destinations for selections: post (webhook), kafka, or a connector."""


METHODS = RecordVerbs(export_method, records.EXPORT_METHODS, ["NAME", "TYPE", "DESTINATION", "FROM"], lambda m: [m.name, m.type, m.destination, m.source],
                      lambda m: f"{m.name} ({m.type}, {m.destination})")


@METHODS.create
@click.argument("name")
@click.argument("spec")
def em_create(name: str, spec: str) -> tuple[str, dict[str, Any]]:
    """Store a method: NAME "post, <url>" | "kafka, <bootstrap>, <topic>" | "connector, <name>[, table=…]"."""
    return name, {"spec": spec}


METHODS.add_list_test_delete("Every method (config file, environment, store; later wins).",
                             "Reach the destination without sending a payload; exit 1 if it fails.",
                             "Remove a method created through the API or CLI.")


# -- selections ----------------------------------------------------------------------------------


@cli.command("select")
@click.option("--method", "-m", "method", required=True, help="export method name")
@click.option("--name", "-n", "selection", required=True, help="selection name")
@click.option("--ids", multiple=True, metavar="ID", help="sample ids (dataset paths of the version)")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="select by filters instead of ids")
@click.option("--annotation", metavar="JSON", help="a free-form annotation sent with the selection")
@click.argument("version_id")
@verb
@pass_settings
def select(s: Settings, method: str, selection: str, ids: tuple[str, ...], filters: tuple[str, ...],
           annotation: str | None, version_id: str) -> None:
    """Send a selection of VERSION_ID's samples through an export method."""
    if bool(ids) == bool(filters):
        raise click.UsageError("give --ids or --filter (one of them)")
    try:
        ann = json.loads(annotation) if annotation else None
    except ValueError as exc:
        raise click.UsageError(f"--annotation is not valid JSON: {exc}") from None
    ds = by_ref(s, version_id)
    d = ds.export_selection(selection, list(ids) or None, method, annotation=ann,
                            filters=filter_args(filters) if filters else None)
    emit(s, d.to_dict(), _delivery_line(d))


@cli.command("export-annotation")
@click.option("--method", "-m", "method", required=True, help="export method name")
@click.option("--name", "-n", "annotation_name", required=True, help="annotation name")
@click.option("--annotation", "value", required=True, metavar="JSON", help='the annotation, e.g. \'{"type": "range", "min": 0.2}\'')
@click.argument("version_id")
@verb
@pass_settings
def export_annotation(s: Settings, method: str, annotation_name: str, value: str, version_id: str) -> None:
    """Send an annotation (free-form JSON, DebiAI's widget annotations) of VERSION_ID through an export method."""
    try:
        ann = json.loads(value)
    except ValueError as exc:
        raise click.UsageError(f"--annotation is not valid JSON: {exc}") from None
    d = by_ref(s, version_id).export_annotation(annotation_name, ann, method)
    emit(s, d.to_dict(), _delivery_line(d))


# -- exporters -----------------------------------------------------------------------------------


@cli.group("exporter")
def exporter() -> None:
    """Write versions through connectors: tables (SQL) or paths (file servers, buckets)."""


EXPORTERS = RecordVerbs(exporter, records.EXPORTERS, ["NAME", "CONNECTOR", "TARGET", "MODE"],
                        lambda e: [e.name, e.connector, e.where, e.mode],
                        lambda e: f"{e.name}: {e.where} through {e.connector} (mode {e.mode})")


@EXPORTERS.create
@click.argument("name")
@click.option("--connector", "-c", required=True, help="connector name")
@click.option("--table", help="SQL table")
@click.option("--schema", help="SQL schema of the table")
@click.option("--path", help="path below the connector's root")
@click.option("--mode", type=click.Choice(MODES), default="overwrite", show_default=True)
def ex_create(name: str, connector: str, table: str | None, schema: str | None, path: str | None,
              mode: str) -> tuple[str, dict[str, Any]]:
    """Store an exporter."""
    return name, {"connector": connector, "table": table, "schema": schema, "path": path, "mode": mode}


EXPORTERS.add_list_test_delete("Every exporter.", "Check the exporter's connector and whether its target exists.",
                               "Remove an exporter.")


@exporter.command("run")
@click.argument("name")
@click.option("--id", "ref", required=True, metavar="VERSION_ID", help="version id (or prefix, or project/name@version)")
@click.option("--path", "dataset_path", help="the tabular file (or folder) of the version to write")
@click.option("--format", "export_format", help="write an export in this format instead of the files")
@verb
@pass_settings
def ex_run(s: Settings, name: str, ref: str, dataset_path: str | None, export_format: str | None) -> None:
    """Write a version through the exporter."""
    ds = by_ref(s, ref)
    d = Exporters(s.store()).run(name, ds.id, dataset_path=dataset_path, export_format=export_format)
    emit(s, d.to_dict(), _delivery_line(d))


# -- the delivery log ----------------------------------------------------------------------------


@cli.command("deliveries")
@click.option("--method", "-m", help="only this export method or exporter")
@click.option("--id", "ref", metavar="VERSION_ID", help="only this version")
@click.option("--status", type=click.Choice(["delivered", "failed"]))
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@verb
@pass_settings
def deliveries(s: Settings, method: str | None, ref: str | None, status: str | None, limit: int) -> None:
    """Recorded deliveries, newest first (no payload, no secret)."""
    vid = by_ref(s, ref).id if ref else None
    items = list_deliveries(s.store(), method=method, dataset_id=vid, status=status, limit=limit)
    rows = [[d.time[:19].replace("T", " "), d.kind, d.method, d.name, str(d.count), d.status, str(d.attempts),
             (d.error or "")[:80]] for d in items]
    emit(s, [d.to_dict() for d in items],
         table(["TIME (UTC)", "KIND", "METHOD", "NAME", "COUNT", "STATUS", "ATTEMPTS", "ERROR"], rows)
         if items else "no deliveries")
