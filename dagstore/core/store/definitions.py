"""Things a user defines by name in three places, later wins: the config file, then the
environment, then the store (connectors, export methods). The one resolver of that precedence
(with optional ``Layer``s under the first two: another product's config file or variables).

- config file: the table at ``section`` (``[connectors.NAME]``, ``[export_methods.list] NAME = …``);
- environment: ``<env_prefix><NAME>`` (the name is everything after the prefix, case kept);
- store: the records of ``records`` (``NamedRecords``).

A definition that cannot be made is skipped with a warning naming where it is when listing,
and is the error when it is asked for by name, so one bad definition never hides the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Layer:
    """One more place definitions come from (a product's own config file or variables, read
    beside dagstore's): ``load()`` gives ``{name: raw}``, ``where(name)`` says where one is
    written; ``before`` is the standard source (``config`` or ``env``) it yields to."""

    source: str
    load: Callable[[], dict[str, Any]]
    where: Callable[[str], str]
    before: str


class Definitions(Generic[N]):
    """Definitions of one kind: ``make(name, raw, source)`` builds one from its config-file
    value or environment string (the store's records decode themselves). ``layers`` add
    sources under the standard ones (DebiAI's ``config.ini`` under the config file, its
    ``DEBIAI_…`` variables under dagstore's)."""

    def __init__(self, records: NamedRecords[N], section: tuple[str, ...], env_prefix: str,
                 make: Callable[[str, Any, str], N], error: type[DagstoreError], layers: Sequence[Layer] = ()):
        self.records = records
        self.section = section
        self.env_prefix = env_prefix
        self.make = make
        self.error = error
        self.layers = tuple(layers)

    def _sources(self) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        """Every source but the store, lowest precedence first."""
        out: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        for std, load in (("config", self._config), ("env", self._env)):
            out += [(layer.source, layer.load) for layer in self.layers if layer.before == std]
            out.append((std, load))
        return out

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
        for layer in self.layers:
            if layer.source == source:
                return layer.where(name)
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
        for source, load in self._sources():
            try:
                raws = load()
            except DagstoreError as exc:
                skip(f"config file {config.config_path()} [{'.'.join(self.section)}]" if source == "config" else source, exc)
                continue
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
        for source, load in reversed(self._sources()):
            if name in load():
                return source
        return None

    def find(self, name: str) -> N | None:
        """The winning definition of ``name`` (its error if it cannot be made), or None."""
        source = self.source(name)
        if source == "store":
            return self.records.find(name)
        for src, load in self._sources():
            if src == source:
                return self._made(name, load()[name], source)
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
