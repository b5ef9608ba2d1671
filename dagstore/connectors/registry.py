"""Connector types, and the connectors defined in the config file, the environment and the store.

Later wins (``core.store.definitions``): ``[connectors.NAME]`` tables of the config file, then
``DAGSTORE_CONNECTOR_<NAME>=<type>, <where>[, key=value...]`` variables, then connectors
created through the API (records ``connectors/<name>.json``, secrets as references only).
"""

from __future__ import annotations

import builtins
import functools
import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .. import spec_string
from ..core import layout
from ..core.decode import expect
from ..core.store.definitions import Definitions
from ..core.store.named import NamedRecords, RecordType
from .base import BaseConnector, TestResult, check_name
from ..secrets import refuse_literals
from .errors import ConnectorError, ConnectorNotFoundError

if TYPE_CHECKING:
    from ..core.store import Store

ENV_PREFIX = "DAGSTORE_CONNECTOR_"
FORMAT = 1
# one module per type; each registers its class with @register
_MODULES = ("sql", "ftp", "sftp", "s3", "gcs", "azure", "http", "kafka")
_TYPES: dict[str, type[BaseConnector]] = {}

C = TypeVar("C", bound=type[BaseConnector])


def register(cls: C) -> C:
    """Class decorator: make a connector type known by its ``type`` name."""
    _TYPES[cls.type] = cls
    return cls


@functools.cache
def _import_types() -> None:
    for mod in _MODULES:
        importlib.import_module(f"{__package__}.{mod}")


def connector_types() -> dict[str, type[BaseConnector]]:
    """Every known connector type, by name."""
    _import_types()
    return dict(_TYPES)


def make_connector(name: str, type: str, spec: dict[str, Any], source: str = "store") -> BaseConnector:
    """A connector object of ``type`` (validated spec)."""
    types = connector_types()
    if type not in types:
        raise ConnectorError(f"connector {name!r}: unknown type {type!r}; known: {', '.join(sorted(types))}")
    return types[type](name, dict(spec), source)


def parse_spec_string(text: str) -> tuple[str, dict[str, Any]]:
    """``"<type>, <where>[, key=value...]"`` (the grammar of ``dagstore.spec_string``) ->
    (type, spec). ``where`` is the URL (``sql``, ``http``, buckets, or a file server's URL),
    ``host[:port]`` of a file server, or the bootstrap servers of ``kafka`` (commas allowed).
    Dotted keys fill tables: ``headers.Authorization=Bearer ${TOKEN}``, ``storage_options.anon=true``."""
    try:
        parsed = spec_string.parse(text)
    except spec_string.SpecStringError as exc:
        raise ConnectorError(f"connector spec: {exc}") from None
    if not parsed.positional:
        raise ConnectorError("connector spec: where to connect is missing; expected "
                             "'<type>, <url or host:port>[, key=value...]'")
    ctype, target = parsed.type, ",".join(parsed.positional)
    spec: dict[str, Any] = _coerce(parsed.options)
    if ctype == "kafka":
        spec.setdefault("bootstrap_servers", target)
    elif ctype in ("ftp", "sftp") and "://" not in target:
        host, _, port = target.partition(":")
        spec.setdefault("host", host)
        if port:
            spec.setdefault("port", port)
    else:
        spec.setdefault("url", target)
    return ctype, spec


def _coerce(value: Any) -> Any:
    """``true`` / ``false`` as booleans, in tables too."""
    if isinstance(value, dict):
        return {k: _coerce(v) for k, v in value.items()}
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    return value


def _from_config(name: str, table: Any, source: str) -> BaseConnector:
    if not isinstance(table, dict) or "type" not in table:
        raise ConnectorError("needs a type")
    spec = {k: v for k, v in table.items() if k != "type"}
    refuse_literals(spec)
    return make_connector(name, str(table["type"]), spec, source)


def _from_env(name: str, value: Any, source: str) -> BaseConnector:
    ctype, spec = parse_spec_string(str(value))
    return make_connector(name, ctype, spec, source)


def _make(name: str, raw: Any, source: str) -> BaseConnector:
    return _from_config(name, raw, source) if source == "config" else _from_env(name, raw, source)


def _decode(name: str, doc: dict[str, Any]) -> BaseConnector:
    expect(doc["name"] == name and isinstance(doc["type"], str) and isinstance(doc["spec"], dict),
           f"connector record {layout.named_key(layout.CONNECTORS, name)}", "its name, type or spec is not valid")
    return make_connector(name, doc["type"], doc["spec"], "store")


