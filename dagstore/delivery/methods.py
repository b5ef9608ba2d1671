"""Export methods (DebiAI's): named destinations for selections and annotations.

Defined in three places, later wins: the config file (``[export_methods.list]``), the
environment (``DAGSTORE_EXPORT_METHOD_<name>``, the name kept whole) and the API
(``Store.export_methods.create``, stored in the store under ``export-methods/``). The switches
``[export_methods] creation / deletion`` and ``DAGSTORE_EXPORT_METHODS_CREATION_ENABLED`` /
``_DELETION_ENABLED`` (the environment wins) allow or refuse API creation and deletion. The
spec forms are in ``spec.py``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import config
from ..errors import ConflictError
from .errors import ExportMethodError, ExportMethodNotFoundError
from .probe import test_method
from .spec import ExportMethod, TestResult, _bool, check_name, check_secrets, parse_spec

ENV_PREFIX = "DAGSTORE_EXPORT_METHOD_"
ENV_CREATION = "DAGSTORE_EXPORT_METHODS_CREATION_ENABLED"
ENV_DELETION = "DAGSTORE_EXPORT_METHODS_DELETION_ENABLED"
STORE_PREFIX = "export-methods"


class ExportMethods:
    """``Store.export_methods``: list, get, create, delete and test export methods."""

    def __init__(self, store: Any):
        self._store = store

    # -- definitions ---------------------------------------------------------------------

    @staticmethod
    def _config_table() -> dict[str, Any]:
        table = config.load_file().get("export_methods", {})
        if not isinstance(table, dict):
            raise ExportMethodError("config file: [export_methods] must be a table")
        return table

    def _switch(self, key: str, env: str) -> bool:
        if os.environ.get(env, "").strip():
            return _bool(f"environment variable {env}", "value", os.environ[env])
        return _bool(f"config file [export_methods] {key}", key, self._config_table().get(key, True))

    @property
    def creation_enabled(self) -> bool:
        return self._switch("creation", ENV_CREATION)

    @property
    def deletion_enabled(self) -> bool:
        return self._switch("deletion", ENV_DELETION)

    def _from_config(self) -> dict[str, ExportMethod]:
        listed = self._config_table().get("list", {})
        if not isinstance(listed, dict):
            raise ExportMethodError("config file: [export_methods.list] must be a table")
        return {n: parse_spec(n, s, source="config") for n, s in listed.items()}

    @staticmethod
    def _from_env() -> dict[str, ExportMethod]:
        return {k[len(ENV_PREFIX):]: parse_spec(k[len(ENV_PREFIX):], v, source="env")
                for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIX) and len(k) > len(ENV_PREFIX)}

    def _from_store(self) -> dict[str, ExportMethod]:
        be = self._store.backend
        out = {}
        for key, data in be.read_many(be.list(STORE_PREFIX)).items():
            name = key.rsplit("/", 1)[1][: -len(".json")]
            out[name] = parse_spec(name, json.loads(data), source="store")
        return out

    def _all(self) -> dict[str, ExportMethod]:
        return {**self._from_config(), **self._from_env(), **self._from_store()}

    # -- API -----------------------------------------------------------------------------

    def list(self) -> list[ExportMethod]:
        """Every method, by name."""
        return [m for _, m in sorted(self._all().items())]

    def get(self, name: str) -> ExportMethod:
        found = self._all().get(name)
        if found is None:
            raise ExportMethodNotFoundError(f"no export method named {name!r}")
        return found

    def create(self, name: str, spec: str | dict[str, Any]) -> ExportMethod:
        """Store a new method (refused while creation is disabled, or with a literal secret)."""
        if not self.creation_enabled:
            raise ExportMethodError(f"cannot create export method {name!r}: creation is disabled "
                                    f"([export_methods] creation / {ENV_CREATION})")
        method = parse_spec(check_name(name), spec, source="store")
        check_secrets(method)
        existing = self._all().get(name)
        if existing is not None:
            raise ConflictError(f"export method {name!r} already exists (defined in {existing.source})")
        if not self._store.backend.write_new(f"{STORE_PREFIX}/{name}.json", json.dumps(method.spec()).encode()):
            raise ConflictError(f"export method {name!r} already exists (defined in store)")
        return method

    def delete(self, name: str) -> None:
        """Remove a stored method (refused while deletion is disabled, and for methods of the
        config file or the environment)."""
        if not self.deletion_enabled:
            raise ExportMethodError(f"cannot delete export method {name!r}: deletion is disabled "
                                    f"([export_methods] deletion / {ENV_DELETION})")
        if name not in self._from_store():
            method = self.get(name)
            where = f"environment variable {ENV_PREFIX}{name}" if method.source == "env" else "the config file"
            raise ExportMethodError(f"cannot delete export method {name!r}: it is defined in {where}; remove it there")
        self._store.backend.delete([f"{STORE_PREFIX}/{check_name(name)}.json"])

    def test(self, name: str) -> TestResult:
        """Reach the destination without sending a payload; never raises for a failing one."""
        return test_method(self._store, self.get(name))
