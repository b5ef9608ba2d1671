"""Small files kept, encoded, from the pass that hashed them, so that upload never reads them again.

The hashing pass hands small files' bytes to ``Staged.keep_many``, a batch at a time; a thread
compresses them (overlapping the reads, on the other core) and appends them to a spool, so memory
holds only the batches in flight and an index. The spool is cut into segments where
``PackWriter`` would cut the same blobs. Each segment is an unnamed file (``O_TMPFILE``, hashed as
written) of ``store``, the place ``core.stagehold.place`` chose: a local store, which upload commits
as a pack as it is when it wants every blob in it (``Staged.packs``: kept bytes written once), or
the cache's folder for an object store or a folder without unnamed files (read back and packed);
past ``_MAX_PACK_FILES`` they share one unnamed temp file in the cache. Nothing is left behind by
a killed process, unless ``hold`` named the segments for a later one (``core.stagehold``). At upload,
``held`` says which files were kept as the content to send, ``packs`` which segments are packs as
they are and which blobs to read back (``read``: large sequential reads), and ``statcheck``
checks, beside the packing, that each file is still the one read (device, inode, size,
modification and change time: one ``stat``). A file changed since it was read is read and
verified again (refused if its content changed), so a pack never holds bytes that differ from
their hash. Files changed within ``RACY_NS`` of the scan are not kept (a later edit in the same
tick could leave their ``stat`` unchanged). A spool that cannot be written only means upload
reads the files again.
"""

from __future__ import annotations

import bisect
import logging
import os
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import IO, Any, NamedTuple, TypeVar

import xxhash

from .backend import Backend, FileSpool
from .packs import DEFAULT_PACK_SIZE, encode_blobs
from .scan import LocalFile
from .statcheck import STAT, Wanted

log = logging.getLogger("dagstore")

RACY_NS = 2_000_000_000
DEFAULT_BUDGET = 16 << 30  # spooled bytes per draft; past it, upload reads the files
_BATCH = 256  # files per compression call
_IN_FLIGHT = 4  # batches read but not yet spooled (bounds memory: ~4 x 256 small files)
_READ = 4 << 20  # bytes per read of the spool at upload (two buffers: one read while the other is written)
_MAX_PACK_FILES = 128  # segments kept as unnamed files of the store (one descriptor each: ~2 GiB of packs)

KEEP_BELOW = 32 << 10  # files this size and up are read again at upload: for them the spool's
# write and read back cost more than a second read from the page cache (W3: 20-200 KiB files)

Rows = list[tuple[str, int, int, int, int]]  # a pack's blobs: (hash, offset, stored length, raw length, codec)


class Kept(NamedTuple):
    """Where a kept blob's stored bytes are in the spool, and its raw size."""

    hash: str
    offset: int
    length: int
    size: int
    codec: int


W = TypeVar("W", bound=Wanted)


class Held(NamedTuple):
    """A segment held by another process (``core.stagehold``): its spool, a hasher that saw its
    ``size`` bytes, its blobs' columns (offsets and lengths as int64 bytes)."""

    spool: FileSpool
    hasher: Any
    size: int
    hashes: list[str]
    offsets: bytes
    lengths: bytes
    sizes: bytes
    codecs: bytes