RECORDS: RecordType[BaseConnector] = RecordType(
    "connector", layout.CONNECTORS, _decode, check_name, known_format=FORMAT,
    missing=lambda name, url: ConnectorNotFoundError(f"no connector named {name!r} (config file, environment or {url})"))


_URL_PARTS = ("host", "port", "root")  # what a file server's url stands for
_USERS = ((layout.DATASOURCES, "datasource"), (layout.EXPORTERS, "exporter"), (layout.EXPORT_METHODS, "export method"))


def _checked(name: str, type: str, spec: dict[str, Any]) -> BaseConnector:
    """A connector to store: valid, with secrets as references only."""
    conn = make_connector(name, type, spec, "store")
    refuse_literals({**spec, **conn.spec}, f"connector {name!r}")
    return conn


def _raw_records(store: Store, prefix: str, noun: str) -> Iterator[dict[str, Any]]:
    """The stored records under ``prefix`` as plain objects (with their ``name``); a malformed
    one is skipped with a warning naming it, as every listing does."""
    raw: RecordType[dict[str, Any]] = RecordType(noun, prefix, lambda n, doc: {**doc, "name": n}, str,
                                                 missing=lambda n, _u: ConnectorError(n))
    return NamedRecords(store.backend, raw).iter()


def _doc(conn: BaseConnector) -> dict[str, Any]:
    return {"format": FORMAT, "name": conn.name, "type": conn.type, "spec": conn.spec}


class ConnectorRegistry:
    """``Store.connectors``: create, list, get, delete and test connectors."""

    def __init__(self, store: Store):
        self.store = store
        self.records = NamedRecords(store.backend, RECORDS)
        self.defined = Definitions(self.records, ("connectors",), ENV_PREFIX, _make, ConnectorError)

    def create(self, name: str, type: str, **spec: Any) -> BaseConnector:
        """Define a connector and store it (shared by every host using this store). Secrets
        must be ``${ENV}`` references; a literal secret is refused."""
        check_name(name)
        conn = _checked(name, type, spec)
        self.records.create(name, _doc(conn))
        return conn

    def update(self, name: str, **fields: Any) -> BaseConnector:
        """Change a stored connector: the same fields as ``create`` (``type`` too; ``None``
        removes a field; a new ``url`` replaces the host, port and root it stands for). The
        datasources, exporters and export methods using it follow, since they name it."""
        source = self.defined.source(name)
        if source is None:
            raise self.records.type.missing(name, self.store.backend.url)
        if source != "store":
            raise ConnectorError(f"cannot update connector {name!r}: it is defined in the "
                                 f"{self.defined.where(name, source)}; change it there")
        cur = self.records.get(name)
        spec = {k: v for k, v in cur.spec.items() if not ("url" in fields and k in _URL_PARTS)}
        spec.update(fields)
        conn = _checked(name, str(spec.pop("type", cur.type)), {k: v for k, v in spec.items() if v is not None})
        self.records.put(name, _doc(conn))
        return conn

    def list(self) -> list[BaseConnector]:
        """Every connector (config file, environment, store; later wins), by name."""
        return self.defined.list()

    def get(self, name: str) -> BaseConnector:
        """The connector called ``name``; ConnectorNotFoundError if there is none."""
        return self.defined.get(name)

    def users(self, name: str) -> builtins.list[str]:
        """The stored datasources, exporters and export methods that use connector ``name``
        (``"datasource orders"``, …)."""
        return [f"{noun} {doc['name']}" for prefix, noun in _USERS for doc in _raw_records(self.store, prefix, noun)
                if doc.get("connector") == name]

    def delete(self, name: str, force: bool = False) -> None:
        """Remove a stored connector. Those of the config file or the environment are refused;
        so is one that datasources, exporters or export methods use, unless ``force``."""
        users = [] if force else self.users(name)
        if users and self.defined.source(name) == "store":
            raise ConnectorError(f"connector {name!r} is used by {', '.join(users)}; delete or change "
                                 "those first, or force the deletion (--force)")
        self.defined.delete(name)

    def test(self, name: str) -> TestResult:
        """``get(name).test()``: a TestResult; raises only for an unknown name."""
        return self.get(name).test()
