"""A cold copy planned on columns: where each wanted blob is (the version chain's pack indexes
as columns, ``core.packindex``), the ranged reads that bring them, and the threads that
decompress and verify each read's blobs before handing them to a sink. No Python object is
made per file (docs/architecture.md, "Cold copies")."""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, cast, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
import zstandard

from ..errors import IntegrityError
from . import columns as cols
from . import fetchworker, packindex, transfer
from .backend import Backend
from .cache import BlobSink
from .cache.files import BLOB_MTIME_NS
from .cache.versions import Folder
from .fetchprocs import Pool
from .gcpause import gc_paused
from .layout import pack_key
from .packs import CODEC_ZSTD, decompressor, missing_error, read_stored, short_error
from .progress import progress_bar
from .records import VersionRecord

_EMPTY = np.zeros(0, dtype=np.int64)
MAX_RANGE = 8 << 20  # stored bytes a read covers, about: bounds memory (threads x this) while keeping requests few
MAX_GAP = 1 << 20  # unwanted bytes a read may skip over rather than start another
MAX_RAW = 32 << 20  # raw bytes the blobs of one read decompress to, about (one blob more at most): bounds a read's work
WORKER_RANGE = 2 << 20  # MAX_RANGE of worker processes' reads: a read at a time each, so the last one's is the tail
LOCAL_THREADS = 2  # threads reading a local store: no latency to hide, and the GIL is shared
PROCESS_MIN = 2000  # packed blobs from which worker processes make a folder's files (two cost ~0.05 s of CPU to start)


def use_workers(backend: Backend, files: int, soft: bool, max_workers: int | None) -> bool:
    """Whether building a folder of ``files`` files from ``backend`` should start worker
    processes (``core.fetchprocs``), decided before planning so that they start meanwhile."""
    return backend.is_local and not soft and files >= PROCESS_MIN and min(LOCAL_THREADS, max_workers or LOCAL_THREADS) > 1


class Where:
    """Where some blobs are: pack indexes concatenated (16-byte hashes, pack number, offset,
    stored length, raw length, codec; a hash in several packs is read from the first) and
    large objects (hash -> backend)."""

    def __init__(self, packed: Sequence[tuple[Backend, packindex.Columns]], objects: dict[str, Backend]):
        self.packs = [c.pack for _be, c in packed]
        self.backends = [be for be, _c in packed]
        self.objects = objects
        parts = [c for _be, c in packed]
        sizes = [len(c.hashes) for c in parts]
        raw = b"".join(c.hashes.tobytes() for c in parts)
        self.hashes = pa.Array.from_buffers(cols.HASH, sum(sizes), [None, pa.py_buffer(raw)])
        self.digests = np.frombuffer(raw, dtype="V16") if raw else np.zeros(0, dtype="V16")
        self.pack = np.repeat(np.arange(len(parts), dtype=np.int64), sizes)
        self.offset, self.length, self.raw = (np.concatenate([c.ints[k].astype(np.int64) for c in parts] or [_EMPTY]) for k in range(3))
        self.codec = np.concatenate([c.codecs for c in parts] or [np.zeros(0, dtype=np.uint8)])

    @classmethod
    def of(cls, store: Any, chain: Iterable[VersionRecord]) -> Where:
        """Where the blobs of these versions are (the first version's packs first): their pack
        indexes as columns (``Store.pack_columns``) and their large objects."""
        packed: list[tuple[Backend, packindex.Columns]] = []
        objects: dict[str, Backend] = {}
        for rec in chain:
            be = store.content_backend(rec)
            packed += [(be, c) for c in store.pack_columns(be, rec.packs)]
            for h in rec.objects:
                objects.setdefault(h, be)
        return cls(packed, objects)

    def find(self, hashes: pa.Array) -> np.ndarray:
        """The row here of each of ``hashes`` (16-byte binary; null for a link), -1 where none."""
        if not len(hashes) or not len(self.hashes):
            return np.full(len(hashes), -1, dtype=np.int64)
        found = pc.index_in(hashes, value_set=self.hashes)  # (fill_null would import pandas)
        return np.where(cols.bits(found.is_valid()), cols.numbers(found), -1).astype(np.int64)