class _Segment:
    """Spooled blobs back to back, about a pack's worth: bytes ``[base, base + size)`` of the
    spool, at ``at`` in the file ``fd``; ``spool`` when that file is the store's own (then it
    holds nothing else and ``hasher`` has seen all its bytes). Its blobs as columns, in spool
    order: hashes, offsets from ``base``, stored and raw lengths, codecs."""

    __slots__ = ("fd", "at", "base", "size", "spool", "hasher", "hashes", "offsets", "lengths", "sizes", "codecs")

    def __init__(self, fd: int, at: int, base: int, spool: FileSpool | None):
        self.fd, self.at, self.base, self.spool = fd, at, base, spool
        self.size = 0
        self.hasher = xxhash.xxh3_128()
        self.hashes: list[str] = []
        self.offsets, self.lengths, self.sizes = array("q"), array("q"), array("q")
        self.codecs = bytearray()

    def rows(self) -> Rows:
        """Its blobs as a pack's rows (offsets from the segment's start)."""
        return list(zip(self.hashes, self.offsets, self.lengths, self.sizes, self.codecs))


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
        self._blobs: set[str] = set()  # hashes spooled, in segments not yet taken as packs
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
        pack, budget = STAT.pack, self._budget
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
                self._append([(h, stored, len(data), codec) for (h, data), (stored, codec) in zip(batch, out, strict=True)])
            except OSError as exc:
                self._give_up(exc)
                return
            with self._lock:
                self._blobs.update(h for h, _d in batch)
                self._used += sum(len(stored) for stored, _c in out) - sum(len(d) for _h, d in batch)
        finally:
            self._slots.release()

    def _append(self, blobs: Sequence[tuple[str, bytes, int, int]]) -> None:
        """Write the ``(hash, stored bytes, raw length, codec)`` blobs at the end of the spool,
        recorded in their segments' columns. A segment takes blobs while it is under the pack
        size (``PackWriter``'s cut), then the next one starts."""
        i = 0
        while i < len(blobs):
            last = self._segs[-1] if self._segs else None
            open_ = last is not None and last.fd >= 0 and last.size < self._target and not (last.spool and last.spool.key)
            seg = last if open_ and last is not None else self._new_segment()  # a held segment never changes
            start, size = i, seg.size
            offsets, lengths = seg.offsets, seg.lengths
            while i < len(blobs) and (i == start or size < self._target):
                n = len(blobs[i][1])
                offsets.append(size)
                lengths.append(n)
                size += n
                i += 1
            part = blobs[start:i]
            seg.hashes += [b[0] for b in part]
            seg.sizes.extend([b[2] for b in part])
            seg.codecs += bytes([b[3] for b in part])
            data = b"".join([b[1] for b in part])
            if seg.spool is not None:  # the store's file (its writes start their writeback)
                seg.spool.write_many((data,))
                seg.hasher.update(data)
            else:
                view = memoryview(data)
                while view:  # appends: the cache's file is never seeked
                    view = view[os.write(seg.fd, view) :]
            seg.size = size
            self._end = seg.base + size
            if seg.spool is None:
                self._spool_end += len(data)

    def _new_segment(self) -> _Segment:
        """The next segment: an unnamed file of the store while it can make them, else a range
        of the cache folder's temp file (made on first use)."""
        spool = None
        if self._store is not None and len(self._segs) < _MAX_PACK_FILES:
            spool = self._store.open_file_spool("packs")
            if spool is None:
                self._store = None  # this store cannot: do not ask again
        if spool is not None:
            return self._new_segment_of(spool)
        if self._spool is None:
            if self._dir is not None:
                os.makedirs(self._dir, exist_ok=True)
            self._spool = tempfile.TemporaryFile(dir=self._dir, prefix=".tmp-staged-")
        seg = _Segment(self._spool.fileno(), self._spool_end, self._end, None)
        self._segs.append(seg)
        self._bases.append(seg.base)
        return seg

    def _new_segment_of(self, spool: FileSpool) -> _Segment:
        """The next segment: ``spool``, one of the store's files."""
        seg = _Segment(spool.fd, 0, self._end, spool)
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

    def held(self, items: Sequence[W], level: int | None) -> tuple[list[W], list[bytes], list[W]]:
        """``items`` split, in one look-up each, into those whose file was kept as the content
        they name at compression ``level`` (``packs`` may still not have it: a spool that
        failed), with the stat each was read with, and the others. No wait for the spool, no
        system call: upload starts reading the other files at once."""
        if level != self.level:
            return [], [], list(items)
        kept: list[W] = []
        stats: list[bytes] = []
        others: list[W] = []
        get, keep, stat, other = self._files.get, kept.append, stats.append, others.append
        for p in items:
            f = get(p.local_path)
            if f is not None and f[0] == p.hash:
                keep(p)
                stat(f[1])
            else:
                other(p)
        return kept, stats, others

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

    def packs(self, items: Sequence[W], store: Backend, pack_size: int) -> tuple[list[tuple[tuple[FileSpool, Any, Rows] | None, list[Kept]]], list[W]]:
        """What of ``items`` (``held``'s, after ``settle``) the spool holds, by segment in spool
        order: ``(pack, [])`` for a segment that is ``store``'s unnamed file and holds only
        blobs of ``items``, cut at ``pack_size`` (a pack as it is: its spool, its bytes' hasher
        and its rows, for ``PackWriter.adopt``, which owns the file from then on: it is no
        longer this spool's), else ``(None, its blobs of items)`` to ``read`` and pack again;
        and the items whose bytes the spool does not hold (read them again)."""
        spooled = self._blobs
        rest = [p for p in items if p.hash not in spooled]
        wanted = {p.hash for p in items}
        whole = store is self._store and pack_size == self._target
        out: list[tuple[tuple[FileSpool, Any, Rows] | None, list[Kept]]] = []
        for seg in self._segs:
            if seg.fd < 0:  # taken by an earlier upload: its blobs are in ``rest``
                continue
            if whole and seg.spool is not None and wanted.issuperset(seg.hashes):
                out.append(((seg.spool, seg.hasher, seg.rows()), []))
                seg.spool, seg.fd = None, -1  # taken: a retried upload reads these files again if the pack is not stored
                with self._lock:
                    spooled.difference_update(seg.hashes)
                continue
            base = seg.base
            found = [Kept(h, base + at, n, size, codec) for h, at, n, size, codec in seg.rows() if h in wanted]
            if found:
                out.append((None, found))
        return out, rest

    def hold(self, name: Callable[[FileSpool], FileSpool | None]) -> tuple[tuple[list[str], list[str], list[bytes]], list[_Segment]]:
        """For a later process (``core.stagehold``): the segments ``name`` could name (the store's
        files), and the kept files ``(path, hash, stat when read)`` whose blobs they hold."""
        self.settle()
        held: list[_Segment] = []
        for seg in self._segs:
            spool = name(seg.spool) if seg.spool is not None and seg.fd >= 0 else None
            if spool is not None:
                seg.spool, seg.fd = spool, spool.fd
                held.append(seg)
        hashes = {h for seg in held for h in seg.hashes}
        kept = {p: v for p, v in self._files.items() if v[0] in hashes} if len(held) < len(self._segs) else self._files
        values = list(kept.values())
        return (list(kept), list(map(itemgetter(0), values)), list(map(itemgetter(1), values))), held

    def take_over(self, files: tuple[list[str], list[str], list[bytes]], segments: Sequence[Held]) -> None:
        """Start (new) from what another process held: kept files' columns (paths, hashes, stats), segments."""
        for held in segments:
            seg = self._new_segment_of(held.spool)
            seg.hasher, seg.hashes, seg.codecs = held.hasher, held.hashes, bytearray(held.codecs)
            seg.offsets.frombytes(held.offsets)
            seg.lengths.frombytes(held.lengths)
            seg.sizes.frombytes(held.sizes)
            seg.size = held.size
            self._end = seg.base + seg.size
            self._used += seg.size
        spooled = {h for seg in self._segs for h in seg.hashes}
        self._blobs |= spooled
        self._queued |= spooled
        paths, hashes, stats = files
        if spooled.issuperset(hashes):
            self._files.update(zip(paths, zip(hashes, stats)))
        else:
            self._files.update((p, (h, st)) for p, h, st in zip(paths, hashes, stats) if h in spooled)

    def _drop_segments(self, keep_held: bool = False) -> None:
        """Close every segment's file still held (the store's unnamed files vanish; held ones
        too, unless ``keep_held``) and the cache's."""
        segs, self._segs, self._bases = self._segs, [], []
        for seg in segs:
            if seg.spool is not None:
                (seg.spool.release if keep_held else seg.spool.abort)()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._end = self._spool_end = 0

    def close(self, keep_held: bool = False) -> None:
        """Forget everything (after an upload, or when the draft is gone); ``keep_held``: leave
        what ``hold`` named to a later process."""
        try:
            self.settle()
        finally:
            with self._lock:
                self._files, self._blobs, self._queued, self._used = {}, set(), set(), 0
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self._drop_segments(keep_held)
