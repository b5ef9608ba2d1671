"""A store root: version records, drafts, name/version claims, labels, content lookup, gc, verify.

The store is its own registry (no server, no database). Layout and invariants are in
docs/format.md; in short: content objects are write-once, a version's record is written
last and only once (``versions/<id>.json``), and a version number is claimed with a
put-if-absent of ``names/<name key>/<version>`` so that two writers never share one.
``Store`` is assembled from its concerns: ``registry`` (records, drafts, claims, labels),
``content`` (manifests, states, pack indexes) and ``maintenance`` (gc mark/sweep, verify).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import platformdirs

from ... import config
from ...errors import FormatError
from ..decode import parse_object
from .. import extensions, layout
from ..backend import Backend, open_backend
from ..cache import Cache
from ._root import now_iso
from .maintenance import Maintenance

STORE_FORMAT = 1


def default_store_url() -> str:
    """``DAGSTORE_URL`` (or ``url`` in the config file), else a folder in the user's data dir
    (the embedded default)."""
    return config.setting("url") or os.path.join(platformdirs.user_data_dir("dagstore"), "store")


class Store(Maintenance):
    """One store root (a local folder or any fsspec URL) plus the local cache used with it.

    ``Store()`` uses ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR`` or their defaults; pass ``url``,
    ``storage_options`` (credentials, endpoints; never persisted) and ``cache_dir`` to use
    several stores in one process.
    """

    _defaults: dict[tuple[str, str | None], Store] = {}
    _defaults_lock = threading.Lock()

    def __init__(self, url: str | None = None, storage_options: dict[str, Any] | None = None, cache_dir: str | None = None):
        if url is None:
            url = default_store_url()
            if storage_options is None:
                storage_options = config.storage_options() or None
        self.backend: Backend = open_backend(url, storage_options)
        self.url = self.backend.url
        self.storage_options = storage_options or {}
        self.cache = Cache(cache_dir)
        self._content_backends: dict[str, Backend] = {}
        self._init_marker()

    @classmethod
    def default(cls) -> Store:
        """The process-wide store for the current ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR``."""
        key = (default_store_url(), config.setting("cache_dir"))
        with cls._defaults_lock:
            if key not in cls._defaults:
                cls._defaults[key] = cls()
            return cls._defaults[key]

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def connectors(self) -> Any:
        """This store's connectors: ``create/list/get/delete/test`` (dagstore.connectors)."""
        return extensions.lookup("connectors.registry")(self)

    @property
    def datasources(self) -> Any:
        """This store's datasources: ``create/list/get/delete/test`` (dagstore.connectors)."""
        return extensions.lookup("connectors.datasources")(self)

    # Entry points of the export subsystem (dagstore.export provides them; see core.extensions).
    def download_dataset(self, dataset_id: str, dataset_version_id: str | None = None, split_id: str = "",
                         extract_to_folder: str = "data", download_file: str = "dataset.zip",
                         remove_download_file: bool = True, export_format: str | None = None,
                         overwrite: bool = False, **options: Any) -> str:
        """SeeMe's ``download_dataset`` on this store (see ``dagstore.download_dataset``)."""
        return str(extensions.lookup("export.download_dataset")(
            dataset_id, dataset_version_id, split_id, extract_to_folder, download_file, remove_download_file,
            export_format, store=self, overwrite=overwrite, **options))

    def get_export(self, job_id: str) -> Any:
        """The export job ``job_id`` (created by any process or host using this store)."""
        return extensions.lookup("export.get_export")(self, job_id)

    def list_exports(self, dataset_id: str | None = None) -> list[Any]:
        """Every export job in this store (of one version with ``dataset_id``), oldest first."""
        return list(extensions.lookup("export.list_exports")(self, dataset_id))

    def get_snapshot(self, name: str) -> Any:
        """The snapshot called ``name``."""
        return extensions.lookup("export.get_snapshot")(self, name)

    def list_snapshots(self, dataset_id: str | None = None) -> list[Any]:
        """Every snapshot in this store (of one version with ``dataset_id``), oldest first."""
        return list(extensions.lookup("export.list_snapshots")(self, dataset_id))

    # Entry points of the targets subsystem (dagstore.delivery provides them).
    @property
    def export_methods(self) -> Any:
        """Export methods: ``list/get/create/delete/test`` (dagstore.delivery)."""
        return extensions.lookup("delivery.export_methods")(self)

    @property
    def exporters(self) -> Any:
        """Exporters: ``create/list/get/delete/test/run`` (dagstore.delivery)."""
        return extensions.lookup("delivery.exporters")(self)

    def deliveries(self, method: str | None = None, dataset_id: str | None = None, status: str | None = None,
                   limit: int | None = None) -> list[Any]:
        """Recorded deliveries (selections, annotations, exporter runs), newest first."""
        return list(extensions.lookup("delivery.deliveries")(self, method=method, dataset_id=dataset_id,
                                                             status=status, limit=limit))

    def _init_marker(self) -> None:
        try:
            data = self.backend.read(layout.MARKER)
        except FileNotFoundError:
            ensure = getattr(self.backend, "ensure_root", None)
            if ensure:
                ensure()
            self.backend.write_new(layout.MARKER, json.dumps({"format": STORE_FORMAT, "created": now_iso()}).encode())
            data = self.backend.read(layout.MARKER)
        what = f"store marker {self.url}/{layout.MARKER}"
        fmt = parse_object(data, what).get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool):
            raise FormatError(f"{what} is corrupt (format {fmt!r} is not a number)")
        if fmt > STORE_FORMAT:
            raise FormatError(f"{self.url} was written by a newer dagstore (store format {fmt}, this one knows {STORE_FORMAT}); upgrade dagstore")
