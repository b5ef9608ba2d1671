"""Content blobs and immutable metadata files in the cache."""

from __future__ import annotations

import os
import threading
import uuid

from ..._atomic import atomic_write
from ..scan import StatCache
from .files import _write_new
from .locks import Leases


class Blobs(Leases):
    """``blobs/ab/<hash>`` (read-only content), ``meta/<kind>/<name>`` and the stat cache."""

    _statcache: StatCache | None
    _blobs: str
    _added: int
    _size_lock: threading.Lock

    def read_immutable(self, kind: str, name: str) -> bytes | None:
        try:
            with open(self.root / "meta" / kind / name, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write_immutable(self, kind: str, name: str, data: bytes) -> None:
        atomic_write(self.root / "meta" / kind / name, data)

    @property
    def statcache(self) -> StatCache:
        if self._statcache is None:
            self._statcache = StatCache(self.root / "statcache.sqlite")
        return self._statcache

    def blob_path(self, blob_hash: str) -> str:
        return f"{self._blobs}/{blob_hash[:2]}/{blob_hash}"

    def has_blob(self, blob_hash: str) -> bool:
        return os.path.exists(self.blob_path(blob_hash))

    def blob_tmp(self, blob_hash: str) -> str:
        """A temp path on the blob's filesystem, for streaming large downloads into."""
        d = f"{self._blobs}/{blob_hash[:2]}"
        os.makedirs(d, exist_ok=True)
        return f"{d}/.tmp-{uuid.uuid4().hex}"

    def put_blob(self, blob_hash: str, data: bytes) -> None:
        """Store content (already verified against its hash) as a read-only blob, atomically."""
        tmp = self.blob_tmp(blob_hash)
        _write_new(tmp, data)
        os.replace(tmp, self.blob_path(blob_hash))
        self._grow(len(data))

    def adopt_blob(self, blob_hash: str, tmp: str) -> None:
        """Move a verified temp file into place as the blob."""
        os.chmod(tmp, 0o444)
        size = os.path.getsize(tmp)
        os.replace(tmp, self.blob_path(blob_hash))
        self._grow(size)

    def _grow(self, nbytes: int) -> None:
        """Add to the running size estimate that decides when to evict."""
        with self._size_lock:
            self._added += nbytes
