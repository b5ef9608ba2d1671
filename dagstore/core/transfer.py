"""Moving content: local files -> packs/objects in a store (upload), and one large object or
external link -> local blob cache (packed blobs are fetched by ``core.fetchplan``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import fsspec

from .backend import Backend, FileSpool
from .cache import BlobSink
from ..errors import IntegrityError, InvalidPathError
from .hashing import SMALL_FILE, hash_bytes, hash_file, read_small
from .gcpause import gc_paused
from .manifest import Entry
from .layout import object_key
from .packindex import Columns
from .packs import DEFAULT_PACK_SIZE, BlobLocation, PackWriter, encode_blobs
from .progress import progress_bar
from .staging import Kept, Rows, Staged
from .statcheck import StatCheck

DEFAULT_IO_WORKERS = 8
ENCODE_THREADS = 2
_SLICE = 128  # files per encode call at upload ...
_SLICE_BYTES = 16 << 20  # ... and about this many bytes (bounds the memory of each encode thread)


@dataclass(slots=True)
class Pending:
    """A blob to upload from a local file, with the stat seen when it was hashed (``ctime_ns``
    0: not known, e.g. a draft saved by an older release; then only size and mtime are checked)."""

    hash: str
    size: int
    local_path: str
    mtime_ns: int
    ctime_ns: int = 0


@dataclass
class UploadResult:
    packs: set[str] = field(default_factory=set)
    objects: set[str] = field(default_factory=set)
    bytes_sent: int = 0
    blobs_sent: int = 0
    indexes: dict[str, Columns] = field(default_factory=dict)  # of the packs written


def blob_name(e: Entry) -> str:
    """Name of an entry's content in the local blob cache (links are keyed by their URL)."""
    return e.hash if e.url is None else "link-" + hash_bytes(f"{e.url}\x00{e.size}".encode())


def _changed(p: Pending) -> InvalidPathError:
    return InvalidPathError(f"{p.local_path}: changed after it was added; add it again before uploading")


def upload(
    backend: Backend,
    index: dict[str, BlobLocation],
    pending: Sequence[Pending],
    level: int | None = 1,
    pack_size: int | None = None,
    max_workers: int | None = None,
    show_progress: bool = True,
    avoid_objects: set[str] | None = None,
    staged: Staged | None = None,
) -> UploadResult:
    """Send the content of ``pending`` files that ``backend`` does not hold yet.

    Small files are packed from ``staged`` (their bytes kept by the pass that hashed them) when
    unchanged since, else read, verified against their hash and compressed in worker threads;
    large files are streamed as their own objects. ``index`` (the reusable pack
    indexes of the backend) and existing objects are used to skip content already stored, so a
    retried upload resends nothing; objects in ``avoid_objects`` (marked by gc) are rewritten.
    """
    with gc_paused():  # a few objects per file, no cycles: collections would only walk them
        return _upload(backend, index, pending, level, pack_size, max_workers or DEFAULT_IO_WORKERS, show_progress,
                       avoid_objects or set(), staged)


def _upload(backend: Backend, index: dict[str, BlobLocation], pending: Sequence[Pending], level: int | None,
            pack_size: int | None, workers: int, show_progress: bool, avoid: set[str], staged: Staged | None) -> UploadResult:
    res = UploadResult()
    small: dict[str, Pending] = {}
    large: dict[str, Pending] = {}
    for p in pending:
        if p.hash in index:
            res.packs.add(index[p.hash].pack)
        elif p.size < SMALL_FILE:
            small.setdefault(p.hash, p)
        else:
            large.setdefault(p.hash, p)
    total = sum(p.size for p in small.values()) + sum(p.size for p in large.values())
    bar = progress_bar(total, "upload", show_progress)
    try:  # large files are copied (by the kernel, no GIL) while the small ones are packed
        with ThreadPoolExecutor(max_workers=min(4, workers), thread_name_prefix="dagstore-put") as pool:
            puts = [(p, pool.submit(_put_large, backend, p, bar, avoid)) for p in large.values()]
            try:
                if small:
                    _upload_small(backend, list(small.values()), level, pack_size, workers, res, bar, staged)
            except BaseException:
                for _p, f in puts:
                    f.cancel()
                raise
            for p, f in puts:
                if f.result():
                    res.bytes_sent += p.size
                    res.blobs_sent += 1
                res.objects.add(p.hash)
    finally:
        bar.close()
    return res


def _slices(items: list[Pending]) -> list[list[Pending]]:
    """``items`` in slices of at most ``_SLICE`` files and about ``_SLICE_BYTES``: one encode call each."""
    out: list[list[Pending]] = []
    cur: list[Pending] = []
    size = 0
    for p in items:
        cur.append(p)
        size += p.size
        if len(cur) >= _SLICE or size >= _SLICE_BYTES:
            out.append(cur)
            cur, size = [], 0
    return out + [cur] if cur else out


def _verify(p: Pending) -> bytes:
    """The content of ``p``'s file, read again: InvalidPathError if it is not what was hashed."""
    try:
        data = read_small(p.local_path, p.size)
    except OSError as exc:
        raise InvalidPathError(f"{p.local_path}: cannot read: {exc.strerror}") from None
    if len(data) != p.size or hash_bytes(data) != p.hash:
        raise _changed(p)
    return data


