"""Small files kept, encoded, from the pass that hashed them, so that upload never reads them again.

The hashing pass hands small files' bytes to ``Staged.keep_many``, a batch at a time; a background thread
compresses them in batches (overlapping the reads, on the other core) and appends the stored
bytes to a spool: an unnamed temp file (never left behind, even by a killed process), so
memory holds only the batches in flight and an index, whatever the size of the draft. At
upload, ``Staged.find`` says where a kept blob is, ``Staged.read`` streams the found blobs
back with large sequential reads, and ``Staged.changed`` checks, beside the packing, that each
file is still exactly the one that was read: same device, inode, size, modification and change
time (one ``stat``). The stored bytes are the very bytes that were hashed, so a pack never
holds content that differs from its hash; a file changed since it was read fails the ``stat``
check and is read and verified again (and refused if its content changed). Files changed
within ``RACY_NS`` of the scan are not kept: a later edit in the same timestamp tick could
leave their ``stat`` unchanged. A spool that cannot be written (a full or read-only disk) only
means upload reads the files again.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, NamedTuple

from .packs import encode_blobs
from .scan import LocalFile

log = logging.getLogger("dagstore")

RACY_NS = 2_000_000_000
DEFAULT_BUDGET = 16 << 30  # spooled bytes per draft; past it, upload reads the files
_BATCH = 256  # files per compression call
_IN_FLIGHT = 4  # batches read but not yet spooled (bounds memory: ~4 x 256 small files)
_READ = 4 << 20  # bytes per read of the spool at upload (two buffers: one read while the other is written)

_STAT = struct.Struct("<Qq2Qq")  # size, mtime_ns, dev, ino, ctime_ns (LocalFile's order): 73 bytes a file, not a 240-byte tuple of ints
KEEP_BELOW = 32 << 10  # files this size and up are read again at upload: for them the spool's
# write and read back cost more than a second read from the page cache (W3: 20-200 KiB files)
_SHIFT = 24  # a kept blob's place as one int: offset << 24 | length << 2 | codec (a blob is < 4 MiB)


class Kept(NamedTuple):
    """Where a kept blob's stored bytes are in the spool."""

    hash: str
    offset: int
    length: int
    codec: int


