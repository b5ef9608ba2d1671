"""Snapshots: a named, stored selection ``(version id, filters)`` of one final version, kept
in the store as records ``snapshots/<name>.json`` (put-if-absent: a name is taken once)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..core import layout
from ..core.decode import expect
from ..core.ops import lookup
from ..core.store.named import NamedRecords, RecordType
from ..core.version import Version
from ..errors import ConflictError, DatasetNotFoundError, DraftError, InvalidPathError
from .filters import normalize_filters
from .jobs import ExportJob, create_export
from .run import export_view
from .source import version_view


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or name != name.strip() or any(ord(c) < 32 for c in name):
        raise InvalidPathError(f"invalid snapshot name {name!r}")
    return name


@dataclass(frozen=True)
class Snapshot:
    """A stored selection of one final version: exporting it always yields the same items."""

    name: str
    dataset_id: str
    filters: dict[str, Any]
    created: str
    store: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dataset_id": self.dataset_id, "filters": self.filters, "created": self.created}

    def _version(self) -> Version:
        return lookup.get(self.store, self.dataset_id)

    def export(self, export_format: str | None, target: str | os.PathLike[str], include_media: bool = True,
               overwrite: bool = False, **options: Any) -> Any:
        """``Dataset.export`` of the snapshot's version with its filters."""
        return export_view(version_view(self._version()), export_format, target, filters=self.filters,
                           include_media=include_media, overwrite=overwrite, **options)

    def create_export(self, export_format: str | None, include_media: bool = True, **options: Any) -> ExportJob:
        """An asynchronous export job of the snapshot."""
        return create_export(self._version(), export_format, filters=self.filters, include_media=include_media, **options)


def _decode(name: str, doc: dict[str, Any]) -> Snapshot:
    what = f"snapshot record {layout.named_key(layout.SNAPSHOTS, name)}"
    expect(doc["name"] == name and isinstance(doc["dataset_id"], str) and isinstance(doc["created"], str), what,
           "its name, dataset_id or created is not valid")
    expect(isinstance(doc["filters"], dict), what, "filters is not an object")
    return Snapshot(name, doc["dataset_id"], doc["filters"], doc["created"])


RECORDS: RecordType[Snapshot] = RecordType(
    "snapshot", layout.SNAPSHOTS, _decode, _check_name, taken_hint="pass another name",
    missing=lambda name, url: DatasetNotFoundError(f"no snapshot named {name!r} in {url}"))


def create_snapshot(v: Version, name: str | None = None, filters: Mapping[str, Any] | None = None) -> Snapshot:
    """Store a snapshot of the final version ``v``; default name ``PROJECT-NAME-at-YYYY-MM-DD-HH-MM``
    (UTC), with ``-2``, ``-3``… when that minute's name is taken."""
    if not v.is_final():
        raise DraftError(f"a snapshot needs a finalized version; dataset {v.id} is still a draft")
    now = time.gmtime()
    base = name or f"{v.project}-{v.name}-at-{time.strftime('%Y-%m-%d-%H-%M', now)}"
    records = NamedRecords(v.store.backend, RECORDS)
    n = 1
    while True:
        snap = Snapshot(base if n == 1 else f"{base}-{n}", v.id, normalize_filters(filters),
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", now), v.store)
        try:
            records.create(snap.name, snap.to_dict())
            return snap
        except ConflictError:
            if name:  # a name the caller chose is taken once; a default one gets -2, -3, ...
                raise
        n += 1


def get_snapshot(store: Any, name: str) -> Snapshot:
    return replace(NamedRecords(store.backend, RECORDS).get(name), store=store)


def delete_snapshot(store: Any, name: str) -> None:
    """Remove the snapshot called ``name`` (its version and the exports made of it stay)."""
    NamedRecords(store.backend, RECORDS).delete(name)


def list_snapshots(store: Any, dataset_id: str | None = None) -> list[Snapshot]:
    """Every snapshot (of one version with ``dataset_id``), oldest first."""
    out = [replace(s, store=store) for s in NamedRecords(store.backend, RECORDS).list()
           if dataset_id is None or s.dataset_id == dataset_id]
    return sorted(out, key=lambda s: (s.created, s.name))
