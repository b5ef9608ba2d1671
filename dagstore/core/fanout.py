"""Work fanned out over any ``concurrent.futures.Executor`` (a local process pool, Dask's
``Client.get_executor()``, ...): split into tasks, run them, merge their fragments.

The pattern is Lance's distributed write: each task carries only picklable data (the store
URL and its ``storage_options``, file paths and sizes), reopens the store in the worker,
reads, hashes, packs and uploads its share (content-addressed, put-if-absent: a retried
task rewrites nothing another attempt stored) and returns a small ``Fragment``; the driver
merges the fragments and writes the one record that makes a version visible. Workers never
write records, drafts or claims.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..secrets import redact_url
from ..errors import DagstoreError, FormatError, StorageError
from . import layout, transfer
from .backend import Backend, open_backend
from .hashing import SMALL_FILE
from .gcpause import gc_paused
from .packindex import Columns
from .packs import BlobLocation, PackWriter, encode_blobs
from .scan import LocalFile, StatCache, hash_list
from .store import Store

TASK_FILES = 10_000  # files per task: the scheduler's per-task overhead (~ms) stays negligible
TASK_BYTES = 256 << 20  # bytes per task: a failed task costs little to redo
_BATCH_FILES, _BATCH_BYTES = 256, 8 << 20  # blobs per compression call (bounds the bytes held)

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[Executor | None]:
    """The executor of ``--workers N`` (a pool of N local processes, spawned: no inherited
    threads or locks) or ``--scheduler ADDRESS`` (a Dask distributed scheduler), or None."""
    if workers and scheduler:
        raise DagstoreError("give --workers or --scheduler, not both")
    if workers:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
        return
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise DagstoreError("--scheduler needs Dask distributed: pip install 'dagstore[dask]'") from None
    try:
        client = Client(scheduler, timeout=10)
    except OSError as exc:
        raise StorageError(f"cannot reach the Dask scheduler at {redact_url(scheduler)}: {exc}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()


def worker_count(executor: Executor) -> int:
    """How many tasks ``executor`` runs at once, where it says (a process pool, a Dask client's
    executor), else 1: used to give every worker the same number of slices."""
    client = getattr(executor, "_client", None)
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - a count is only a hint
            return 1
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def slices(total: int, executor: Executor) -> list[tuple[int, int]]:
    """``[start, end)`` ranges over ``total`` items: about ``TASK_FILES`` each, their number a
    multiple of the executor's workers so that each gets the same share."""
    workers = worker_count(executor)
    n = max(1, -(-total // TASK_FILES))
    n = min(total, -(-n // workers) * workers) or 1
    return [(k * total // n, (k + 1) * total // n) for k in range(n)]


def split(items: Sequence[T], size_of: Callable[[T], int], max_items: int | None = None, max_bytes: int | None = None) -> list[list[T]]:
    """Contiguous tasks of at most ``max_items`` items and about ``max_bytes`` bytes (an item
    larger than that is a task of its own), in input order (defaults: ``TASK_FILES``, ``TASK_BYTES``)."""
    max_items = max_items or TASK_FILES
    max_bytes = max_bytes or TASK_BYTES
    tasks: list[list[T]] = []
    cur: list[T] = []
    size = 0
    for it in items:
        n = size_of(it)
        if cur and (len(cur) >= max_items or size + n > max_bytes):
            tasks.append(cur)
            cur, size = [], 0
        cur.append(it)
        size += n
    if cur:
        tasks.append(cur)
    return tasks


def run(executor: Executor, fn: Callable[[T], R], tasks: Sequence[T], what: str) -> list[R]:
    """``fn`` over ``tasks`` on ``executor``, results in task order. The first failure cancels
    what has not started and is raised once: a ``DagstoreError`` as the worker raised it,
    anything else as one ``StorageError`` naming the task."""
    futures: list[Future[R]] = [executor.submit(fn, t) for t in tasks]
    try:
        return [f.result() for f in futures]
    except DagstoreError:
        _cancel(futures)
        raise
    except Exception as exc:  # noqa: BLE001 - a worker's failure of any kind becomes one clear error
        _cancel(futures)
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise StorageError(f"{what} failed on a worker: {type(exc).__name__}: {redact_url(first)}") from None


def _cancel(futures: Iterable[Future[Any]]) -> None:
    for f in futures:
        f.cancel()


@dataclass(frozen=True)
class StoreRef:
    """How a worker reopens the store: its URL, ``storage_options`` (as the caller gave them;
    credentials are best left to the workers' environment) and where content goes."""

    url: str
    storage_options: dict[str, Any]
    content_url: str | None = None


_stores: dict[tuple[str, str], Any] = {}


def open_store(ref: StoreRef) -> tuple[Any, Any]:
    """The worker's ``Store`` (one per process and URL) and the content backend."""
    key = (ref.url, repr(sorted(ref.storage_options.items())))
    st = _stores.get(key)
    if st is None:
        st = _stores[key] = Store(ref.url, ref.storage_options or None)
    if not ref.content_url or ref.content_url == st.url:
        return st, st.backend
    return st, open_backend(ref.content_url, ref.storage_options or None)


@dataclass(frozen=True)
class IngestTask:
    """One worker's share: ``files`` as ``(local path, size, mtime_ns, hash or "")``; a file
    without a hash is hashed first. Packs and objects gc has marked are never reused."""

    store: StoreRef
    files: tuple[tuple[str, int, int, str], ...]
    level: int | None
    pack_size: int | None
    marked: frozenset[str] = frozenset()


@dataclass
class Fragment:
    """What a task returns: ``(hash, size)`` per file in task order (or, for a folder, a
    table of its files), the packs and objects holding them, and what it cost."""

    hashes: list[tuple[str, int]] = field(default_factory=list)
    packs: set[str] = field(default_factory=set)
    objects: set[str] = field(default_factory=set)
    bytes_sent: int = 0
    blobs_sent: int = 0
    seconds: float = 0.0  # the tasks' own time, summed
    cpu: float = 0.0  # CPU seconds of each task's process while it ran, summed (tasks sharing a process count each other's)
    table: Any = None  # a folder's fragment: a pyarrow table of path, hash, size (fanscan)
    wall: float = 0.0  # the driver's time from the split to the merged fragment
    tasks: int = 0  # how many tasks made it
    indexes: dict[str, Columns] = field(default_factory=dict)  # of the packs written: finalize reads none back

    def add(self, other: Fragment) -> None:
        """Merge ``other``'s packs, objects, indexes and costs (not its hashes or table)."""
        self.packs |= other.packs
        self.objects |= other.objects
        self.indexes.update(other.indexes)
        self.bytes_sent += other.bytes_sent
        self.blobs_sent += other.blobs_sent
        self.seconds += other.seconds
        self.cpu += other.cpu


@gc_paused()  # a few tuples per file, no cycles: collections would only walk them
def ingest(task: IngestTask) -> Fragment:
    """Worker side: hash what has no hash (the driver keeps the stat cache), then upload what
    the store does not hold yet. Idempotent: a retry finds its content through the indexes."""
    t0, c0 = time.perf_counter(), time.process_time()
    st, be = open_store(task.store)
    out = Fragment()
    files = [LocalFile(p, "", size, mtime, 0, 0) for p, size, mtime, _h in task.files]  # the driver keeps the stat cache
    given = {p: (h, size) for p, size, _mtime, h in task.files if h}
    out.hashes = store_files(be, st, files, None, task.level, task.pack_size, task.marked, out, given)
    out.seconds, out.cpu = time.perf_counter() - t0, time.process_time() - c0
    return out


class Packer:
    """Packs small files' bytes as the hashing pass hands them over (``hash_list(keep=)``):
    a worker reads each file once and writes no spool. The bytes packed are the very bytes
    hashed, so nothing is checked again; content the store's ``index`` holds, or that was
    packed already, is skipped. Encoding runs in the calling thread, a batch at a time: on a
    worker every core is busy with another worker's task."""

    def __init__(self, st: Any, be: Backend, index: dict[str, BlobLocation], level: int | None, pack_size: int | None):
        self.index = index
        self.level = level
        self.done: set[str] = set()  # hashes the store holds or this packer packed
        self.packs: set[str] = set()
        self.indexes: dict[str, Columns] = {}
        self.bytes_sent = self.blobs_sent = 0
        self._batch: list[tuple[str, bytes]] = []
        self._bytes = 0
        self._lock = threading.Lock()  # hashing threads (large files) may call keep at once
        self._writer = PackWriter(be, self._packed, **({"target_size": pack_size} if pack_size else {}))
        self._key = (st.url, str(getattr(be, "url", "")))

    def _packed(self, pack_id: str, cols: Columns) -> None:
        """A pack is written (pack, then index): later tasks of this process reuse its blobs
        without reading its index back."""
        self.packs.add(pack_id)
        self.indexes[pack_id] = cols
        locs = cols.locations()
        with _indexes_lock:
            index, seen = _indexes.setdefault(self._key, ({}, set()))
            index.update(locs)
            seen.add(pack_id)

    def keep_many(self, items: Sequence[tuple[LocalFile, str, bytes]]) -> None:
        """``hash_list``'s hand-over of small files' content, a batch at a time."""
        with self._lock:
            for _f, blob_hash, data in items:
                if len(data) >= SMALL_FILE or blob_hash in self.done:  # grown while read: upload streams it as an object
                    continue
                self.done.add(blob_hash)
                loc = self.index.get(blob_hash)
                if loc is not None:
                    self.packs.add(loc.pack)
                    continue
                self._batch.append((blob_hash, data))
                self._bytes += len(data)
                if len(self._batch) >= _BATCH_FILES or self._bytes >= _BATCH_BYTES:
                    self._pack()

    def _pack(self) -> None:
        batch, self._batch, self._bytes = self._batch, [], 0
        encoded = encode_blobs([d for _h, d in batch], self.level)
        self._writer.add_many((h, stored, len(d), codec) for (h, d), (stored, codec) in zip(batch, encoded, strict=True))
        self.bytes_sent += sum(len(stored) for stored, _c in encoded)
        self.blobs_sent += len(batch)

    def close(self, ok: bool = True) -> None:
        """Write what is left and wait for the packs (``ok`` False: after a failure, whose
        error is the one to raise; a pack already written is garbage ``gc`` collects)."""
        try:
            if ok and self._batch:
                self._pack()
        finally:
            if ok:
                self._writer.close()
            else:
                with contextlib.suppress(Exception):
                    self._writer.close()


def store_files(be: Backend, st: Any, files: Sequence[LocalFile], cache: StatCache | None, level: int | None,
                pack_size: int | None, marked: frozenset[str], out: Fragment,
                given: dict[str, tuple[str, int]] | None = None) -> list[tuple[str, int]]:
    """Worker side: ``(hash, size)`` of each of ``files``, in order, hashed (unless ``given``
    by path, or known to ``cache``) and sent to ``be`` where the store lacks them; ``out``
    gains the packs, objects and bytes sent. Small files read for hashing are packed from
    those bytes; the others (hashes given or cached, large files) are read, verified and sent
    by ``transfer``."""
    index = reusable(st, be, marked)
    packer = Packer(st, be, index, level, pack_size)
    try:
        got = _hashes(files, cache, given or {}, packer)
    except BaseException:
        packer.close(ok=False)
        raise
    packer.close()
    unsent = {h for h, _size in got} - packer.done  # content not packed from the bytes hashed
    rest = [transfer.Pending(h, size, f.path, f.mtime_ns, f.ctime_ns) for f, (h, size) in zip(files, got) if h in unsent] if unsent else []
    avoid = {layout.leaf(k) for k in marked if layout.kind(k) == layout.OBJECTS}
    res = transfer.upload(be, index, rest, level, pack_size, show_progress=False, avoid_objects=avoid) if rest else transfer.UploadResult()
    out.packs, out.objects, out.indexes = res.packs | packer.packs, res.objects, {**packer.indexes, **res.indexes}
    out.bytes_sent, out.blobs_sent = res.bytes_sent + packer.bytes_sent, res.blobs_sent + packer.blobs_sent
    return got


def _hashes(files: Sequence[LocalFile], cache: StatCache | None, given: dict[str, tuple[str, int]], packer: Packer) -> list[tuple[str, int]]:
    """``(hash, size)`` of each file in order: ``given``'s, else hashed (``packer`` keeps the bytes read)."""
    if not given:
        return hash_list(files, cache, show_progress=False, keep=packer.keep_many) if files else []
    todo = [f for f in files if f.path not in given]
    done = dict(zip([f.path for f in todo], hash_list(todo, cache, show_progress=False, keep=packer.keep_many))) if todo else {}
    return [given[f.path] if f.path in given else done[f.path] for f in files]


_indexes: dict[tuple[str, str], tuple[dict[str, Any], set[str]]] = {}
_indexes_lock = threading.Lock()


def reusable(st: Any, be: Any, marked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``{hash: location}`` of the blobs the store's packs hold (packs gc marked left out).
    Each pack's index is decoded once per worker process: later tasks decode only new packs
    (one listing of the index folder per task; a pack gone since starts the index afresh).
    Without marks the answer is the process's own mapping, not a copy (read-only to callers)."""
    key = (st.url, str(getattr(be, "url", "")))
    with _indexes_lock:  # tasks may share a process (a thread pool)
        index, seen = _indexes.setdefault(key, ({}, set()))
        listed = {layout.leaf(k) for k in be.list(layout.INDEX)}
        if seen - listed:  # a new mapping: a task still using the old one sees no entry vanish
            index, seen = _indexes[key] = ({}, set())
        new = sorted(listed - seen)
        if new:
            try:
                index.update(st.pack_index(be, new))
            except FormatError:  # an unreadable index: the listing of every pack skips it, with a warning
                index.update(st.pack_index(be))
            seen.update(new)
        if not marked:  # this process's packers add what they write to it
            return index
        return {h: loc for h, loc in index.items() if layout.pack_key(loc.pack) not in marked}


def ingest_all(
    executor: Executor,
    ref: StoreRef,
    files: Sequence[tuple[str, int, int, str]],
    level: int | None = 1,
    pack_size: int | None = None,
    marked: frozenset[str] = frozenset(),
    max_files: int | None = None,
    max_bytes: int | None = None,
) -> Fragment:
    """Driver side: split ``files`` into tasks, run ``ingest`` on each, merge the fragments
    (hashes in input order, the union of packs and objects)."""
    tasks = [IngestTask(ref, tuple(t), level, pack_size, marked)
             for t in split(files, lambda f: f[1], max_files, max_bytes)]
    merged = Fragment()
    for frag in run(executor, ingest, tasks, "ingestion"):
        merged.hashes.extend(frag.hashes)
        merged.add(frag)
    return merged