class BlobNames(Sequence[str]):
    """The blob name of each row of ``hashes`` (16-byte binary), made when asked: the hash's 32
    hex digits, else (a link, null hash) the name ``given``. A copy of many files then holds no
    string per file while worker processes make them."""

    def __init__(self, hashes: pa.Array, given: dict[int, str] | None = None):
        hashes = cols.one_array(hashes)
        buf = hashes.buffers()[1]
        self._raw = memoryview(buf)[hashes.offset * 16:(hashes.offset + len(hashes)) * 16] if buf is not None else memoryview(b"")
        self._n = len(hashes)
        self._given = given or {}

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        i = operator.index(i)
        if not -self._n <= i < self._n:
            raise IndexError("blob name index out of range")
        i %= self._n
        given = self._given.get(i)
        return given if given is not None else self._raw[16 * i:16 * i + 16].hex()


class Wanted(NamedTuple):
    """The blobs to fetch, one row each: name in the blob cache, hash (16 bytes; null for a
    link), size, URL (links only)."""

    names: Sequence[str]
    hashes: pa.Array
    sizes: np.ndarray
    urls: list[str | None]

    @classmethod
    def stored(cls, sizes: dict[str, int]) -> Wanted:
        """Stored blobs (no links) by hash -> size."""
        names = list(sizes)
        return cls(names, cols.hashes_to_array(names), np.array(list(sizes.values()), dtype=np.int64), [None] * len(names))


class _Read(NamedTuple):
    """One ranged read of a pack: bytes ``[start, end)`` holding the blobs ``[first, last)`` of the sorted plan."""

    pack: int
    start: int
    end: int
    first: int
    last: int


