"""Local folder scanning: walk, filter, stat, hash; and the stat cache that skips unchanged files.

Nothing here changes a dataset: a scan either returns every file it was asked for, hashed,
or raises before any caller applies the result.
"""

from __future__ import annotations

import fnmatch
import marshal
import os
import sqlite3
import stat as statmod
import struct
import threading
from operator import itemgetter
from stat import S_ISREG
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidPathError
from . import columns
from .hashing import SMALL_FILE, hash_bytes, hash_file, read_small
from .progress import progress_bar

_REMEMBER_BATCH = 8192  # hashed files put in the stat cache at once, from the hashing pass
_RACY_SECONDS = 2.0  # files modified this recently are hashed but not remembered (racy-git rule)
_KEEP_BATCH, _KEEP_BYTES = 256, 1 << 20  # small files handed to ``keep`` at once (the bytes bound memory: W3's files)


class LocalFile(NamedTuple):
    """A regular file found by a scan. ``rel`` is '/'-separated, relative to the scan base.
    (A tuple: a scan makes one per file, and a tuple is made several times faster than a
    frozen dataclass.)"""

    path: str
    rel: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    ctime_ns: int = 0  # 0: not known (then its content is never kept for upload, nor its hash remembered)


def matches_wildcard(rel: str, patterns: Sequence[str] | None) -> bool:
    """ClearML's ``wildcard`` rule: a glob matches the file name or the relative path."""
    if not patterns:
        return True
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(rel, p) for p in patterns)


def _regular(path: str, st: os.stat_result) -> None:
    if not statmod.S_ISREG(st.st_mode):
        kind = "directory" if statmod.S_ISDIR(st.st_mode) else "special file (FIFO, socket or device)"
        raise InvalidPathError(f"{path}: is a {kind}, not a regular file")


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InvalidPathError(f"{path}: broken symbolic link") from None
        raise InvalidPathError(f"{path}: no such file or directory") from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise InvalidPathError(f"{path}: symbolic link loop") from None
        raise InvalidPathError(f"{path}: {exc.strerror}") from None


def scan(
    path: str | os.PathLike[str],
    wildcard: str | Sequence[str] | None = None,
    recursive: bool = True,
    base: str | os.PathLike[str] | None = None,
) -> list[LocalFile]:
    """Regular files under ``path`` (or ``path`` itself), relative to ``base`` (default: ``path``,
    or its folder when ``path`` is a file). Symlinks are followed; loops, special files and
    unreadable entries raise InvalidPathError."""
    root = os.path.abspath(os.fspath(path))
    patterns = [wildcard] if isinstance(wildcard, str) else list(wildcard) if wildcard else None
    st = _stat(root)
    if statmod.S_ISDIR(st.st_mode):
        base_dir = os.path.abspath(os.fspath(base)) if base else root
    else:
        _regular(root, st)
        base_dir = os.path.abspath(os.fspath(base)) if base else os.path.dirname(root)
    out: list[LocalFile] = []
    if not statmod.S_ISDIR(st.st_mode):
        rel = _rel(root, base_dir)
        if matches_wildcard(rel, patterns):
            out.append(LocalFile(root, rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns))
        return out
    seen_dirs = {(st.st_dev, st.st_ino)}
    root_rel = _rel(root, base_dir)
    stack = [(root, "" if root_rel == "." else root_rel + "/")]
    while stack:
        d, prefix = stack.pop()
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise InvalidPathError(f"{d}: cannot list folder: {exc.strerror}") from None
        try:
            _walk_folder(fd, d, prefix, patterns, recursive, seen_dirs, stack, out)
        finally:
            os.close(fd)
    out.sort(key=itemgetter(1))  # by rel
    return out


