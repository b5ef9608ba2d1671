"""Packs: many small blobs, each zstd-compressed when that pays, in one write-once object.

Layout of a pack object (see docs/format.md)::

    blob_0 ... blob_n-1  header  u32le(len(header))  b"DAGPACK1"

``header`` is zstd-compressed JSON listing each blob as ``[hash, offset, length, raw_length,
codec]``; the same bytes are also stored as the pack's index object so that readers can find
a blob without opening packs. A blob is read back with one ranged read.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from operator import itemgetter
from typing import Any, cast

import numpy as np
import xxhash
import zstandard

from .backend import Backend, Spool
from ..errors import FormatError, IntegrityError
from .decode import expect, parse_object
from .hashing import hash_bytes
from .layout import index_key, pack_key
from .packindex import BlobLocation, Columns, build, of_arrays

PACK_FORMAT = 1
MAGIC = b"DAGPACK1"
TRAILER = struct.Struct("<I")
CODEC_RAW, CODEC_ZSTD = 0, 1
_CODECS = (CODEC_RAW, CODEC_ZSTD)
DEFAULT_PACK_SIZE = 16 << 20  # restic's default too: few requests, bounded memory
_BATCH_BELOW = 16 << 10  # blobs this small are compressed a batch per call (see encode_blobs)


def encode_header(blobs: Sequence[tuple[str, int, int, int, int]]) -> bytes:
    # The nonce makes every written pack unique (its id is the hash of its bytes), so a pack
    # that gc has marked is never rewritten under the same name by a later upload.
    nonce = os.urandom(8).hex()
    flat = list(chain.from_iterable(blobs))
    names = cast("list[str]", flat[0::5])  # (checked below: anything else takes json.dumps)
    joined = "".join(names) if set(map(type, names)) <= {str} else "-"
    if not blobs or joined.isascii() and joined.encode().isalnum():  # (bytes.isalnum: a table per byte, str's 40x slower)
        # json.dumps's bytes (no text to escape), formatted in one C call: W1's 9 headers took 30 ms of json
        text = '{"format":%d,"nonce":"%s","blobs":[%s]}' % (PACK_FORMAT, nonce, ",".join(['["%s",%d,%d,%d,%d]'] * len(blobs)) % tuple(flat))
    else:
        text = json.dumps({"format": PACK_FORMAT, "nonce": nonce, "blobs": [list(b) for b in blobs]}, separators=(",", ":"))
    return _compressor(1).compress(text.encode())  # level 1: half level 3's time, and W1's headers are no larger


def decode_header(pack_id: str, data: bytes) -> dict[str, BlobLocation]:
    """Blob locations from a pack header / index object (FormatError if it is malformed)."""
    what = f"index of pack {pack_id}"
    blobs = parse_object(data, what, compressed=True, known_format=PACK_FORMAT).get("blobs")
    expect(isinstance(blobs, list), what, "its blobs are not a list")
    out: dict[str, BlobLocation] = {}
    for b in cast("list[Any]", blobs):  # one pass, no call per row: an index lists ~10,000 blobs
        if not (type(b) is list and len(b) == 5 and type(b[0]) is str and type(b[1]) is int and type(b[2]) is int
                and type(b[3]) is int and b[1] >= 0 and b[2] >= 0 and b[3] >= 0 and b[4] in _CODECS):
            expect(False, what, "a blob entry is not [hash, offset, length, size, codec]")
        out[b[0]] = BlobLocation(pack_id, b[1], b[2], b[3], b[4])
    return out


def index_columns(pack_id: str, data: bytes) -> Columns:
    """A pack header / index object as ``packindex.Columns``, with ``decode_header``'s checks
    and errors, made without a Python object per blob (the checks are C-level passes over whole
    columns). A hash listed twice keeps its last location, as ``decode_header``'s dict does."""
    what = f"index of pack {pack_id}"
    blobs = parse_object(data, what, compressed=True, known_format=PACK_FORMAT).get("blobs")
    expect(isinstance(blobs, list), what, "its blobs are not a list")
    blobs = cast("list[Any]", blobs)
    bad = "a blob entry is not [hash, offset, length, size, codec]"
    expect(set(map(type, blobs)) <= {list} and set(map(len, blobs)) <= {5}, what, bad)
    hashes, offsets, lengths, raws, codecs = (list(c) for c in zip(*blobs)) if blobs else ([], [], [], [], [])
    ints = offsets + lengths + raws
    expect(set(map(type, hashes)) <= {str} and set(map(len, hashes)) <= {32} and set(map(type, ints)) <= {int}
           and set(map(_CODECS.__contains__, codecs)) <= {True} and (not ints or (min(ints) >= 0 and max(ints) < 1 << 63)), what, bad)
    last = dict(zip(hashes, range(len(hashes))))
    keep = list(last.values()) if len(last) < len(hashes) else None
    try:
        raw = bytes.fromhex("".join(hashes if keep is None else last))
    except ValueError:
        raw = b""
    expect(len(raw) == 16 * len(last), what, "a blob hash is not 32 hex digits")  # fromhex skips spaces
    table = np.array([offsets, lengths, raws], dtype=np.int64).T
    flags = np.array(codecs, dtype=np.uint8)
    return Columns(pack_id, of_arrays(raw, table if keep is None else table[keep], flags if keep is None else flags[keep]))


