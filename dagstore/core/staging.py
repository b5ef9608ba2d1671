"""Small files kept, encoded, from the pass that hashed them, so that upload never reads them again.

The hashing pass hands small files' bytes to ``Staged.keep_many``, a batch at a time; a background thread
compresses them in batches (overlapping the reads, on the other core) and appends the stored
bytes to a spool, so memory holds only the batches in flight and an index, whatever the size
of the draft. The spool is cut into segments of a pack's size, cut where ``PackWriter`` would
cut the same blobs. On a local store each segment is an unnamed file of the store itself
(``Backend.open_file_spool``: ``O_TMPFILE``, hashed as it is written), which upload commits as
a pack as it is when it wants every blob in it (``Staged.packs``): the kept bytes are written
once, never read back and copied again. Elsewhere (object stores, file systems without
unnamed files, past ``_MAX_PACK_FILES``) the segments share one unnamed temp file in the cache
folder. Either way nothing is left behind, even by a killed process. At upload, ``Staged.find``
says where a kept blob is, ``Staged.read`` streams the found blobs back with large sequential
reads, and ``Staged.changed`` checks, beside the packing, that each file is still exactly the
one that was read: same device, inode, size, modification and change time (one ``stat``). The
stored bytes are the very bytes that were hashed, so a pack never holds content that differs
from its hash; a file changed since it was read fails the ``stat`` check and is read and
verified again (and refused if its content changed). Files changed within ``RACY_NS`` of the
scan are not kept: a later edit in the same timestamp tick could leave their ``stat``
unchanged. A spool that cannot be written (a full or read-only disk) only means upload reads
the files again.
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, NamedTuple

import xxhash

from .backend import Backend, FileSpool
from .packs import DEFAULT_PACK_SIZE, encode_blobs
from .scan import LocalFile

log = logging.getLogger("dagstore")

RACY_NS = 2_000_000_000
DEFAULT_BUDGET = 16 << 30  # spooled bytes per draft; past it, upload reads the files
_BATCH = 256  # files per compression call
_IN_FLIGHT = 4  # batches read but not yet spooled (bounds memory: ~4 x 256 small files)
_READ = 4 << 20  # bytes per read of the spool at upload (two buffers: one read while the other is written)
_CHECK = 2048  # files per chunk of the stat check (the unit its thread and upload's own thread share)
_MAX_PACK_FILES = 128  # segments kept as unnamed files of the store (one descriptor each: ~2 GiB of packs)

_STAT = struct.Struct("<Qq2Qq")  # size, mtime_ns, dev, ino, ctime_ns (LocalFile's order): 73 bytes a file, not a 240-byte tuple of ints
KEEP_BELOW = 32 << 10  # files this size and up are read again at upload: for them the spool's
# write and read back cost more than a second read from the page cache (W3: 20-200 KiB files)
_SHIFT = 24  # a kept blob's place as one int: offset << 24 | length << 2 | codec (a blob is < 4 MiB)

Rows = list[tuple[str, int, int, int, int]]  # a pack's blobs: (hash, offset, stored length, raw length, codec)


class Kept(NamedTuple):
    """Where a kept blob's stored bytes are in the spool."""

    hash: str
    offset: int
    length: int
    codec: int


class _Segment:
    """Spooled blobs back to back, about a pack's worth: bytes ``[base, base + size)`` of the
    spool, at ``at`` in the file ``fd``; ``spool`` when that file is the store's own (then it
    holds nothing else and ``hasher`` has seen all its bytes)."""

    __slots__ = ("fd", "at", "base", "size", "count", "spool", "hasher")

    def __init__(self, fd: int, at: int, base: int, spool: FileSpool | None):
        self.fd, self.at, self.base, self.spool = fd, at, base, spool
        self.size = self.count = 0
        self.hasher = xxhash.xxh3_128()