def sort_reads(where: Where, at: np.ndarray, max_range: int = MAX_RANGE) -> tuple[np.ndarray, list[_Read]]:
    """The order of the blobs ``at`` (rows of ``where``) by pack and offset, and the ranged
    reads that cover them in that order: neighbours share a read when the gap between them is
    at most ``MAX_GAP`` and they fall in the same ``max_range`` window of the pack (so a read
    is at most about that long), and a read's blobs decompress to at most about ``MAX_RAW``
    bytes (a well-compressed read is otherwise far more work than its length says)."""
    perm = np.lexsort((where.offset[at], where.pack[at]))
    rows = at[perm]
    pack, off = where.pack[rows], where.offset[rows]
    end = off + where.length[rows]
    cut = np.ones(len(rows), dtype=bool)
    cut[1:] = (pack[1:] != pack[:-1]) | (off[1:] - end[:-1] > MAX_GAP) | (off[1:] // max_range != off[:-1] // max_range)
    first_byte = np.cumsum(where.raw[rows]) - where.raw[rows]  # of each blob in the plan's raw bytes
    cut[1:] |= first_byte[1:] // MAX_RAW != first_byte[:-1] // MAX_RAW
    starts = np.flatnonzero(cut).tolist()
    reads = [_Read(int(pack[a]), int(off[a]), int(end[a:b].max()), a, b) for a, b in zip(starts, starts[1:] + [len(rows)])]
    return perm, reads


def fetch(
    sink: BlobSink,
    wanted: Wanted,
    where: Where,
    max_workers: int | None = None,
    show_progress: bool = True,
    link_options: Callable[[str], dict[str, Any]] | None = None,
    pool: Pool | None = None,
) -> None:
    """Bring every wanted blob into ``sink`` (the blob cache, or a folder being built), each
    verified against its hash: packed blobs by ranged reads (on a local store: by ``pool``'s
    worker processes into a folder being built, if given, else two threads; ``max_workers``
    threads on a remote one), then large objects and external links (opened with
    ``link_options(url)``: the store's credentials for links beside it). IntegrityError before
    anything is read when the store does not hold a blob as the manifest describes it."""
    workers = max_workers or transfer.DEFAULT_IO_WORKERS
    at = where.find(wanted.hashes)
    pa.default_memory_pool().release_unused()  # the join's hash table: Arrow's allocator would keep its pages
    packed = np.flatnonzero(at >= 0)
    _check_sizes(where, wanted, packed, at[packed])
    others = _unpacked(wanted, where, at)
    bar = progress_bar(int(wanted.sizes.sum()), "download", show_progress)
    try:
        used = np.unique(where.pack[at[packed]]).tolist()
        local = all(where.backends[p].is_local for p in used)
        files = {p: where.backends[p].local_path(pack_key(where.packs[p])) for p in used} if pool is not None else {}
        enough = local and min(LOCAL_THREADS, workers) > 1 and len(packed) >= PROCESS_MIN and all(files.values())
        folder = sink.folder() if pool is not None and enough else None
        perm, reads = sort_reads(where, at[packed], WORKER_RANGE if folder is not None else MAX_RANGE)
        order = at[packed][perm]  # rows of ``where``, in read order
        picked = packed[perm]  # positions in ``wanted``, in read order
        if pool is not None and folder is not None and pool.ready():
            _by_workers(pool, folder, where, order, picked, wanted.names, reads, cast("dict[int, str]", files), bar.relative_update)
            sink.written(wanted.names[i] for i in picked)  # (lazily: only a folder with content at several paths reads them)
        else:
            threads = min(min(LOCAL_THREADS, workers) if local else workers, len(reads))
            _by_threads(sink, where, order, [wanted.names[i] for i in picked.tolist()], reads, threads, bar.relative_update)

        def rest(i: int) -> None:
            name, url, size = wanted.names[i], wanted.urls[i], int(wanted.sizes[i])
            if url is None:
                transfer.get_large(sink, where.objects[name], name, size, bar.relative_update)
            else:
                transfer.get_link(sink, name, url, size, bar.relative_update, link_options(url) if link_options else None)

        _run(rest, others, min(4, workers))
    finally:
        bar.close()


def _unpacked(wanted: Wanted, where: Where, at: np.ndarray) -> list[int]:
    """The wanted blobs in no pack (large objects, links); IntegrityError for one the store lacks."""
    others = [int(i) for i in np.flatnonzero(at < 0)]
    for i in others:
        if wanted.urls[i] is None and wanted.names[i] not in where.objects:
            raise IntegrityError(f"content {wanted.names[i]} is missing from the store (run `dagstore verify`)")
    return others


def _by_threads(sink: BlobSink, where: Where, order: np.ndarray, names: list[str], reads: list[_Read], threads: int,
                update: Callable[[int], object]) -> None:
    """The reads made, and their blobs put into ``sink``, by ``threads`` threads of this process
    (``names``: each blob's, in read order)."""
    def one(read: _Read) -> None:
        put = sink.put_blob
        for name, data in zip(names[read.first:read.last], _blobs(where, order, read, names), strict=True):
            put(name, data)
        update(int(where.raw[order[read.first:read.last]].sum()))

    with gc_paused():  # a few objects per file, no cycles: a collection (GIL held) would stall both threads
        _run(one, reads, threads)


def _by_workers(pool: Pool, folder: Folder, where: Where, order: np.ndarray, picked: np.ndarray, names: Sequence[str],
                reads: list[_Read], files: dict[int, str], update: Callable[[int], object]) -> None:
    """The reads made, and their files written into ``folder``, by ``pool``'s worker processes
    (``picked``: the position in ``names``, the wanted blobs, of each blob in read order)."""

    def encode(k: int) -> bytes:
        r = reads[k]
        rows = order[r.first:r.last]
        offsets, lengths, raws = (a.astype("<i8").tobytes() for a in (where.offset[rows] - r.start, where.length[rows], where.raw[rows]))
        zstd = (where.codec[rows] == CODEC_ZSTD).astype(np.uint8).tobytes()
        return fetchworker.encode_job(k, files[r.pack], r.start, r.end, offsets, lengths, raws, zstd, where.digests[rows].tobytes(),
                                      folder.places(picked[r.first:r.last]))

    def done(k: int) -> None:
        update(int(where.raw[order[reads[k].first:reads[k].last]].sum()))

    def failed(k: int, why: list[Any]) -> BaseException:
        r = reads[k]
        pack = where.packs[r.pack]
        if why[0] in ("corrupt", "hash"):
            return _bad_blob(names[int(picked[r.first + why[1]])], pack, why[0] == "corrupt")
        if why[0] in ("missing", "short"):
            return (missing_error if why[0] == "missing" else short_error)(pack_key(pack))
        name = os.fsdecode(bytes.fromhex(why[3])) if why[3] else None
        return OSError(why[1], why[2], f"{folder.path}/{name}" if why[0] == "create" else name)

    pool.run(folder.path, folder.blobs, BLOB_MTIME_NS, len(reads), encode, done, failed)


def _bad_blob(name: str, pack: str, corrupt: bool) -> IntegrityError:
    return IntegrityError(f"blob {name} in pack {pack} " + ("is corrupt (it does not decompress)" if corrupt else "does not match its hash"))


def _run(fn: Callable[[Any], None], items: Sequence[Any], threads: int) -> None:
    """``fn`` of each item on ``threads`` threads. Once one fails (or the caller is interrupted)
    no other starts: the error is raised when those already running end, not after every read."""
    if threads <= 1:
        for item in items:
            fn(item)
        return
    stop = threading.Event()

    def guarded(item: Any) -> None:
        if not stop.is_set():
            fn(item)

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dagstore-fetch")
    try:
        for f in [pool.submit(guarded, item) for item in items]:
            f.result()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _check_sizes(where: Where, wanted: Wanted, rows: np.ndarray, at: np.ndarray) -> None:
    """IntegrityError if a packed blob's raw length is not the manifest's size, or a raw
    (uncompressed) blob's stored length is not its raw length."""
    bad = np.flatnonzero(where.raw[at] != wanted.sizes[rows])
    if len(bad):
        i, j = int(rows[bad[0]]), int(at[bad[0]])
        raise IntegrityError(f"content {wanted.names[i]}: the manifest says {int(wanted.sizes[i])} bytes, the store holds {int(where.raw[j])} (run `dagstore verify --store`)")
    bad = np.flatnonzero((where.codec[at] != CODEC_ZSTD) & (where.length[at] != where.raw[at]))
    if len(bad):
        raise IntegrityError(f"blob {wanted.names[int(rows[bad[0]])]} in pack {where.packs[int(where.pack[at[bad[0]]])]} does not match its hash")


def _blobs(where: Where, order: np.ndarray, read: _Read, names: list[str]) -> Iterator[Any]:
    """The content of the blobs of one read, one at a time, each checked against its length
    and hash before it is yielded (so it is written while its bytes are still in the CPU's
    cache, and the memory of one blob is reused for the next)."""
    pack = where.packs[read.pack]
    rows = order[read.first:read.last]
    stored = read_stored(where.backends[read.pack], pack_key(pack), read.start, read.end) if read.end > read.start else b""
    view, dec, digest = memoryview(stored), decompressor().decompress, xxhash.xxh3_128_digest
    want = where.digests[rows].tobytes()
    at = 0
    for o, n, raw, codec in zip((where.offset[rows] - read.start).tolist(), where.length[rows].tolist(), where.raw[rows].tolist(), where.codec[rows].tolist()):
        try:
            data = dec(view[o:o + n], max_output_size=raw) if codec == CODEC_ZSTD else view[o:o + n]
        except zstandard.ZstdError:
            raise _bad_blob(names[read.first + at // 16], pack, corrupt=True) from None
        if len(data) != raw or digest(data) != want[at:at + 16]:
            raise _bad_blob(names[read.first + at // 16], pack, corrupt=False)
        yield data
        at += 16
