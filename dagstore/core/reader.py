"""Reading single files of a final version without materializing it: one ranged read of a
pack for a small file, ranged reads of its object for a large one, and nothing written to
the local blob cache (only immutable metadata: manifests and pack indexes)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import fsspec

from .backend import Backend
from ..errors import IntegrityError
from .manifest import Entry
from .layout import object_key, pack_key
from .packs import BlobLocation, decode_blob, read_stored
from .store import Store

_BLOB_CACHE_BYTES = 64 << 20


class VersionReader:
    """Random access to the files of one final version."""

    def __init__(self, store: Store, version_id: str):
        self.store = store
        self.version_id = version_id
        self.state = store.state(version_id)
        self._locations: dict[str, tuple[Backend, BlobLocation | None]] | None = None
        self._blobs: OrderedDict[str, bytes] = OrderedDict()  # small read-through cache
        self._blob_bytes = 0
        self._sizes: dict[str, int] = {}  # sizes of large objects, checked against the manifest
        self._lock = threading.Lock()

    def _locate(self, blob_hash: str) -> tuple[Backend, BlobLocation | None]:
        with self._lock:
            if self._locations is None:
                self._locations = self.store.locations(self.store.chain(self.version_id))
        try:
            return self._locations[blob_hash]
        except KeyError:
            raise IntegrityError(f"content {blob_hash} is missing from the store (run `dagstore verify`)") from None

    def entry(self, path: str) -> Entry:
        try:
            return self.state[path]
        except KeyError:
            raise FileNotFoundError(f"{path} is not in version {self.version_id}") from None

    def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of a file (negative offsets count from the end, as in fsspec)."""
        e = self.entry(path)
        start, end = _clamp(start, end, e.size)
        if start >= end:
            return b""
        if e.url is not None:
            with fsspec.open(e.url, "rb", **self.store.link_options(e.url)) as f:
                f.seek(start)
                return f.read(end - start)
        if self.store.cache.blob_ok(e.hash, e.size):  # cached and not changed in place
            try:
                with open(self.store.cache.blob_path(e.hash), "rb") as f:
                    f.seek(start)
                    return f.read(end - start)
            except FileNotFoundError:
                pass
        be, loc = self._locate(e.hash)
        stored = loc.raw_length if loc is not None else self._object_size(be, e.hash)
        if stored != e.size:
            raise IntegrityError(f"{path}: the manifest of version {self.version_id} says {e.size} bytes, the store holds {stored} (run `dagstore verify --store`)")
        if loc is None:  # a large object: read just the range
            return read_stored(be, object_key(e.hash), start, end)
        return self._small_blob(e.hash, be, loc)[start:end]

    def _object_size(self, be: Backend, blob_hash: str) -> int:
        with self._lock:
            known = self._sizes.get(blob_hash)
        if known is None:
            try:
                known = be.size(object_key(blob_hash))
            except FileNotFoundError:
                raise IntegrityError(f"{object_key(blob_hash)} is missing from the store (run `dagstore verify --store`)") from None
            with self._lock:
                self._sizes[blob_hash] = known
        return known

    def _small_blob(self, blob_hash: str, be: Backend, loc: BlobLocation) -> bytes:
        with self._lock:
            data = self._blobs.get(blob_hash)
            if data is not None:
                self._blobs.move_to_end(blob_hash)
                return data
        stored = read_stored(be, pack_key(loc.pack), loc.offset, loc.offset + loc.length) if loc.length else b""
        data = decode_blob(blob_hash, stored, loc)
        with self._lock:
            self._blobs[blob_hash] = data
            self._blob_bytes += len(data)
            while self._blob_bytes > _BLOB_CACHE_BYTES and len(self._blobs) > 1:
                _, old = self._blobs.popitem(last=False)
                self._blob_bytes -= len(old)
        return data


def _clamp(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    start = 0 if start is None else (max(0, size + start) if start < 0 else min(start, size))
    end = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
    return start, end