class Staged:
    """Encoded content of small files hashed by this process for one draft, by hash."""

    def __init__(self, level: int | None = 1, budget: int | None = None, spool_dir: str | os.PathLike[str] | None = None,
                 store: Backend | None = None, pack_size: int = DEFAULT_PACK_SIZE):
        self.level = level
        self._budget = DEFAULT_BUDGET if budget is None else budget
        self._dir = spool_dir
        self._store = store  # segments become its unnamed files while it can make them
        self._target = pack_size
        self._used = 0  # raw bytes queued + stored bytes spooled
        self._files: dict[str, tuple[str, bytes]] = {}  # local path -> (hash, packed stat when read)
        self._blobs: dict[str, int] = {}  # hash -> where its stored bytes are (see _SHIFT)
        self._batch: list[tuple[str, bytes]] = []
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(_IN_FLIGHT)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._spool: IO[bytes] | None = None  # the cache folder's temp file, for segments not in the store
        self._spool_end = 0
        self._segs: list[_Segment] = []
        self._bases: list[int] = []  # each segment's base (ascending), to find a blob's segment
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
                offsets = self._append([stored for stored, _codec in out])
            except OSError as exc:
                self._give_up(exc)
                return
            kept = {}
            for (h, _data), (stored, codec), offset in zip(batch, out, offsets, strict=True):
                kept[h] = offset << _SHIFT | len(stored) << 2 | codec
            with self._lock:
                self._blobs.update(kept)
                self._used += sum(len(stored) for stored, _c in out) - sum(len(d) for _h, d in batch)
        finally:
            self._slots.release()

    def _append(self, stored: Sequence[bytes]) -> list[int]:
        """Write the ``stored`` blobs at the end of the spool; their offsets. A segment takes
        blobs while it is under the pack size (``PackWriter``'s cut), then the next one starts."""
        offsets: list[int] = []
        i = 0
        while i < len(stored):
            last = self._segs[-1] if self._segs else None
            seg = last if last is not None and last.fd >= 0 and last.size < self._target else self._new_segment()
            start, size = i, seg.size
            while i < len(stored) and (i == start or size < self._target):
                offsets.append(seg.base + size)
                size += len(stored[i])
                i += 1
            data = b"".join(stored[start:i])
            if seg.spool is not None:  # the store's file (its writes start their writeback)
                seg.spool.write_many((data,))
                seg.hasher.update(data)
            else:
                view = memoryview(data)
                while view:  # appends: the cache's file is never seeked
                    view = view[os.write(seg.fd, view) :]
            seg.size, seg.count = size, seg.count + i - start
            self._end = seg.base + size
            if seg.spool is None:
                self._spool_end += len(data)
        return offsets

    def _new_segment(self) -> _Segment:
        """The next segment: an unnamed file of the store while it can make them, else a range
        of the cache folder's temp file (made on first use)."""
        spool = None
        if self._store is not None and len(self._segs) < _MAX_PACK_FILES:
            spool = self._store.open_file_spool("packs")
            if spool is None:
                self._store = None  # this store cannot: do not ask again
        if spool is not None:
            seg = _Segment(spool.fd, 0, self._end, spool)
        else:
            if self._spool is None:
                if self._dir is not None:
                    os.makedirs(self._dir, exist_ok=True)
                self._spool = tempfile.TemporaryFile(dir=self._dir, prefix=".tmp-staged-")
            seg = _Segment(self._spool.fileno(), self._spool_end, self._end, None)
        self._segs.append(seg)
        self._bases.append(seg.base)
        return seg

    def _give_up(self, exc: OSError) -> None:
        """The spool cannot be written: keep nothing (upload reads every file again)."""
        log.info("not keeping small files' content for upload (%s): upload will read them again", exc.strerror or exc)
        with self._lock:
            self._failed = True
            self._files.clear()
            self._blobs.clear()
        self._drop_segments()  # their space is freed at once

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
        todo = sorted(blobs, key=lambda k: k.offset)
        bufs = [memoryview(bytearray(_READ if todo else 0)) for _ in range(2)]
        i = 0
        while i < len(todo):
            bufs.reverse()
            buf = bufs[0]
            start = todo[i].offset
            seg = self._segs[bisect.bisect_right(self._bases, start) - 1]
            j = i
            while j < len(todo) and (j == i or (todo[j].offset + todo[j].length - start <= _READ
                                                and todo[j].offset < seg.base + seg.size)):
                j += 1
            end = todo[j - 1].offset + todo[j - 1].length
            if end - start > len(buf):  # one blob larger than a read
                buf = bufs[0] = memoryview(bytearray(end - start))
            data = buf[: end - start]
            got = os.preadv(seg.fd, [data], seg.at + start - seg.base)
            if got != end - start:
                raise OSError(f"the staging spool is shorter than written ({got} of {end - start} bytes)")
            run = i
            for k in range(i + 1, j + 1):  # split where a blob is not stored right after the previous one
                if k == j or todo[k].offset != todo[k - 1].offset + todo[k - 1].length:
                    lo, hi = todo[run].offset - start, todo[k - 1].offset + todo[k - 1].length - start
                    yield data[lo:hi], todo[run:k]
                    run = k
            i = j

    def packs(self, blobs: Sequence[tuple[Kept, int]], store: Backend, pack_size: int) -> list[tuple[tuple[FileSpool, Any, Rows] | None, list[Kept]]]:
        """``blobs`` (found, with their raw lengths) by segment, in spool order: ``(pack, [])``
        for a segment that is ``store``'s unnamed file and holds exactly these blobs, cut at
        ``pack_size`` (a pack as it is: its spool, its bytes' hasher and its rows, for
        ``PackWriter.adopt``, which owns the file from then on: it is no longer this spool's),
        else ``(None, its blobs)`` to ``read`` and pack again."""
        by_seg: dict[int, list[tuple[Kept, int]]] = {}
        bases = self._bases
        for k, raw in blobs:
            by_seg.setdefault(bisect.bisect_right(bases, k.offset) - 1, []).append((k, raw))
        out: list[tuple[tuple[FileSpool, Any, Rows] | None, list[Kept]]] = []
        for n in sorted(by_seg):
            seg, items = self._segs[n], by_seg[n]
            if seg.spool is None or store is not self._store or pack_size != self._target or len(items) != seg.count:
                out.append((None, [k for k, _raw in items]))
                continue
            items.sort(key=lambda kr: kr[0].offset)
            out.append(((seg.spool, seg.hasher, [(k.hash, k.offset - seg.base, k.length, raw, k.codec) for k, raw in items]), []))
            seg.spool, seg.fd = None, -1  # taken: a retried upload reads these files again if the pack is not stored
            with self._lock:
                for k, _raw in items:
                    self._blobs.pop(k.hash, None)
        return out

    def _drop_segments(self) -> None:
        """Close every segment's file still held (the store's unnamed files vanish) and the cache's."""
        segs, self._segs, self._bases = self._segs, [], []
        for seg in segs:
            if seg.spool is not None:
                seg.spool.abort()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._end = self._spool_end = 0

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
            self._drop_segments()


class StatCheck:
    """``Staged.changed`` over many paths, in chunks that any thread may take: a thread started
    beside the packing, and the packing thread once its own work is done. (On 2 cores a thread
    of system calls beside a busy Python thread mostly waits for the GIL: W1's 50,000 ``stat``
    calls took that thread 0.64 s beside upload's packing, 0.15 s alone, and upload waited for it.)"""

    def __init__(self, staged: Staged, paths: Sequence[str]):
        self._staged, self._paths = staged, paths
        self._lock = threading.Lock()
        self._next = 0
        self._found: list[int] = []

    def run(self) -> None:
        """Check chunks until none is left (from any number of threads at once)."""
        while True:
            with self._lock:
                i = self._next
                self._next += _CHECK
            if i >= len(self._paths):
                return
            found = self._staged.changed(self._paths[i : i + _CHECK])
            with self._lock:
                self._found += [i + k for k in found]

    def changed(self) -> list[int]:
        """The positions of the paths that may have changed (once every ``run`` has returned)."""
        return sorted(self._found)
