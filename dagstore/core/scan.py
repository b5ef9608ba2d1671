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
import threading
from functools import partial
from stat import S_ISREG
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from ..errors import InvalidPathError
from .hashing import hash_file
from .progress import progress_bar

_RACY_SECONDS = 2.0  # files modified this recently are hashed but not remembered (racy-git rule)


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
    ctime_ns: int = 0  # 0: not known (then its content is never kept for upload)

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.dev, self.ino, self.size, self.mtime_ns)


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
            entries = list(os.scandir(d))
        except OSError as exc:
            raise InvalidPathError(f"{d}: cannot list folder: {exc.strerror}") from None
        for e in entries:
            est = _stat(e.path) if e.is_symlink() else e.stat()
            mode = est.st_mode
            if S_ISREG(mode):
                rel = prefix + e.name
                if patterns is None or matches_wildcard(rel, patterns):
                    out.append(LocalFile(e.path, rel, est.st_size, est.st_mtime_ns, est.st_dev, est.st_ino, est.st_ctime_ns))
                continue
            if statmod.S_ISDIR(mode):
                if not recursive:
                    continue
                if (est.st_dev, est.st_ino) in seen_dirs:
                    raise InvalidPathError(f"{e.path}: symbolic link loop (folder already visited)")
                seen_dirs.add((est.st_dev, est.st_ino))
                stack.append((e.path, f"{prefix}{e.name}/"))
                continue
            _regular(e.path, est)  # raises: a FIFO, socket or device
    out.sort(key=lambda f: f.rel)
    return out


def _rel(path: str, base_dir: str) -> str:
    rel = os.path.relpath(path, base_dir)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise InvalidPathError(f"{path} is not inside local_base_folder {base_dir}")
    return rel.replace(os.sep, "/")


class StatCache:
    """Remembers (device, inode, size, mtime_ns) -> hash of local files, so that an unchanged
    file is never hashed twice. SQLite, one row per folder holding a marshalled
    ``{name: (dev, ino, size, mtime_ns, hash)}`` (a W1-sized tree is ~600 rows, read in
    milliseconds). Safe for several processes; a lost update only costs a re-hash."""

    def __init__(self, db_path: str | os.PathLike[str]):
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(os.fspath(db_path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS folders (dir TEXT PRIMARY KEY, entries BLOB)")
        self._lock = threading.Lock()

    def _load(self, dirs: Iterable[str]) -> dict[str, dict[str, tuple[int, int, int, int, str]]]:
        out: dict[str, dict[str, tuple[int, int, int, int, str]]] = {}
        dirs = list(dirs)
        with self._lock:
            for i in range(0, len(dirs), 500):
                chunk = dirs[i : i + 500]
                q = f"SELECT dir, entries FROM folders WHERE dir IN ({','.join('?' * len(chunk))})"
                for d, blob in self._db.execute(q, chunk):
                    try:
                        out[d] = marshal.loads(blob)
                    except (EOFError, ValueError, TypeError):
                        pass  # a damaged row is just a cache miss
        return out

    def lookup(self, files: Sequence[LocalFile]) -> dict[str, str]:
        """Hashes of the files whose stat key is unchanged, by absolute path."""
        known = self._load({f.path.rpartition("/")[0] for f in files})
        out: dict[str, str] = {}
        for f in files:
            d, _, name = f.path.rpartition("/")
            row = known.get(d, {}).get(name)
            if row is not None and row[:4] == (f.dev, f.ino, f.size, f.mtime_ns):
                out[f.path] = row[4]
        return out

    def store(self, items: Iterable[tuple[LocalFile, str]]) -> None:
        limit = time.time_ns() - int(_RACY_SECONDS * 1e9)
        by_dir: dict[str, dict[str, tuple[int, int, int, int, str]]] = {}
        for f, h in items:
            if f.mtime_ns < limit:
                d, _, name = f.path.rpartition("/")
                by_dir.setdefault(d, {})[name] = (f.dev, f.ino, f.size, f.mtime_ns, h)
        if not by_dir:
            return
        current = self._load(by_dir)
        rows = [(d, marshal.dumps({**current.get(d, {}), **new})) for d, new in by_dir.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO folders VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def hash_files(
    files: Sequence[LocalFile],
    cache: StatCache | None,
    max_workers: int | None = None,
    show_progress: bool = True,
    keep: Callable[[LocalFile, str, bytes], None] | None = None,
) -> dict[str, tuple[str, int]]:
    """``{abs path: (hash, size)}`` for every file, using and refreshing the stat cache.
    ``keep(file, hash, content)`` receives each small file's content read for hashing (so
    that upload need not read it again)."""
    known = cache.lookup(files) if cache else {}
    todo = [f for f in files if f.path not in known]
    out = {f.path: (known[f.path], f.size) for f in files if f.path in known}
    bar = progress_bar(sum(f.size for f in todo), "hash", show_progress and bool(todo))

    def work(chunk: Sequence[LocalFile]) -> list[tuple[LocalFile, str, int]]:
        res = []
        for f in chunk:
            try:
                h, size = hash_file(f.path, f.size, None if keep is None else partial(keep, f))
            except OSError as exc:
                raise InvalidPathError(f"{f.path}: cannot read: {exc.strerror}") from None
            res.append((f, h, size))
            bar.relative_update(size)
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
    fresh: list[tuple[LocalFile, str]] = []
    for res in results:
        for f, h, size in res:
            if size != f.size:  # changed while we read it: take what we read, don't remember it
                out[f.path] = (h, size)
                continue
            out[f.path] = (h, size)
            fresh.append((f, h))
    if cache:
        cache.store(fresh)
    return out
