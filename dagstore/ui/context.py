"""What every page of one running UI shares: the store, its indexes and blob reader, the
security settings, the per-store preview switch, and short-lived caches of version records."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dagstore import Dataset, DatasetNotFoundError, FormatError, Store
from dagstore.core import layout
from dagstore.core.decode import expect, skip
from dagstore.core.store.named import NamedRecords, RecordType

from .blobs import BlobReader
from .index import Indexes, VersionIndex

VERSION_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Options:
    """How the server was started (``dagstore ui`` flags)."""

    token: str | None = None
    read_only: bool = False
    previews: bool = True
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


def _settings_doc(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    expect(isinstance(doc.get("previews", True), bool), f"UI settings record {layout.named_key(layout.UI, name)}",
           "previews is not true or false")
    return {"previews": doc.get("previews", True)}


def _only_settings(name: str) -> str:
    if name != layout.UI_SETTINGS:
        raise DatasetNotFoundError(f"no UI record {name!r}")
    return name


SETTINGS: RecordType[dict[str, Any]] = RecordType(  # ui/settings.json, the per-store switches (docs/format.md)
    "UI settings", layout.UI, _settings_doc, _only_settings,
    missing=lambda name, url: DatasetNotFoundError(f"no UI settings in {url}"))


def store_settings(store: Store) -> dict[str, Any]:
    """The store's UI switches (``{"previews": bool}``); the defaults when never set, or when
    the record is unreadable (with a warning naming it)."""
    records = NamedRecords(store.backend, SETTINGS)
    try:
        found = records.find(layout.UI_SETTINGS)
    except FormatError as exc:
        skip(records.key(layout.UI_SETTINGS), exc)
        found = None
    return found or {"previews": True}


def set_store_previews(store: Store, enabled: bool) -> None:
    """Turn previews on or off for every UI opened on this store."""
    NamedRecords(store.backend, SETTINGS).put(layout.UI_SETTINGS, {"previews": bool(enabled)})


class UI:
    """The state of one app: store, options, caches. Thread-safe (pages run in a thread pool)."""

    RECORDS_TTL = 2.0

    def __init__(self, store: Store, options: Options):
        self.store = store
        self.options = options
        self.indexes = Indexes(store, options.storage_options)
        self.blobs = BlobReader(store)
        self.csrf = secrets.token_urlsafe(32)  # per process: pages carry it, other origins cannot read it
        self.secret = secrets.token_bytes(32)
        self._datasets: OrderedDict[str, Dataset] = OrderedDict()
        self._records: tuple[float, list[Any], list[Any]] | None = None
        self._settings: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def previews(self) -> bool:
        """Previews are on unless this server or the store turned them off."""
        if not self.options.previews:
            return False
        with self._lock:
            cached = self._settings
        if cached is None or time.monotonic() - cached[0] > 10:
            cached = (time.monotonic(), store_settings(self.store))
            with self._lock:
                self._settings = cached
        return bool(cached[1]["previews"])

    def records(self) -> tuple[list[Any], list[Any]]:
        """(final version records, drafts), re-read at most every 2 s."""
        with self._lock:
            cached = self._records
        if cached is None or time.monotonic() - cached[0] > self.RECORDS_TTL:
            cached = (time.monotonic(), self.store.records(), [d.record for d in self.store.drafts()])
            with self._lock:
                self._records = cached
        return cached[1], cached[2]

    def forget_records(self) -> None:
        with self._lock:
            self._records = None

    def dataset(self, version_id: str) -> Dataset:
        """A version by id; DatasetNotFoundError (a 404 page) for anything else."""
        if not VERSION_ID.match(version_id):
            raise DatasetNotFoundError(f"no version {version_id!r}")
        with self._lock:
            ds = self._datasets.get(version_id)
            if ds is not None:
                self._datasets.move_to_end(version_id)
                return ds
        ds = Dataset.get(dataset_id=version_id, store=self.store)
        if ds.is_final():  # drafts change: never cached
            with self._lock:
                self._datasets[version_id] = ds
                while len(self._datasets) > 64:
                    self._datasets.popitem(last=False)
        return ds

    def index(self, ds: Dataset) -> VersionIndex:
        return self.indexes.get(ds)