def _walk_folder(fd: int, d: str, prefix: str, patterns: list[str] | None, recursive: bool, seen_dirs: set[tuple[int, int]],
                 stack: list[tuple[str, str]], out: list[LocalFile]) -> None:
    """The regular files of the folder ``d`` (open as ``fd``) into ``out``, its sub-folders
    onto ``stack``. Entries are stat'ed relative to ``fd`` (``fstatat``: no walk of the full path)."""
    try:
        entries = list(os.scandir(fd))
    except OSError as exc:
        raise InvalidPathError(f"{d}: cannot list folder: {exc.strerror}") from None
    folder = d if d.endswith("/") else d + "/"
    for e in entries:
        name = e.name
        est = _stat(folder + name) if e.is_symlink() else e.stat()
        mode = est.st_mode
        if S_ISREG(mode):
            rel = prefix + name
            if patterns is None or matches_wildcard(rel, patterns):
                out.append(LocalFile(folder + name, rel, est.st_size, est.st_mtime_ns, est.st_dev, est.st_ino, est.st_ctime_ns))
            continue
        if statmod.S_ISDIR(mode):
            if not recursive:
                continue
            if (est.st_dev, est.st_ino) in seen_dirs:
                raise InvalidPathError(f"{folder + name}: symbolic link loop (folder already visited)")
            seen_dirs.add((est.st_dev, est.st_ino))
            stack.append((folder + name, f"{prefix}{name}/"))
            continue
        _regular(folder + name, est)  # raises: a FIFO, socket or device


def _rel(path: str, base_dir: str) -> str:
    rel = os.path.relpath(path, base_dir)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise InvalidPathError(f"{path} is not inside local_base_folder {base_dir}")
    return rel.replace(os.sep, "/")


_KEY = np.dtype([("dev", "<u8"), ("ino", "<u8"), ("size", "<u8"), ("mtime_ns", "<i8"), ("ctime_ns", "<i8")])  # a file's stat key
_PACK = struct.Struct("<3Qqq").pack  # the same key as bytes
_ROW_FORMAT = 3  # a folder's row: marshal of (3, NUL-joined names, keys, 16-byte hashes); 2 had no ctime


def _split(data: bytes) -> pa.Array:
    """NUL-separated byte strings as one Arrow binary array (no Python object per string)."""
    seps = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0)
    offsets = np.concatenate(([0], seps + 1 - np.arange(1, len(seps) + 1), [len(data) - len(seps)])).astype(np.int64)
    return pa.Array.from_buffers(pa.large_binary(), len(seps) + 1, [None, pa.py_buffer(offsets), pa.py_buffer(data.replace(b"\0", b""))])


def _row(value: object) -> tuple[bytes, bytes, bytes] | None:
    """A stored folder row as (names, keys, hashes), or None when damaged or of an earlier
    format: their keys have no change time, so a file rewritten in place with its mtime put
    back would look unchanged (a miss costs a re-hash; the row is replaced when stored)."""
    if not (type(value) is tuple and len(value) == 4 and value[0] == _ROW_FORMAT and all(type(x) is bytes for x in value[1:])):
        return None
    names, keys, hashes = value[1:]
    n = len(keys) // _KEY.itemsize
    if not n or len(keys) != n * _KEY.itemsize or len(hashes) != n * 16 or names.count(b"\0") != n - 1:
        return None
    return names, keys, hashes


_BUSY_S = 60  # how long a stat cache waits for another process's lock


