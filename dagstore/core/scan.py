"""Local folder scanning: walk, filter, stat, hash (skipping unchanged files: ``core.statcache``).

Nothing here changes a dataset: a scan either returns every file it was asked for, hashed,
or raises before any caller applies the result.
"""

from __future__ import annotations

import fnmatch
import os
import stat as statmod
from operator import itemgetter
from stat import S_ISREG
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from ..errors import InvalidPathError
from .localfile import LocalFile as LocalFile  # its home before it had its own module
from .hashing import SMALL_FILE, hash_bytes, hash_file, read_small
from .progress import progress_bar
from .statcache import StatCache as StatCache  # its home before it had its own module

_CHUNK_FILES = 2048  # files a streamed scan hands over at once
_REMEMBER_BATCH = 8192  # hashed files put in the stat cache at once, from the hashing pass
_KEEP_BATCH, _KEEP_BYTES = 256, 1 << 20  # small files handed to ``keep`` at once (the bytes bound memory: W3's files)


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
    or its folder when ``path`` is a file), sorted by relative path. Symlinks are followed;
    loops, special files and unreadable entries raise InvalidPathError."""
    return [f for chunk in scan_chunks(path, wildcard, recursive, base) for f in chunk]


def scan_chunks(
    path: str | os.PathLike[str],
    wildcard: str | Sequence[str] | None = None,
    recursive: bool = True,
    base: str | os.PathLike[str] | None = None,
) -> Iterator[list[LocalFile]]:
    """``scan``'s files as the walk finds them, a few thousand at a time (in relative path
    order), so that a caller can hash them before the walk ends. Raises as ``scan`` does,
    possibly after some chunks were handed over."""
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
            yield [LocalFile(root, rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)]
        return
    seen_dirs = {(st.st_dev, st.st_ino)}
    root_rel = _rel(root, base_dir)
    stack = [iter(_list_folder(root, "" if root_rel == "." else root_rel + "/", patterns, recursive, seen_dirs))]
    while stack:  # depth first, each folder's entries in order: the files come in relative path order
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, list):
            out += item
            if len(out) >= _CHUNK_FILES:
                yield out
                out = []
        else:
            stack.append(iter(_list_folder(item[0], item[1], patterns, recursive, seen_dirs)))
    if out:
        yield out


def _list_folder(d: str, prefix: str, patterns: list[str] | None, recursive: bool,
                 seen_dirs: set[tuple[int, int]]) -> list[list[LocalFile] | tuple[str, str]]:
    """The folder ``d``'s regular files and sub-folders in the order of their relative paths
    (a folder sorts as its name + '/': "b.txt" < "b/x" < "b0"): runs of files, and
    ``(folder, prefix)`` where a sub-folder's files come."""
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidPathError(f"{d}: cannot list folder: {exc.strerror}") from None
    files: list[LocalFile] = []
    dirs: list[tuple[str, str]] = []
    try:
        _walk_folder(fd, d, prefix, patterns, recursive, seen_dirs, dirs, files)
    finally:
        os.close(fd)
    files.sort(key=itemgetter(1))
    if not dirs:
        return [files]
    dirs.sort(key=itemgetter(1))
    out: list[list[LocalFile] | tuple[str, str]] = []
    i = 0
    for sub in dirs:  # sub's prefix ends in '/': it sorts where its files do
        j = i
        while j < len(files) and files[j].rel < sub[1]:
            j += 1
        if j > i:
            out.append(files[i:j])
        out.append(sub)
        i = j
    if i < len(files):
        out.append(files[i:])
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
        try:
            est = _stat(folder + name) if e.is_symlink() else e.stat()
        except OSError:  # gone (or unreadable) since the folder was listed: DirEntry's error names only the entry
            est = _stat(folder + name)  # raises InvalidPathError with the full path, unless it is back
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


def scan_and_hash(
    path: str | os.PathLike[str],
    wildcard: str | Sequence[str] | None,
    recursive: bool,
    base: str | os.PathLike[str] | None,
    cache: StatCache | None,
    max_workers: int | None = None,
    show_progress: bool = True,
    keep: Callable[[list[tuple[LocalFile, str, bytes]]], None] | None = None,
) -> tuple[list[LocalFile], list[tuple[str, int]]]:
    """``scan`` and ``hash_list`` of its files, each chunk of the walk hashed as soon as it is
    found (so that the thread compressing what ``keep`` receives starts with the walk, not
    after it); the files and their ``(hash, size)``, sorted by relative path."""
    files: list[LocalFile] = []
    found: list[tuple[str, int]] = []
    bar = progress_bar(None, "hash", show_progress)  # the total is known only when the walk ends, with the hashing
    try:
        for chunk in scan_chunks(path, wildcard, recursive, base):
            files += chunk
            found += hash_list(chunk, cache, max_workers, False, keep)
            bar.relative_update(sum(f.size for f in chunk))
    finally:
        bar.close()
    return files, found


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
