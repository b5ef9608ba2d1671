"""Snapshots: a named, stored selection ``(version id, filters)`` of one final version, kept
in the store as ``snapshots/<name>.json`` (put-if-absent: a name is taken once)."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConflictError, DatasetNotFoundError, DraftError, InvalidPathError
from .filters import normalize_filters

PREFIX = "snapshots/"


def _key(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or name != name.strip() or any(ord(c) < 32 for c in name):
        raise InvalidPathError(f"invalid snapshot name {name!r}")
    return f"{PREFIX}{urllib.parse.quote(name, safe='')}.json"


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

    def _dataset(self) -> Any:
        from .source import open_dataset

        return open_dataset(self.store, dataset_id=self.dataset_id)

    def export(self, export_format: str | None, target: str | os.PathLike[str], include_media: bool = True,
               overwrite: bool = False, **options: Any) -> Any:
        """``Dataset.export`` of the snapshot's version with its filters."""
        from .run import export_view
        from .source import dataset_view

        return export_view(dataset_view(self._dataset()), export_format, target, filters=self.filters,
                           include_media=include_media, overwrite=overwrite, **options)

    def create_export(self, export_format: str | None, include_media: bool = True, **options: Any) -> Any:
        """An asynchronous export job of the snapshot."""
        from .jobs import create_export

        return create_export(self._dataset(), export_format, filters=self.filters, include_media=include_media, **options)


def create_snapshot(ds: Any, name: str | None = None, filters: Mapping[str, Any] | None = None) -> Snapshot:
    """Store a snapshot of the final version ``ds``; default name ``PROJECT-NAME-at-YYYY-MM-DD-HH-MM`` (UTC)."""
    if not ds.is_final():
        raise DraftError(f"a snapshot needs a finalized version; dataset {ds.id} is still a draft")
    now = time.gmtime()
    snap = Snapshot(name or f"{ds.project}-{ds.name}-at-{time.strftime('%Y-%m-%d-%H-%M', now)}", ds.id,
                    normalize_filters(filters), time.strftime("%Y-%m-%dT%H:%M:%SZ", now), ds.store)
    if not ds.store.backend.write_new(_key(snap.name), (json.dumps(snap.to_dict(), sort_keys=True) + "\n").encode()):
        raise ConflictError(f"a snapshot named {snap.name!r} already exists; pass another name")
    return snap


def get_snapshot(store: Any, name: str) -> Snapshot:
    try:
        doc = json.loads(store.backend.read(_key(name)))
    except FileNotFoundError:
        raise DatasetNotFoundError(f"no snapshot named {name!r} in {store.url}") from None
    return Snapshot(doc["name"], doc["dataset_id"], doc["filters"], doc["created"], store)


def list_snapshots(store: Any, dataset_id: str | None = None) -> list[Snapshot]:
    """Every snapshot (of one version with ``dataset_id``), oldest first."""
    keys = [k for k in store.backend.list(PREFIX.rstrip("/")) if k.endswith(".json")]
    snaps = [json.loads(v) for v in store.backend.read_many(keys).values()]
    out = [Snapshot(d["name"], d["dataset_id"], d["filters"], d["created"], store) for d in snaps]
    return sorted((s for s in out if dataset_id is None or s.dataset_id == dataset_id), key=lambda s: (s.created, s.name))
