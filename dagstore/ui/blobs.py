"""Reading one file of a version for a preview: a ranged read of its pack (or of its object),
located through the UI's index, never a download of the version. Bytes are checked against
the content hash (a damaged pack is an IntegrityError on that preview only)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import fsspec

from dagstore import IntegrityError, Store
from dagstore.core.layout import object_key, pack_key
from dagstore.core.packs import BlobLocation, decode_blob, read_stored

from .index import FileRow

PREVIEW_MAX_BYTES = 32 << 20  # a preview never reads more than this of one file


class BlobReader:
    """Reads files of any version of one store; keeps the last few MB of small files."""

    def __init__(self, store: Store, cache_bytes: int = 32 << 20):
        self.store = store
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._max = cache_bytes
        self._lock = threading.Lock()

    def read(self, row: FileRow, limit: int | None = None) -> bytes:
        """The file's bytes (the first ``limit`` bytes when given)."""
        end = row.size if limit is None else min(row.size, limit)
        if end > PREVIEW_MAX_BYTES:
            raise IntegrityError(f"{row.path} is too large to preview ({row.size} bytes)")
        if row.url is not None:
            with fsspec.open(row.url, "rb", **self.store.link_options(row.url)) as f:
                return bytes(f.read(end))
        if row.src is None:
            raise IntegrityError(f"content {row.hash} of {row.path} is missing from the store (run `dagstore verify`)")
        backend = self.store.content_backend(self.store.content_record(row.src))
        if row.pack is None:  # a large object: just the range
            return read_stored(backend, object_key(row.hash), 0, end)
        with self._lock:
            data = self._cache.get(row.hash)
            if data is not None:
                self._cache.move_to_end(row.hash)
                return data[:end]
        assert row.off is not None and row.len is not None and row.raw is not None and row.codec is not None
        loc = BlobLocation(row.pack, row.off, row.len, row.raw, row.codec)
        stored = read_stored(backend, pack_key(row.pack), row.off, row.off + row.len) if row.len else b""
        data = decode_blob(row.hash, stored, loc)
        with self._lock:
            self._cache[row.hash] = data
            self._bytes += len(data)
            while self._bytes > self._max and len(self._cache) > 1:
                self._bytes -= len(self._cache.popitem(last=False)[1])
        return data[:end]
