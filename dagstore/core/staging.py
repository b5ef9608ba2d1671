"""Small files kept, encoded, from the pass that hashed them, so that upload never reads them again.

The hashing pass hands each small file's bytes to ``Staged.keep``; they are compressed in a
background thread (overlapping the reads) and kept in memory up to a budget. At upload,
``Staged.take`` gives them back only if the file is still exactly the one that was read:
same device, inode, size, modification and change time (one ``stat``). The stored bytes are
the very bytes that were hashed, so a pack never holds content that differs from its hash;
a file changed since it was read fails the ``stat`` check and is read and verified again
(and refused if its content changed). Files changed within ``RACY_NS`` of the scan are not
kept: a later edit in the same timestamp tick could leave their ``stat`` unchanged.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from .packs import encode_blobs
from .scan import LocalFile

RACY_NS = 2_000_000_000
DEFAULT_BUDGET = 256 << 20  # encoded bytes kept per draft; past it, upload reads the files
_BATCH = 256

Stat = tuple[int, int, int, int, int]  # dev, ino, size, mtime_ns, ctime_ns


class Staged:
    """Encoded content of small files hashed by this process for one draft, by hash."""

    def __init__(self, level: int | None = 1, budget: int | None = None):
        self.level = level
        self._budget = DEFAULT_BUDGET if budget is None else budget
        self._used = 0
        self._files: dict[str, tuple[str, Stat]] = {}  # local path -> (hash, stat when read)
        self._blobs: dict[str, tuple[bytes, int]] = {}  # hash -> (stored bytes, codec)
        self._batch: list[tuple[str, bytes]] = []
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []

    def keep(self, f: LocalFile, blob_hash: str, data: bytes) -> None:
        """Remember ``data``, read from ``f`` and hashed to ``blob_hash`` (thread-safe)."""
        if not f.ctime_ns or f.ctime_ns > time.time_ns() - RACY_NS or len(data) != f.size:
            return
        with self._lock:
            if self._used + len(data) > self._budget:
                return
            self._files[f.path] = (blob_hash, (f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns))
            if blob_hash in self._queued:
                return
            self._queued.add(blob_hash)
            self._used += len(data)
            self._batch.append((blob_hash, data))
            if len(self._batch) >= _BATCH:
                self._submit()

    def _submit(self) -> None:
        batch, self._batch = self._batch, []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dagstore-stage")
        self._futures.append(self._pool.submit(self._encode, batch))

    def _encode(self, batch: list[tuple[str, bytes]]) -> None:
        out = encode_blobs([data for _h, data in batch], self.level)
        with self._lock:
            for (h, data), (stored, codec) in zip(batch, out, strict=True):
                self._blobs[h] = (stored, codec)
                self._used += len(stored) - len(data)

    def settle(self) -> None:
        """Wait until everything kept so far is encoded (re-raises an encoding failure)."""
        with self._lock:
            if self._batch:
                self._submit()
            futures, self._futures = self._futures, []
        for fut in futures:
            fut.result()

    def take(self, path: str, blob_hash: str, size: int, level: int | None) -> tuple[bytes, int] | None:
        """``(stored bytes, codec)`` of ``path`` if it still is the file read and hashed to
        ``blob_hash``; None if it was not kept or may have changed (then read it again)."""
        kept = self._files.get(path)
        if kept is None or kept[0] != blob_hash or kept[1][2] != size or level != self.level:
            return None
        blob = self._blobs.get(blob_hash)
        if blob is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != kept[1]:
            return None
        return blob

    def close(self) -> None:
        """Forget everything (after an upload, or when the draft is gone)."""
        self.settle()
        with self._lock:
            self._files.clear()
            self._blobs.clear()
            self._queued.clear()
            self._used = 0
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
