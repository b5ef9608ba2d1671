"""Named JSON records kept in a store: connectors, datasources, export methods, exporters,
snapshots, export jobs and deliveries are each a ``RecordType`` over ``NamedRecords``.

A record is ``<prefix>/<name>.json`` (``layout.named_key``). ``create`` is put-if-absent (a
taken name is a ConflictError), ``put`` replaces (records a worker rewrites), ``find``/``get``
read one through ``core/decode.py`` (a malformed record is a FormatError naming its key), and
listings skip a malformed record with a warning naming its key, so one bad record never hides
the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ...errors import ConflictError, DagstoreError, FormatError
from .. import layout
from ..backend import Backend
from ..decode import decoding, parse_object, skip

T = TypeVar("T")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_name(name: str, noun: str, error: type[DagstoreError] = DagstoreError) -> str:
    """The one rule for names users give records (connectors, datasources, exporters, …):
    letters, digits and ``_ . -``, starting with a letter or digit, at most 128."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise error(f"invalid {noun} name {name!r}: use letters, digits and _ . - "
                    "(starting with a letter or digit, up to 128)")
    return name


@dataclass(frozen=True)
class RecordType(Generic[T]):
    """One kind of record: ``noun`` names it in messages, ``prefix`` is its folder, ``check``
    validates a name (raising the type's own error), ``decode(name, doc)`` turns a stored JSON
    object into its value (any raw error there becomes a FormatError naming the key)."""

    noun: str
    prefix: str
    decode: Callable[[str, dict[str, Any]], T]
    check: Callable[[str], str]
    missing: Callable[[str, str], DagstoreError]  # (name, store url) -> the type's not-found error
    known_format: int | None = None
    taken_hint: str = "delete it first"


class NamedRecords(Generic[T]):
    """The records of one type in one store."""

    def __init__(self, backend: Backend, rtype: RecordType[T]):
        self.backend = backend
        self.type = rtype

    def key(self, name: str) -> str:
        return layout.named_key(self.type.prefix, self.type.check(name))

    def is_name(self, name: str) -> bool:
        """Whether ``name`` is a valid name of this type (so it may be stored)."""
        try:
            self.type.check(name)
        except DagstoreError:
            return False
        return True

    def _encode(self, doc: dict[str, Any]) -> bytes:
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    def create(self, name: str, doc: dict[str, Any]) -> None:
        """Store a new record (put-if-absent); ConflictError when the name is taken."""
        if not self.backend.write_new(self.key(name), self._encode(doc)):
            raise ConflictError(f"{self.type.noun} {name!r} already exists in {self.backend.url}; {self.type.taken_hint}")

    def put(self, name: str, doc: dict[str, Any]) -> None:
        """Create or replace a record whole."""
        self.backend.write(self.key(name), self._encode(doc))

    def decode(self, key: str, data: bytes) -> T:
        """One stored record; FormatError naming ``key`` when it is malformed."""
        what = f"{self.type.noun} record {key}"
        doc = parse_object(data, what, known_format=self.type.known_format)
        with decoding(what):
            try:
                return self.type.decode(layout.named_name(key), doc)
            except FormatError:
                raise
            except DagstoreError as exc:  # e.g. an unknown connector type: still this record's fault
                raise FormatError(f"{what} is corrupt ({exc})") from None

    def find(self, name: str) -> T | None:
        """The record called ``name``, or None."""
        key = self.key(name)
        try:
            data = self.backend.read(key)
        except FileNotFoundError:
            return None
        return self.decode(key, data)

    def get(self, name: str) -> T:
        """The record called ``name``; the type's not-found error if there is none."""
        found = self.find(name)
        if found is None:
            raise self.type.missing(name, self.backend.url)
        return found

    def exists(self, name: str) -> bool:
        return self.backend.exists(self.key(name))

    def delete(self, name: str) -> None:
        """Remove the record; the type's not-found error if there is none."""
        key = self.key(name)
        if not self.backend.exists(key):
            raise self.type.missing(name, self.backend.url)
        self.backend.delete([key])

    def keys(self) -> list[str]:
        """The keys of every record, sorted."""
        return sorted(k for k in self.backend.list(self.type.prefix) if layout.is_named_key(k))

    def iter(self, keys: list[str] | None = None, batch: int = 0) -> Iterator[T]:
        """The records of ``keys`` (default: all, sorted), read ``batch`` at a time (0: at once),
        a malformed one skipped with a warning naming its key."""
        keys = self.keys() if keys is None else keys
        step = batch or len(keys) or 1
        for i in range(0, len(keys), step):
            chunk = keys[i:i + step]
            got = self.backend.read_many(chunk)
            for key in chunk:
                if key not in got:  # deleted since it was listed
                    continue
                try:
                    yield self.decode(key, got[key])
                except DagstoreError as exc:  # one bad record never hides the others
                    skip(key, exc)

    def list(self) -> list[T]:
        """Every readable record, in key order."""
        return list(self.iter())