def _wal(db: sqlite3.Connection) -> None:
    """Put ``db`` in WAL mode. Two processes opening a new stat cache at once (Dask workers on one
    machine) both convert it; SQLite then answers "database is locked" at once to one of them
    instead of waiting (its deadlock rule), so that one retries until the other is done."""
    deadline = time.monotonic() + _BUSY_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class StatCache:
    """Remembers (device, inode, size, mtime_ns, ctime_ns) -> hash of local files, so that an
    unchanged file is never hashed twice (the change time, which no one can set back, catches a
    file rewritten in place with its size and mtime restored, e.g. by ``touch -d``). SQLite,
    one row per folder holding its files as columns: names, stat keys and hashes (a W1-sized
    tree is ~600 rows, read in milliseconds); a scan's files are looked up in one vectorised
    pass. Safe for several processes; a lost update only costs a re-hash."""

    def __init__(self, db_path: str | os.PathLike[str]):
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(os.fspath(db_path), timeout=_BUSY_S, check_same_thread=False)
        _wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit; a crash loses updates, never corrupts
        self._db.execute("CREATE TABLE IF NOT EXISTS folder_columns (dir TEXT PRIMARY KEY, entries BLOB)")
        self._lock = threading.Lock()

    def _load(self, dirs: Iterable[str]) -> dict[str, tuple[bytes, bytes, bytes]]:
        out: dict[str, tuple[bytes, bytes, bytes]] = {}
        todo = list(dirs)
        with self._lock:
            for i in range(0, len(todo), 500):
                chunk = todo[i : i + 500]
                q = f"SELECT dir, entries FROM folder_columns WHERE dir IN ({','.join('?' * len(chunk))})"
                for d, blob in self._db.execute(q, chunk):
                    try:
                        row = _row(marshal.loads(blob))
                    except (EOFError, ValueError, TypeError):
                        row = None  # a damaged row is just a cache miss
                    if row is not None:
                        out[d] = row
        return out

    def known(self, files: Sequence[LocalFile]) -> list[str]:
        """The hash of each file whose stat key is unchanged, "" for the others (in order)."""
        if not files:
            return []
        path, _rel, size, mtime_ns, dev, ino, ctime_ns = zip(*files)  # the files' fields as columns
        rows = self._load({p[: p.rfind("/")] for p in path})
        if not rows:
            return [""] * len(files)
        where = []
        for d, (names, _k, _h) in rows.items():
            pre = os.fsencode(d) + b"/"
            where.append(pre + names.replace(b"\0", b"\0" + pre))
        at = pc.index_in(_split(os.fsencode("\0".join(path))), value_set=_split(b"\0".join(where)))
        ix = np.frombuffer(at.buffers()[1], dtype=np.int32)[at.offset : at.offset + len(at)].astype(np.int64)  # null: any value
        hit = np.flatnonzero(columns.bits(at.is_valid()))
        mine = np.empty(len(files), dtype=_KEY)
        for name, values in (("dev", dev), ("ino", ino), ("size", size), ("mtime_ns", mtime_ns), ("ctime_ns", ctime_ns)):
            mine[name] = values
        keys = np.frombuffer(b"".join(k for _n, k, _h in rows.values()), dtype=_KEY)
        hit = hit[keys[ix[hit]] == mine[hit]]
        hashes = np.frombuffer(b"".join(h for _n, _k, h in rows.values()), dtype=np.uint8).reshape(-1, 16)
        hx = hashes[ix[hit]].tobytes().hex()
        found = [hx[i : i + 32] for i in range(0, len(hx), 32)]
        if len(found) == len(files):
            return found
        out = [""] * len(files)
        for i, h in zip(hit.tolist(), found):
            out[i] = h
        return out

    def lookup(self, files: Sequence[LocalFile]) -> dict[str, str]:
        """Hashes of the files whose stat key is unchanged, by absolute path."""
        return {f.path: h for f, h in zip(files, self.known(files)) if h}

    def store(self, items: Iterable[tuple[LocalFile, str]]) -> None:
        """Remember the hashes of these files, except files modified in the last two seconds
        (the racy-git rule: another write in the same mtime tick would keep their key) and files
        whose change time is not known (their key could never match a scanned file's)."""
        limit = time.time_ns() - int(_RACY_SECONDS * 1e9)
        by_dir: dict[str, dict[bytes, tuple[bytes, str]]] = {}
        for f, h in items:
            if f.mtime_ns < limit and f.ctime_ns > 0:
                d, _, name = f.path.rpartition("/")
                by_dir.setdefault(d, {})[os.fsencode(name)] = (_PACK(f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns), h)
        if not by_dir:
            return
        current = self._load(by_dir)
        rows = [(d, marshal.dumps(_merged(current.get(d), new))) for d, new in by_dir.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO folder_columns VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def _merged(row: tuple[bytes, bytes, bytes] | None, new: dict[bytes, tuple[bytes, str]]) -> tuple[int, bytes, bytes, bytes]:
    """A folder's row with ``new`` files (name: (key, hex hash)) put in, replacing those of the same name."""
    names = row[0].split(b"\0") if row else []
    keys, hashes = (bytearray(row[1]), bytearray(row[2])) if row else (bytearray(), bytearray())
    at = {n: i for i, n in enumerate(names)}
    for name, (key, h) in new.items():
        i = at.get(name)
        if i is None:
            names.append(name)
            keys += key
            hashes += bytes.fromhex(h)
        else:
            keys[i * _KEY.itemsize : (i + 1) * _KEY.itemsize] = key
            hashes[i * 16 : (i + 1) * 16] = bytes.fromhex(h)
    return _ROW_FORMAT, b"\0".join(names), bytes(keys), bytes(hashes)


def hash_files(
    files: Sequence[LocalFile],
    cache: StatCache | None,
    max_workers: int | None = None,
    show_progress: bool = True,
    keep: Callable[[list[tuple[LocalFile, str, bytes]]], None] | None = None,
) -> dict[str, tuple[str, int]]:
    """``{abs path: (hash, size)}`` for every file, using and refreshing the stat cache.
    ``keep`` receives the small files' content read for hashing, ``(file, hash, content)``
    a batch at a time (so that upload need not read them again)."""
    return dict(zip([f.path for f in files], hash_list(files, cache, max_workers, show_progress, keep)))


def hash_list(
    files: Sequence[LocalFile],
    cache: StatCache | None,
    max_workers: int | None = None,
    show_progress: bool = True,
    keep: Callable[[list[tuple[LocalFile, str, bytes]]], None] | None = None,
) -> list[tuple[str, int]]:
    """``(hash, size)`` of each file, in order (``hash_files`` without the dict)."""
    known = cache.known(files) if cache else [""] * len(files)
    todo = [f for f, h in zip(files, known) if not h]
    bar = progress_bar(sum(f.size for f in todo), "hash", show_progress and bool(todo))

    def work(chunk: Sequence[LocalFile]) -> list[tuple[LocalFile, str, int]]:
        res: list[tuple[LocalFile, str, int]] = []
        kept: list[tuple[LocalFile, str, bytes]] = []
        done = held = remembered = 0
        for f in chunk:  # the hot loop of a version of many small files: no call per file it can avoid
            try:
                if f.size < SMALL_FILE:
                    data = read_small(f.path, f.size)
                    h = hash_bytes(data)
                    res.append((f, h, len(data)))
                    if keep is not None:
                        kept.append((f, h, data))
                        held += len(data)
                        if len(kept) >= _KEEP_BATCH or held >= _KEEP_BYTES:
                            keep(kept)
                            kept, held = [], 0
                else:
                    res.append((f, *hash_file(f.path, f.size)))
            except OSError as exc:
                raise InvalidPathError(f"{f.path}: cannot read: {exc.strerror}") from None
            if len(res) - done >= _KEEP_BATCH:
                bar.relative_update(sum(r[2] for r in res[done:]))
                done = len(res)
                if cache and done - remembered >= _REMEMBER_BATCH:  # in the pass: it fills the waits for the encoder thread
                    _remember(cache, res[remembered:])
                    remembered = done
        if kept and keep is not None:
            keep(kept)
        bar.relative_update(sum(r[2] for r in res[done:]))
        if cache:
            _remember(cache, res[remembered:])
        return res

    # Threads pay only for large files (reads release the GIL); on small files they contend
    # for the GIL and one thread is fastest.
    large = sum(f.size for f in todo if f.size >= 64 << 10)
    workers = max(1, min(max_workers or 4, len(todo), large // (64 << 20)))
    slices = [todo[i::workers] for i in range(workers)]
    try:
        if workers == 1:
            results = [work(todo)]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dagstore-hash") as pool:
                results = list(pool.map(work, slices))
    finally:
        bar.close()
    return _collect(files, known, results)


def _remember(cache: StatCache, res: Sequence[tuple[LocalFile, str, int]]) -> None:
    """Put hashing results in the stat cache (a file whose size changed while it was read:
    take what was read, don't remember it)."""
    cache.store([(f, h) for f, h, size in res if size == f.size])


def _collect(files: Sequence[LocalFile], known: list[str], results: list[list[tuple[LocalFile, str, int]]]) -> list[tuple[str, int]]:
    """``hash_list``'s answer from the stat cache's hashes (``known``) and the hashing threads' results."""
    if len(results) == 1 and len(results[0]) == len(files):  # one thread hashed every file, in order
        return [(h, size) for _f, h, size in results[0]]
    done = {f.path: (h, size) for res in results for f, h, size in res}
    return [(h, f.size) if h else done[f.path] for f, h in zip(files, known)]
