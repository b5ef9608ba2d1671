"""Things a user defines by name in three places, later wins: the config file, then the
environment, then the store (connectors, export methods). The one resolver of that precedence.

- config file: the table at ``section`` (``[connectors.NAME]``, ``[export_methods.list] NAME = …``);
- environment: ``<env_prefix><NAME>`` (the name is everything after the prefix, case kept);
- store: the records of ``records`` (``NamedRecords``).

A definition that cannot be made is skipped with a warning naming where it is when listing,
and is the error when it is asked for by name, so one bad definition never hides the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ... import config
from ...errors import DagstoreError
from ..decode import skip
from .named import NamedRecords


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)
SOURCES = ("config", "env", "store")


class Definitions(Generic[N]):
    """Definitions of one kind: ``make(name, raw, source)`` builds one from its config-file
    value or environment string (the store's records decode themselves)."""

    def __init__(self, records: NamedRecords[N], section: tuple[str, ...], env_prefix: str,
                 make: Callable[[str, Any, str], N], error: type[DagstoreError]):
        self.records = records
        self.section = section
        self.env_prefix = env_prefix
        self.make = make
        self.error = error

    def _config(self) -> dict[str, Any]:
        table: Any = config.load_file()
        for i, part in enumerate(self.section):
            table = table.get(part, {})
            if not isinstance(table, dict):
                raise self.error(f"config file {config.config_path()}: [{'.'.join(self.section[:i + 1])}] "
                                 "must be a table")
        return dict(table)

    def _env(self) -> dict[str, str]:
        n = len(self.env_prefix)
        return {var[n:]: value for var, value in sorted(os.environ.items())
                if var.startswith(self.env_prefix) and len(var) > n}

    def where(self, name: str, source: str) -> str:
        """Where a definition is written, for messages."""
        if source == "env":
            return f"environment variable {self.env_prefix}{name}"
        if source == "config":
            return f"config file {config.config_path()} [{'.'.join(self.section)}.{name}]"
        return f"{self.records.key(name)} in {self.records.backend.url}"

    def _made(self, name: str, raw: Any, source: str) -> N:
        try:
            return self.make(name, raw, source)
        except DagstoreError as exc:
            raise type(exc)(f"{self.where(name, source)}: {exc}") from None

    def list(self) -> list[N]:
        """Every definition by name, later source winning; unusable ones skipped with a warning."""
        found: dict[str, N] = {}
        try:
            configured = self._config()
        except DagstoreError as exc:
            configured = {}
            skip(f"config file {config.config_path()} [{'.'.join(self.section)}]", exc)
        for source, raws in (("config", configured), ("env", self._env())):
            for name, raw in raws.items():
                try:
                    found[name] = self._made(name, raw, source)
                except DagstoreError as exc:
                    skip(self.where(name, source), exc)
        found.update((item.name, item) for item in self.records.list())
        return [item for _, item in sorted(found.items())]

    def source(self, name: str) -> str | None:
        """Where the winning definition of ``name`` is (``store``, ``env``, ``config``), or None."""
        if self.records.is_name(name) and self.records.exists(name):
            return "store"
        if name in self._env():
            return "env"
        return "config" if name in self._config() else None

    def find(self, name: str) -> N | None:
        """The winning definition of ``name`` (its error if it cannot be made), or None."""
        source = self.source(name)
        if source == "store":
            return self.records.find(name)
        if source == "env":
            return self._made(name, self._env()[name], "env")
        if source == "config":
            return self._made(name, self._config()[name], "config")
        return None

    def get(self, name: str) -> N:
        found = self.find(name)
        if found is None:
            raise self.records.type.missing(name, self.records.backend.url)
        return found

    def delete(self, name: str) -> None:
        """Remove a stored definition; those of the config file or the environment are refused."""
        source = self.source(name)
        if source in ("store", None):
            self.records.delete(name)  # or its not-found error
            return
        raise self.error(f"cannot delete {self.records.type.noun} {name!r}: it is defined in "
                         f"the {self.where(name, source)}; remove it there")
