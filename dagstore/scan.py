"""Local folder scanning: walk, filter, stat, hash; and the stat cache that skips unchanged files.

Nothing here changes a dataset: a scan either returns every file it was asked for, hashed,
or raises before any caller applies the result.
"""

from __future__ import annotations

import fnmatch
import os
import sqlite3
import stat as statmod
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidPathError
from .hashing import hash_file
from .progress import progress_bar

_RACY_SECONDS = 2.0  # files modified this recently are hashed but not remembered (racy-git rule)


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A regular file found by a scan. ``rel`` is '/'-separated, relative to the scan base."""

    path: str
    rel: str
    size: int
    mtime_ns: int
    dev: int
    ino: int

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.dev, self.ino, self.size, self.mtime_ns)


def _matches(rel: str, patterns: Sequence[str] | None) -> bool:
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
        if _matches(rel, patterns):
            out.append(LocalFile(root, rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
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
            if "\\" in e.name:
                raise InvalidPathError(f"{e.path}: file names with a backslash are not supported")
            if statmod.S_ISDIR(est.st_mode):
                if not recursive:
                    continue
                if (est.st_dev, est.st_ino) in seen_dirs:
                    raise InvalidPathError(f"{e.path}: symbolic link loop (folder already visited)")
                seen_dirs.add((est.st_dev, est.st_ino))
                stack.append((e.path, f"{prefix}{e.name}/"))
                continue
            _regular(e.path, est)
            rel = prefix + e.name
            if patterns is None or _matches(rel, patterns):
                out.append(LocalFile(e.path, rel, est.st_size, est.st_mtime_ns, est.st_dev, est.st_ino))
    out.sort(key=lambda f: f.rel)
    return out


def _rel(path: str, base_dir: str) -> str:
    rel = os.path.relpath(path, base_dir)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise InvalidPathError(f"{path} is not inside local_base_folder {base_dir}")
    return rel.replace(os.sep, "/")


class StatCache:
    """Remembers (device, inode, size, mtime_ns) -> hash per absolute path, in SQLite, so that an
    unchanged file is never hashed twice. Safe for several processes at once."""

    def __init__(self, db_path: str | os.PathLike[str]):
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(os.fspath(db_path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER,"
            " size INTEGER, mtime_ns INTEGER, hash TEXT)"
        )

    def lookup(self, files: Sequence[LocalFile]) -> dict[str, str]:
        """Hashes of the files whose stat key is unchanged, by absolute path."""
        if not files:
            return {}
        wanted = {f.path: f.key for f in files}
        out: dict[str, str] = {}
        cur = self._db.cursor()
        if len(files) > 2000:
            rows: Iterable[tuple[str, int, int, int, int, str]] = cur.execute("SELECT path, dev, ino, size, mtime_ns, hash FROM files")
        else:
            rows = (r for f in files for r in cur.execute("SELECT path, dev, ino, size, mtime_ns, hash FROM files WHERE path=?", (f.path,)))
        for path, dev, ino, size, mtime_ns, h in rows:
            k = wanted.get(path)
            if k is not None and k == (dev, ino, size, mtime_ns):
                out[path] = h
        return out

    def store(self, items: Iterable[tuple[LocalFile, str]]) -> None:
        limit = time.time_ns() - int(_RACY_SECONDS * 1e9)
        rows = [(f.path, f.dev, f.ino, f.size, f.mtime_ns, h) for f, h in items if f.mtime_ns < limit]
        if rows:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)", rows)

    def close(self) -> None:
        self._db.close()


def hash_files(
    files: Sequence[LocalFile], cache: StatCache | None, max_workers: int | None = None, show_progress: bool = True
) -> dict[str, tuple[str, int]]:
    """``{abs path: (hash, size)}`` for every file, using and refreshing the stat cache."""
    known = cache.lookup(files) if cache else {}
    todo = [f for f in files if f.path not in known]
    out = {f.path: (known[f.path], f.size) for f in files if f.path in known}
    bar = progress_bar(sum(f.size for f in todo), "hash", show_progress and bool(todo))

    def work(chunk: Sequence[LocalFile]) -> list[tuple[LocalFile, str, int]]:
        res = []
        for f in chunk:
            try:
                h, size = hash_file(f.path, f.size)
            except OSError as exc:
                raise InvalidPathError(f"{f.path}: cannot read: {exc.strerror}") from None
            res.append((f, h, size))
            bar.relative_update(size)
        return res

    workers = max(1, min(max_workers or 4, len(todo) // 256 or 1))
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
