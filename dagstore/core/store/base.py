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
from typing import Any, Self

import platformdirs

from ... import config
from ...errors import FormatError
from ..decode import parse_object
from .. import layout
from ..backend import Backend, open_backend
from ..cache import Cache
from ..packindex import Columns
from ._root import now_iso
from .maintenance import Maintenance

STORE_FORMAT = 1


def default_store_url() -> str:
    """``DAGSTORE_URL`` (or ``url`` in the config file), else a folder in the user's data dir
    (the embedded default)."""
    return config.setting("url") or os.path.join(platformdirs.user_data_dir("dagstore"), "store")


class Store(Maintenance):
    """One store root (a local folder or any fsspec URL) plus the local cache used with it.
    Storage members only: ``dagstore.Store`` (``api.store``) adds the subsystems' members.

    ``Store()`` uses ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR`` or their defaults; pass ``url``,
    ``storage_options`` (credentials, endpoints; never persisted) and ``cache_dir`` to use
    several stores in one process.
    """

    _defaults: dict[tuple[type, str, str | None], Store] = {}
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
        self._written_indexes: dict[tuple[str, str], Columns] = {}
        self._init_marker()

    @classmethod
    def default(cls) -> Self:
        """The process-wide store (of this class) for the current ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR``."""
        key = (cls, default_store_url(), config.setting("cache_dir"))
        with cls._defaults_lock:
            store = cls._defaults.get(key)
            if store is None:
                store = cls._defaults[key] = cls()
            assert isinstance(store, cls)
            return store

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

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