_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor for ``level`` (compressors are not thread-safe)."""
    cctx = getattr(_local, f"c{level}", None)
    if cctx is None:
        cctx = zstandard.ZstdCompressor(level=level)
        setattr(_local, f"c{level}", cctx)
    return cast(zstandard.ZstdCompressor, cctx)


def encode_blobs(blobs: Sequence[bytes], level: int | None) -> list[tuple[bytes, int]]:
    """``(stored bytes, codec)`` of each blob: zstd at ``level`` when it saves at least 10%,
    else raw. Thread-safe (one compressor per thread and level). Blobs under ``_BATCH_BELOW``
    are compressed in one call, so the GIL is released once per batch, not once per blob;
    larger ones one call each, as f709b55 did (one output buffer for a batch of them, ~14 MiB
    for 128 W3 files, is a fresh allocation every time)."""
    out: list[tuple[bytes, int]] = [(b, CODEC_RAW) for b in blobs]
    if level is None:
        return out
    cctx = _compressor(level)
    small = [i for i, b in enumerate(blobs) if 128 <= len(b) < _BATCH_BELOW]
    if small:
        compressed = cctx.multi_compress_to_buffer([blobs[i] for i in small], threads=1)
        for k, i in enumerate(small):
            if len(compressed[k]) <= len(blobs[i]) * 0.9:
                out[i] = (compressed[k].tobytes(), CODEC_ZSTD)  # a copy: views kept the batch's buffers (+9 MB peak for W1)
    for i, b in enumerate(blobs):
        if len(b) >= _BATCH_BELOW:
            zipped = cctx.compress(b)
            if len(zipped) <= len(b) * 0.9:
                out[i] = (zipped, CODEC_ZSTD)
    return out


class PackWriter:
    """Accumulates blobs and writes full packs (pack first, then its index) in background threads.

    Blobs stream into a ``Spool`` (a temp file on local folders, memory on object stores);
    a full pack is committed under the hash of its bytes, then its index is written, in a
    background thread. ``on_pack(pack_id, columns)`` is called after both objects exist, with
    the pack's index as ``packindex.Columns`` (the bytes the cache keeps).
    At most ``max_pending`` packs are being committed at once. The bytes themselves are written
    (and hashed) by a writer thread, one write at a time and in order, while the caller reads
    or encodes the next ones (on the project's ext4 disk the page-cache copy of a version's
    packs cost its main thread ~0.1-0.2 s); each ``add_*`` call first waits for the previous
    call's write, so ``data`` given to ``add_run`` may be reused once the next call (or ``flush``,
    ``close``) returns.
    """

    def __init__(
        self,
        backend: Backend,
        on_pack: Callable[[str, Columns], None],
        target_size: int = DEFAULT_PACK_SIZE,
        max_pending: int = 2,
    ):
        self._backend = backend
        self._on_pack = on_pack
        self._target = target_size
        self._spool: Spool | None = None
        self._hash = xxhash.xxh3_128()
        self._blobs: list[tuple[str, int, int, int, int]] = []
        self._seen: set[str] = set()
        self._size = 0
        self._pool = ThreadPoolExecutor(max_workers=max_pending, thread_name_prefix="dagstore-pack")
        self._slots = threading.Semaphore(max_pending)
        self._futures: list[Future[None]] = []
        self._spools: dict[Future[None], Spool] = {}  # each submitted pack, to abort if its commit never ran
        self._torn: BaseException | None = None  # a write into the current spool failed: its bytes are not what the hash saw
        self._writer: ThreadPoolExecutor | None = None  # the one thread that writes pieces (made on first use)
        self._writing: Future[None] | None = None  # the write in flight (at most one)

    def add_many(self, blobs: Iterable[tuple[str, bytes | memoryview, int, int]]) -> None:
        """Queue ``(hash, stored bytes, raw length, codec)`` blobs (encoded by ``encode_blobs``),
        written in few large writes."""
        pieces: list[bytes | memoryview] = []
        for blob_hash, stored, raw_length, codec in blobs:
            if blob_hash in self._seen:
                continue
            self._seen.add(blob_hash)
            if self._spool is None:
                self._spool = self._backend.open_spool("packs")
                self._hash = xxhash.xxh3_128()
            self._blobs.append((blob_hash, self._size, len(stored), raw_length, codec))
            pieces.append(stored)
            self._size += len(stored)
            if self._size >= self._target:
                self._write(pieces)
                pieces = []
                self.flush()
        self._write(pieces)

    def add_run(self, blobs: Sequence[tuple[str, int, int, int]], data: bytes | memoryview) -> None:
        """Queue blobs stored back to back in ``data``, ``(hash, stored length, raw length,
        codec)`` in order: one write per pack they fall in, no slice per blob (as ``add_many``
        would make the same packs)."""
        hashes = {b[0] for b in blobs}
        if len(hashes) < len(blobs) or not hashes.isdisjoint(self._seen):  # some already queued: blob by blob
            view, pos, items = memoryview(data), 0, []
            for h, n, raw, codec in blobs:
                items.append((h, view[pos : pos + n], raw, codec))
                pos += n
            self.add_many(items)
            return
        self._seen |= hashes
        view, pos, i = memoryview(data), 0, 0
        while i < len(blobs):
            if self._spool is None:
                self._spool = self._backend.open_spool("packs")
                self._hash = xxhash.xxh3_128()
            start = pos
            while i < len(blobs) and (pos == start or self._size < self._target):
                h, n, raw, codec = blobs[i]
                self._blobs.append((h, self._size, n, raw, codec))
                self._size += n
                pos += n
                i += 1
            self._write([view[start:pos]])
            if self._size >= self._target:
                self.flush()

    def _write(self, pieces: list[bytes | memoryview]) -> None:
        """Hand ``pieces`` to the writer thread, after the previous write (whose failure is raised)."""
        self._wait_write()
        if pieces and self._spool is not None:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dagstore-packw")
            self._writing = self._writer.submit(_write_pieces, self._spool, self._hash, pieces)

    def _wait_write(self) -> None:
        """Wait for the write in flight; a failure marks the current pack torn (never committed)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            try:
                writing.result()
            except BaseException as exc:  # a full disk may have written part of it: this pack is never committed
                self._torn = exc
                raise

    def flush(self) -> None:
        """Start writing the current pack, if any (none after a failed write: close() drops it)."""
        self._wait_write()
        if not self._blobs or self._spool is None or self._torn is not None:
            return
        self._check_failures()  # while the spool is still ours: close() aborts it (no .tmp left)
        spool, blobs = self._spool, self._blobs
        try:
            self._finish(spool, self._hash, blobs)
        except BaseException as exc:
            self._torn = exc
            raise
        self._spool, self._blobs, self._size = None, [], 0

    def adopt(self, spool: Spool, hasher: Any, blobs: list[tuple[str, int, int, int, int]]) -> None:
        """Commit as a pack of its own a spool that already holds ``blobs`` (``(hash, offset,
        stored length, raw length, codec)``, back to back from offset 0, their bytes hashed into
        ``hasher``): its header and trailer are appended here, then it is committed as ``flush``
        commits a pack. The caller's spool is this writer's from now on (committed or aborted)."""
        try:
            self._check_failures()
            self._seen.update(map(itemgetter(0), blobs))
            self._finish(spool, hasher, blobs)
        except BaseException:
            spool.abort()
            raise

    def _finish(self, spool: Spool, hasher: Any, blobs: list[tuple[str, int, int, int, int]]) -> None:
        """Append ``blobs``' header and the trailer to ``spool`` and hand it to a commit thread."""
        header = encode_header(blobs)
        for piece in (header, TRAILER.pack(len(header)) + MAGIC):
            spool.write(piece)
            hasher.update(piece)
        pack_id = hasher.hexdigest()
        self._slots.acquire()
        fut = self._pool.submit(self._commit, spool, pack_id, header, blobs)
        fut.add_done_callback(lambda _f: self._slots.release())
        self._futures.append(fut)
        self._spools[fut] = spool

    def _commit(self, spool: Spool, pack_id: str, header: bytes, blobs: list[tuple[str, int, int, int, int]]) -> None:
        try:
            spool.commit(pack_key(pack_id))
        except BaseException:
            spool.abort()
            raise
        self._backend.write(index_key(pack_id), header)  # after the pack: an index never names a missing pack
        self._on_pack(pack_id, build(pack_id, blobs))

    def _check_failures(self) -> None:
        for f in self._futures:
            if f.done() and f.exception():
                raise f.exception()  # type: ignore[misc]

    def close(self) -> None:
        """Write the last pack and wait for every write; re-raises the first failure."""
        try:
            if self._torn is not None:  # never a success: the blobs of the dropped pack are not stored
                raise self._torn
            self.flush()
            for f in self._futures:
                f.result()
        finally:
            if self._writer is not None:  # the spool is not aborted under a write in flight
                self._writer.shutdown(wait=True)
            if self._spool is not None:  # a failure before the last flush
                self._spool.abort()
            self._pool.shutdown(wait=True, cancel_futures=True)
            for fut, spool in self._spools.items():
                if fut.cancelled():  # queued behind a failure and never started: drop its temp file
                    spool.abort()


