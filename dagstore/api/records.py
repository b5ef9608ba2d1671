"""The kinds of named records users manage by name: connectors, datasources, export methods
and exporters, each described once (its registry in a store, the fields ``create`` takes, its
verbs beyond create / list / test / delete) for the CLI (``cli/records.py``) and the web UI's
admin page (``ui/pages_admin.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..connectors import ConnectorRegistry, DatasourceRegistry
from ..core.store import Store
from ..delivery import ExportMethods, Exporters


@dataclass(frozen=True)
class RecordKind:
    """One kind of named record. ``registry(store)`` has ``create/list/get/test/delete``;
    ``create`` takes the name, then ``required`` (in order), then the ``optional`` fields given
    (empty ones left out) and, with ``spec``, any other field as the record's own settings (a
    connector's ``url``, ``password=${ENV}``, …)."""

    slug: str  # the UI's page, /admin/<slug>
    noun: str
    plural: str
    title: str
    registry: Callable[[Store], Any]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    spec: bool = False
    force_delete: bool = False  # delete(name, force=True) removes one that others use
    actions: tuple[str, ...] = ()  # verbs beyond create / list / test / delete

    @property
    def fields(self) -> tuple[str, ...]:
        """What a form asks for, in order (``spec``: the other settings, as key=value lines)."""
        return ("name", *self.required, *self.optional, *(("spec",) if self.spec else ()))

    def create(self, store: Store, name: str, values: Mapping[str, Any]) -> Any:
        """The created record (the registry's checks and errors)."""
        given = {k: v for k, v in values.items() if v not in (None, "")}
        extra = {k: v for k, v in given.items() if k not in self.required} if self.spec else \
            {k: given[k] for k in self.optional if k in given}
        return self.registry(store).create(name, *(given.get(k, "") for k in self.required), **extra)

    def delete(self, store: Store, name: str, force: bool = False) -> None:
        reg = self.registry(store)
        reg.delete(name, force=True) if force and self.force_delete else reg.delete(name)


CONNECTORS = RecordKind("connectors", "connector", "connectors", "Connectors", ConnectorRegistry, ("type",),
                        spec=True, force_delete=True)
DATASOURCES = RecordKind("datasources", "datasource", "datasources", "Datasources", DatasourceRegistry, ("connector",),
                         ("table", "schema", "query", "path", "separator", "decimal"), actions=("pull",))
EXPORT_METHODS = RecordKind("export-methods", "export method", "export methods", "Export methods", ExportMethods,
                            ("spec",))
EXPORTERS = RecordKind("exporters", "exporter", "exporters", "Exporters", Exporters, ("connector",),
                       ("table", "schema", "path", "mode"), actions=("run",))
KINDS = {k.slug: k for k in (CONNECTORS, DATASOURCES, EXPORT_METHODS, EXPORTERS)}