def _encode(chunk: list[Pending], level: int | None) -> list[tuple[Pending, bytes | memoryview, int]]:
    """Read ``chunk``'s files again, check each against its hash, and encode them."""
    datas = [_verify(p) for p in chunk]
    return [(p, stored, codec) for p, (stored, codec) in zip(chunk, encode_blobs(datas, level), strict=True)]


def _upload_small(
    backend: Backend, items: list[Pending], level: int | None, pack_size: int | None, workers: int, res: UploadResult,
    bar: fsspec.callbacks.Callback, staged: Staged | None,
) -> None:
    """Pack the small files: those ``staged`` kept from the spool, on this thread, while
    encode threads read, check and compress the others. The two go into packs of their own, and
    encoded slices are written in their order whatever thread finishes first, so a pack's files
    are the same from run to run and follow the path order (parts cut at pack boundaries).
    Whether each kept file is still the one read (one ``stat``, ``statcheck``) is checked
    beside the packing by a process of its own (many files) or a thread, and by this one once
    its packing is done (``StatCheck``); one that is not is read and verified before this returns."""
    lock = threading.Lock()  # guards ``res`` (both writers report into it)
    turn = threading.Condition()
    state = {"next": 0, "failed": False}

    def on_pack(pack_id: str, cols: Columns) -> None:
        with lock:
            res.packs.add(pack_id)
            res.indexes[pack_id] = cols

    def encode_and_put(i: int, chunk: list[Pending]) -> None:
        try:
            batch = _encode(chunk, level)
        except BaseException:
            with turn:
                state["failed"] = True
                turn.notify_all()
            raise
        with turn:
            turn.wait_for(lambda: state["next"] == i or state["failed"])
            if state["failed"]:
                return
            try:
                encoded.add_many((p.hash, stored, p.size, codec) for p, stored, codec in batch)
            except BaseException:
                state["failed"] = True
                raise
            finally:
                state["next"] += 1
                turn.notify_all()
        with lock:
            res.bytes_sent += sum(len(stored) for _p, stored, _c in batch)
            res.blobs_sent += len(batch)
        bar.relative_update(sum(p.size for p in chunk))

    maybe_kept, stats, never = staged.held(items, level) if staged is not None else ([], [], items)
    sizes = {"target_size": pack_size} if pack_size else {}
    writer = PackWriter(backend, on_pack, **sizes)
    encoded = PackWriter(backend, on_pack, **sizes)
    check: StatCheck | None = None
    # the kept files' stat check has a process or a thread of its own: on an encode thread it held one of the two for its whole run
    pool = ThreadPoolExecutor(max_workers=min(ENCODE_THREADS, workers) + bool(maybe_kept), thread_name_prefix="dagstore-encode")
    try:  # files staging never kept are read from the start, beside the kept ones being packed
        check = StatCheck(maybe_kept, stats) if staged is not None and maybe_kept else None
        moved = pool.submit(check.run) if check is not None and never and not check.in_process else None
        slices = _slices(never)
        futures = [pool.submit(encode_and_put, i, s) for i, s in enumerate(slices)]
        if staged is not None and check is not None:
            staged.settle()
            segments, rest = staged.packs(maybe_kept, backend, pack_size or DEFAULT_PACK_SIZE)
            _pack_kept(staged, segments, writer, res, lock, bar)  # first: it owns the segments taken
            futures += [pool.submit(encode_and_put, len(slices) + i, s) for i, s in enumerate(_slices(rest))]
            check.run()  # what is left of the check, on this thread: its own work is done
            if moved is not None:
                moved.result()
            again = {p.hash for p in rest}  # read and verified by the encode threads
            for i in check.changed():  # packed from the spool: read again, refused if its content is not what was hashed
                if maybe_kept[i].hash not in again:
                    _verify(maybe_kept[i])
        for f in futures:
            f.result()
    finally:
        with turn:  # after an error anywhere, slices waiting for their turn give up (none is left otherwise)
            state["failed"] = True
            turn.notify_all()
        pool.shutdown(wait=True, cancel_futures=True)
        if check is not None:
            check.close()
        try:
            writer.close()
        finally:  # its failure must not leave the other's temp pack and commit threads behind
            encoded.close()


