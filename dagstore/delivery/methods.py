"""Export methods (DebiAI's): named destinations for selections and annotations.

Defined in three places, later wins (``core.store.definitions``): the config file
(``[export_methods.list]``), the environment (``DAGSTORE_EXPORT_METHOD_<name>``, the name kept
whole) and the API (``Store.export_methods.create``, records ``export-methods/<name>.json``). The switches
``[export_methods] creation / deletion`` and ``DAGSTORE_EXPORT_METHODS_CREATION_ENABLED`` /
``_DELETION_ENABLED`` (the environment wins) allow or refuse API creation and deletion. The
spec forms are in ``spec.py``.
"""

from __future__ import annotations

import os
from typing import Any

from .. import config
from ..core import layout
from ..core.store.definitions import Definitions
from ..core.store.named import NamedRecords, RecordType
from ..errors import ConflictError
from . import debiai
from .errors import ExportMethodError, ExportMethodNotFoundError
from .probe import test_method
from .spec import ExportMethod, TestResult, _bool, check_name, check_secrets, parse_spec

ENV_PREFIX = "DAGSTORE_EXPORT_METHOD_"
ENV_CREATION = "DAGSTORE_EXPORT_METHODS_CREATION_ENABLED"
ENV_DELETION = "DAGSTORE_EXPORT_METHODS_DELETION_ENABLED"
ENV_ORIGIN = "DAGSTORE_EXPORT_ORIGIN"


def payload_origin(method: ExportMethod) -> str:
    """The payload's ``origin``: the method's own, else ``DAGSTORE_EXPORT_ORIGIN``, else the
    config file's ``[export_methods] origin``, else ``dagstore``."""
    if method.origin:
        return method.origin
    if os.environ.get(ENV_ORIGIN, "").strip():
        return os.environ[ENV_ORIGIN].strip()
    table = config.load_file().get("export_methods", {})
    value = table.get("origin") if isinstance(table, dict) else None
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ExportMethodError(f"config file {config.config_path()}: [export_methods] origin must be a non-empty text")
    return value or "dagstore"
RECORDS: RecordType[ExportMethod] = RecordType(
    "export method", layout.EXPORT_METHODS, lambda name, doc: parse_spec(name, doc, source="store"), check_name,
    missing=lambda name, _url: ExportMethodNotFoundError(f"no export method named {name!r}"))


class ExportMethods:
    """``Store.export_methods``: list, get, create, delete and test export methods."""

    def __init__(self, store: Any):
        self._store = store
        self.records = NamedRecords(store.backend, RECORDS)
        self.defined = Definitions(self.records, ("export_methods", "list"), ENV_PREFIX,
                                   lambda name, spec, source: parse_spec(name, spec, source=source), ExportMethodError,
                                   layers=debiai.LAYERS)

    def _switch(self, key: str, env: str) -> bool:
        """``DAGSTORE_…`` variable, else DebiAI's variable, else the config file's
        ``[export_methods]``, else DebiAI's config.ini, else true."""
        if os.environ.get(env, "").strip():
            return _bool(f"environment variable {env}", "value", os.environ[env])
        table = config.load_file().get("export_methods", {})
        if not isinstance(table, dict):
            raise ExportMethodError("config file: [export_methods] must be a table")
        theirs = debiai.switch(key)
        if theirs is not None and (theirs[1].startswith("environment") or key not in table):
            return theirs[0]
        return _bool(f"config file [export_methods] {key}", key, table.get(key, True))

    @property
    def creation_enabled(self) -> bool:
        return self._switch("creation", ENV_CREATION)

    @property
    def deletion_enabled(self) -> bool:
        return self._switch("deletion", ENV_DELETION)

    def list(self) -> list[ExportMethod]:
        """Every method (config file, environment, store; later wins), by name."""
        return self.defined.list()

    def get(self, name: str) -> ExportMethod:
        return self.defined.get(name)

    def create(self, name: str, spec: str | dict[str, Any]) -> ExportMethod:
        """Store a new method (refused while creation is disabled, with a literal secret, or
        when the name is defined anywhere already)."""
        if not self.creation_enabled:
            raise ExportMethodError(f"cannot create export method {name!r}: creation is disabled "
                                    f"([export_methods] creation / {ENV_CREATION}, or DebiAI's "
                                    f"[EXPORT_METHODS_CONFIG] creation / {debiai.ENV_SWITCH['creation']})")
        method = parse_spec(check_name(name), spec, source="store")
        check_secrets(method)
        source = self.defined.source(name)
        if source is not None:
            raise ConflictError(f"export method {name!r} already exists (defined in {source})")
        self.records.create(name, method.spec())
        return method

    def delete(self, name: str) -> None:
        """Remove a stored method (refused while deletion is disabled, and for methods of the
        config file or the environment)."""
        if not self.deletion_enabled:
            raise ExportMethodError(f"cannot delete export method {name!r}: deletion is disabled "
                                    f"([export_methods] deletion / {ENV_DELETION}, or DebiAI's "
                                    f"[EXPORT_METHODS_CONFIG] deletion / {debiai.ENV_SWITCH['deletion']})")
        self.defined.delete(name)

    def test(self, name: str) -> TestResult:
        """Reach the destination without sending a payload; never raises for a failing one."""
        return test_method(self._store, self.get(name))