class Staged:
    """Encoded content of small files hashed by this process for one draft, by hash."""

    def __init__(self, level: int | None = 1, budget: int | None = None, spool_dir: str | os.PathLike[str] | None = None):
        self.level = level
        self._budget = DEFAULT_BUDGET if budget is None else budget
        self._dir = spool_dir
        self._used = 0  # raw bytes queued + stored bytes spooled
        self._files: dict[str, tuple[str, bytes]] = {}  # local path -> (hash, packed stat when read)
        self._blobs: dict[str, int] = {}  # hash -> where its stored bytes are (see _SHIFT)
        self._batch: list[tuple[str, bytes]] = []
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(_IN_FLIGHT)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._spool: IO[bytes] | None = None
        self._end = 0
        self._failed = False

    def keep_many(self, items: Sequence[tuple[LocalFile, str, bytes]]) -> None:
        """Remember each ``(file, hash, data)``: ``data`` read from the file and hashed to
        ``hash`` (thread-safe; one call per batch of files: no call per file)."""
        if self._failed:
            return
        limit = time.time_ns() - RACY_NS
        pack, budget = _STAT.pack, self._budget
        with self._lock:  # one pass, names bound locally: this runs once per file of the draft
            files, queued, batch, used = self._files, self._queued, self._batch, self._used
            for f, blob_hash, data in items:
                n = len(data)
                if not 0 < f.ctime_ns <= limit or n != f.size or n >= KEEP_BELOW or used + n > budget:
                    continue
                files[f.path] = (blob_hash, pack(n, f.mtime_ns, f.dev, f.ino, f.ctime_ns))
                if blob_hash not in queued:
                    queued.add(blob_hash)
                    used += n
                    batch.append((blob_hash, data))
            self._used = used
            full = len(batch) >= _BATCH
        if full:
            self._submit()

    def _submit(self) -> None:
        """Hand the current batch to the encoder thread; waits while ``_IN_FLIGHT`` are queued."""
        self._slots.acquire()
        with self._lock:
            batch, self._batch = self._batch, []
            if not batch:
                self._slots.release()
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dagstore-stage")
            self._futures = [f for f in self._futures if not f.done() or f.exception()]
            self._futures.append(self._pool.submit(self._encode, batch))

    def _encode(self, batch: list[tuple[str, bytes]]) -> None:
        try:
            if self._failed:
                return
            out = encode_blobs([data for _h, data in batch], self.level)
            try:
                offset = self._append([stored for stored, _codec in out])
            except OSError as exc:
                self._give_up(exc)
                return
            kept = {}
            for (h, _data), (stored, codec) in zip(batch, out, strict=True):
                kept[h] = offset << _SHIFT | len(stored) << 2 | codec
                offset += len(stored)
            with self._lock:
                self._blobs.update(kept)
                self._used += sum(len(stored) for stored, _c in out) - sum(len(d) for _h, d in batch)
        finally:
            self._slots.release()

    def _append(self, pieces: Sequence[bytes | memoryview]) -> int:
        """Write ``pieces`` at the end of the spool (made on first use); their offset."""
        if self._spool is None:
            if self._dir is not None:
                os.makedirs(self._dir, exist_ok=True)
            self._spool = tempfile.TemporaryFile(dir=self._dir, prefix=".tmp-staged-")
        offset = self._end
        data = b"".join(pieces)
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self._spool.fileno(), view, self._end) :]
            self._end = offset + len(data) - len(view)
        return offset

    def _give_up(self, exc: OSError) -> None:
        """The spool cannot be written: keep nothing (upload reads every file again)."""
        log.info("not keeping small files' content for upload (%s): upload will read them again", exc.strerror or exc)
        with self._lock:
            self._failed = True
            self._files.clear()
            self._blobs.clear()

    def settle(self) -> None:
        """Wait until everything kept so far is spooled (re-raises an encoding failure)."""
        self._submit()
        with self._lock:
            futures, self._futures = self._futures, []
        for fut in futures:
            fut.result()

    def holds(self, path: str, blob_hash: str, level: int | None) -> bool:
        """Whether ``path`` was kept as ``blob_hash`` (``find`` may still not have it: a spool
        that failed); no wait for the spool, no system call: upload starts reading the other
        files at once."""
        kept = self._files.get(path)
        return kept is not None and kept[0] == blob_hash and level == self.level

    def find(self, path: str, blob_hash: str, level: int | None) -> Kept | None:
        """Where ``path``'s stored bytes are, if it was read, hashed to ``blob_hash`` and kept
        at compression ``level``; None if not (then read it again). Whether the file is still
        the one read is ``changed``'s question: ask it before trusting the upload."""
        kept = self._files.get(path)
        if kept is None or kept[0] != blob_hash or level != self.level:
            return None
        blob = self._blobs.get(blob_hash)
        if blob is None:
            return None
        return Kept(blob_hash, blob >> _SHIFT, blob >> 2 & ((1 << (_SHIFT - 2)) - 1), blob & 3)

    def changed(self, paths: Sequence[str]) -> list[int]:
        """The positions in ``paths`` of kept files that may have changed since they were read:
        one ``stat`` each shows another device, inode, size, modification or change time, or
        fails (paths not kept are skipped: upload reads those anyway). Takes no lock and needs
        no settled spool: it runs beside the upload, in its own thread."""
        out = []
        files, pack = self._files, _STAT.pack
        for i, path in enumerate(paths):
            kept = files.get(path)
            if kept is None:
                continue
            try:
                st = os.stat(path)
            except OSError:
                out.append(i)
                continue
            if pack(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns) != kept[1]:
                out.append(i)
        return out

    def read(self, blobs: Sequence[Kept]) -> Iterator[tuple[memoryview, list[Kept]]]:
        """The stored bytes of ``blobs`` in large sequential reads of the spool: ``(bytes, kept)``
        for each run of blobs stored back to back (in spool order, a few MiB at most), so that
        a run is packed as one piece, not sliced blob by blob. The reads alternate between two
        reused buffers (a fresh object per read raised glibc's mmap threshold, and the freed
        buffers then stayed in the process: +15 MB peak for W1), so a view stays valid while the
        next read's views are used: a ``PackWriter`` writes one run while the next is read."""
        assert self._spool is not None or not blobs
        todo = sorted(blobs, key=lambda k: k.offset)
        bufs = [memoryview(bytearray(_READ if todo else 0)) for _ in range(2)]
        i = 0
        while i < len(todo):
            bufs.reverse()
            buf = bufs[0]
            start = todo[i].offset
            j = i
            while j < len(todo) and (j == i or todo[j].offset + todo[j].length - start <= _READ):
                j += 1
            end = todo[j - 1].offset + todo[j - 1].length
            if end - start > len(buf):  # one blob larger than a read
                buf = bufs[0] = memoryview(bytearray(end - start))
            data = buf[: end - start]
            got = os.preadv(self._spool.fileno(), [data], start)  # type: ignore[union-attr]
            if got != end - start:
                raise OSError(f"the staging spool is shorter than written ({got} of {end - start} bytes)")
            run = i
            for k in range(i + 1, j + 1):  # split where a blob is not stored right after the previous one
                if k == j or todo[k].offset != todo[k - 1].offset + todo[k - 1].length:
                    lo, hi = todo[run].offset - start, todo[k - 1].offset + todo[k - 1].length - start
                    yield data[lo:hi], todo[run:k]
                    run = k
            i = j

    def close(self) -> None:
        """Forget everything (after an upload, or when the draft is gone)."""
        try:
            self.settle()
        finally:
            with self._lock:
                self._files.clear()
                self._blobs.clear()
                self._queued.clear()
                self._used = 0
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._spool is not None:
                self._spool.close()
                self._spool = None
                self._end = 0