def _write_pieces(spool: Spool, hasher: Any, pieces: list[bytes | memoryview]) -> None:
    """The writer thread's job: ``pieces`` into ``spool`` and its pack's hash."""
    spool.write_many(pieces)  # no joined copy (W3: a copy of every blob cost as much as the write)
    for piece in pieces:
        hasher.update(piece)


def pack_header(pack_id: str, data: bytes | memoryview) -> bytes:
    """The header bytes of a whole pack, from its own trailer (used to verify packs)."""
    if len(data) < 12 or bytes(data[-8:]) != MAGIC:
        raise FormatError(f"pack {pack_id} has no valid trailer")
    (hlen,) = TRAILER.unpack(data[-12:-8])
    if hlen > len(data) - 12:
        raise FormatError(f"pack {pack_id} is shorter than its header says")
    return bytes(data[len(data) - 12 - hlen : len(data) - 12])


def read_stored(backend: Backend, key: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of a pack or large object that the index or manifest says exist:
    a missing object or a short read is an IntegrityError naming it."""
    try:
        data = backend.read_range(key, start, end)
    except FileNotFoundError:
        raise missing_error(key) from None
    if len(data) != end - start:
        raise short_error(key)
    return data


def missing_error(key: str) -> IntegrityError:
    return IntegrityError(f"{key} is missing from the store (run `dagstore verify --store`)")


def short_error(key: str) -> IntegrityError:
    return IntegrityError(f"{key} is shorter than its index or manifest says (run `dagstore verify --store`)")


def decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (making one per blob costs more than decoding a small blob)."""
    dctx = getattr(_local, "d", None)
    if dctx is None:
        dctx = _local.d = zstandard.ZstdDecompressor()
    return cast(zstandard.ZstdDecompressor, dctx)


def decode_blob(blob_hash: str, stored: bytes | memoryview, loc: BlobLocation) -> bytes:
    """Stored bytes of a blob to its content, checking the hash."""
    try:
        data = decompressor().decompress(stored, max_output_size=loc.raw_length) if loc.codec == CODEC_ZSTD else bytes(stored)
    except zstandard.ZstdError:
        raise IntegrityError(f"blob {blob_hash} in pack {loc.pack} is corrupt (it does not decompress)") from None
    if len(data) != loc.raw_length or hash_bytes(data) != blob_hash:
        raise IntegrityError(f"blob {blob_hash} in pack {loc.pack} does not match its hash")
    return data