def _pack_kept(staged: Staged, segments: list[tuple[tuple[FileSpool, Any, Rows] | None, list[Kept]]], writer: PackWriter,
               res: UploadResult, lock: threading.Lock, bar: fsspec.callbacks.Callback) -> None:
    """Pack the kept blobs in spool order (``Staged.packs``' segments): a segment of the spool
    that is already a pack of exactly these blobs in the store's own file is committed as it is
    (``PackWriter.adopt``, after the pack in progress, so packs keep the spool's order); the
    others are read back and packed a run at a time."""
    todo: list[Kept] = []

    def send(n_blobs: int, stored: int, raw: int) -> None:
        with lock:
            res.bytes_sent += stored
            res.blobs_sent += n_blobs
        bar.relative_update(raw)

    def read_todo() -> None:
        for data, run in staged.read(todo):
            writer.add_run([(k.hash, k.length, k.size, k.codec) for k in run], data)
            send(len(run), len(data), sum(k.size for k in run))
        todo.clear()

    try:
        for i, (pack, rest) in enumerate(segments):
            if pack is None:
                todo += rest
                continue
            read_todo()
            writer.flush()
            segments[i] = (None, rest)  # adopt owns its spool from here, failing or not
            writer.adopt(*pack)
            send(len(pack[2]), sum(map(itemgetter(2), pack[2])), sum(map(itemgetter(3), pack[2])))  # (map: no Python step per blob)
        read_todo()
    finally:  # after a failure: the spools taken but not adopted (unnamed files of the store) are closed
        for pack, _rest in segments:
            if pack is not None:
                pack[0].abort()


def _put_large(backend: Backend, p: Pending, bar: fsspec.callbacks.Callback, avoid: set[str]) -> bool:
    """Store one large file as its own object; False if the store holds it already.

    The copy is not hashed, so the file must be the one hashed: same size, modification and
    change time before and after the copy (the change time catches a same-size rewrite whose
    mtime was set back). A file whose change time alone moved (chmod, a hard link) is hashed
    again and copied if its content is still the same."""
    key = object_key(p.hash)
    if p.hash not in avoid and backend.exists(key):  # reuse, unless gc marked it: then rewrite it
        return False
    try:
        st = os.stat(p.local_path)
    except OSError as exc:  # deleted or unreadable since add_files: retrying cannot help
        raise InvalidPathError(f"{p.local_path}: cannot read: {exc.strerror}; add it again before uploading") from None
    if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
        raise _changed(p)
    if p.ctime_ns and st.st_ctime_ns != p.ctime_ns and hash_file(p.local_path) != (p.hash, p.size):
        raise _changed(p)
    backend.put_file(p.local_path, key, callback=bar.relative_update)
    st2 = os.stat(p.local_path)
    if (st2.st_size, st2.st_mtime_ns, st2.st_ctime_ns) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
        backend.delete([key])
        raise _changed(p)
    return True


def get_large(sink: BlobSink, be: Backend, blob_hash: str, size: int, advance: Callable[[int], None]) -> None:
    """One large object into ``sink`` through a temp file, hash-checked."""
    tmp = sink.blob_tmp(blob_hash)
    try:
        try:
            be.get_file(object_key(blob_hash), tmp, callback=advance)
        except FileNotFoundError as exc:
            if exc.filename is not None and os.fspath(exc.filename) == tmp:
                raise
            raise IntegrityError(f"{object_key(blob_hash)} is missing from the store (run `dagstore verify --store`)") from None
        if hash_file(tmp) != (blob_hash, size):
            raise IntegrityError(f"object {blob_hash} does not match its hash")
        sink.adopt_blob(blob_hash, tmp)
    finally:
        _unlink(tmp)


def get_link(sink: BlobSink, name: str, url: str, size: int, advance: Callable[[int], None], storage_options: dict | None) -> None:
    """One external file (by URL) into ``sink`` as blob ``name``, size-checked."""
    tmp = sink.blob_tmp(name)
    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as src, open(tmp, "wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
                advance(len(chunk))
        if os.path.getsize(tmp) != size:
            raise IntegrityError(f"external file {url} changed size since it was added")
        sink.adopt_blob(name, tmp)
    finally:
        _unlink(tmp)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def send_blobs(backend: Backend, index: dict[str, BlobLocation], blobs: Sequence[tuple[str, bytes]], level: int | None = 1,
               pack_size: int | None = None, avoid_objects: set[str] | None = None) -> UploadResult:
    """Send content held in memory, ``(hash, bytes)`` (hashed with ``hash_bytes`` by the caller),
    that ``backend`` does not hold yet: small blobs packed, large ones as their own objects. No
    local file is written or read (a table's rows, docs/format.md "Tabular versions")."""
    res = UploadResult()
    small: dict[str, bytes] = {}
    for h, data in blobs:
        if h in index:
            res.packs.add(index[h].pack)
        elif len(data) >= SMALL_FILE:
            if h in res.objects:
                continue
            if h in (avoid_objects or ()) or not backend.exists(object_key(h)):
                backend.write(object_key(h), data)
                res.bytes_sent += len(data)
                res.blobs_sent += 1
            res.objects.add(h)
        else:
            small.setdefault(h, data)
    writer = PackWriter(backend, lambda pack_id, _cols: res.packs.add(pack_id), **({"target_size": pack_size} if pack_size else {}))
    try:
        todo = list(small.items())
        for i in range(0, len(todo), 4096):
            chunk = todo[i : i + 4096]
            encoded = encode_blobs([d for _h, d in chunk], level)
            writer.add_many((h, stored, len(d), codec) for (h, d), (stored, codec) in zip(chunk, encoded, strict=True))
            res.bytes_sent += sum(len(stored) for stored, _c in encoded)
            res.blobs_sent += len(chunk)
    finally:
        writer.close()
    return res
