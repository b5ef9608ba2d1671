"""Materialized versions: read-only folders built in a temp folder and renamed into place."""

from __future__ import annotations

import errno
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..._atomic import rmtree
from ...errors import InvalidPathError
from ..align import ints
from ..progress import progress_bar
from .blobs import Blobs
from .eviction import Eviction
from .files import _link_into_cache, _link_or_copy, _read_only_dir, _symlink, _write_sealed
from .locks import DEFAULT_LOCK_TIMEOUT

log = logging.getLogger("dagstore")
_SLICE = 8192  # paths made Python strings at a time when a folder's are listed


class Folder(NamedTuple):
    """A folder being built that other processes may write fetched blobs into, sealed and linked
    into the cache's ``blobs/`` as ``put_blob`` would: its path, ``blobs/``, and where some blobs
    go in it, given as positions in the fetched rows (``Fetch``'s ``rows``, the order of what is
    fetched; ``BlobSink.written`` then adds their other paths)."""

    path: str
    blobs: str
    places: Callable[[np.ndarray], list[str]]


class BlobSink(Protocol):
    """Where fetched content goes: the blob cache itself, or a folder being built."""

    def put_blob(self, name: str, data: Any) -> None: ...

    def blob_tmp(self, name: str) -> str: ...

    def adopt_blob(self, name: str, tmp: str) -> None: ...

    def folder(self) -> Folder | None:
        """The folder other processes may write blobs into, if any (else only ``put_blob``)."""

    def written(self, names: Iterable[str]) -> None:
        """These blobs were written into ``folder()`` by other processes: finish their places."""


class Tree(NamedTuple):
    """The files of a folder to build, as columns: sorted paths (an Arrow string array: a cold
    copy makes no Python string per path, only those of each read, as it hands them out), and
    each one's blob name (``blob_path``'s key) and size (int64)."""

    paths: pa.Array
    names: Sequence[str]
    sizes: np.ndarray
    once: bool = False  # known: every name at one path (else checked)


Fetch = Callable[[np.ndarray, BlobSink], None]  # fetch(rows, sink): the blobs of these rows of the tree into sink


class Versions(Eviction):
    """``versions/<key>/``: complete by existence, leased while used."""

    def cached_version(self, key: str) -> str | None:
        """The materialized folder, leased, if it is complete and still read-only; else None
        (a folder someone made writable, e.g. with ``chmod -R u+w``, is rebuilt)."""
        with self._writing():
            if _read_only_dir(self.version_dir(key)) and self._lease(key):
                return str(self.version_dir(key))
        return None

    def materialize(
        self,
        key: str,
        tree: Tree,
        fetch: Fetch,
        use_soft_links: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        show_progress: bool = True,
    ) -> str:
        """Build versions/<key> (fetching missing content with ``fetch(rows, sink)``) and
        lease it. Fetched content is written straight into the new folder and linked into
        the blob cache; cached content is hardlinked from it."""
        done = self.cached_version(key)
        if done:
            return done
        with self._writing():
            return self._materialize(key, tree, fetch, use_soft_links, lock_timeout, show_progress)

    def _materialize(
        self,
        key: str,
        tree: Tree,
        fetch: Fetch,
        use_soft_links: bool,
        lock_timeout: float,
        show_progress: bool,
    ) -> str:
        with self.lock(f"version-{key}", lock_timeout):
            done = self.cached_version(key)
            if done:
                return done
            versions = self.root / "versions"
            versions.mkdir(parents=True, exist_ok=True)
            self._reclaim_if_due()  # before the build: a fresh cache's first scan then lists no blobs
            if self.version_dir(key).exists():  # made writable (and perhaps edited) by someone
                self.discard(key)
            for e in os.scandir(versions):  # partial builds of this key by dead processes
                if e.name.startswith(f".tmp-{key}-") and len(e.name) == len(f".tmp-{key}-") + 8:
                    rmtree(Path(e.path))
            tmp = str(versions / f".tmp-{key}-{uuid.uuid4().hex[:8]}")
            # While building, hold the shared "building" lock (evict() leaves blobs alone: some
            # are cached but not linked yet) and the folder's lease (evict() must not take the
            # folder between its rename and our use of it).
            with self._flock("building", exclusive=False):
                self._hold_lease(key)
                try:
                    try:
                        self._build(tmp, tree, fetch, use_soft_links, show_progress)
                    except OSError as exc:
                        raise _unholdable(exc, tmp, self.root) from None
                    os.rename(tmp, versions / key)
                except BaseException:
                    self._drop_lease(key)
                    rmtree(Path(tmp))
                    raise
            if not self._lease(key):
                raise RuntimeError(f"cache folder {key} vanished while being leased")
        self.evict_if_needed()
        return str(self.version_dir(key))

    def discard(self, key: str, changed_blobs: Iterable[str] = ()) -> None:
        """Remove versions/<key> (found changed) so that the next call rebuilds it, and forget
        the cached blobs known to be changed."""
        for name in changed_blobs:
            log.warning("cached file %s was changed in place; it will be fetched again from the store", self.blob_path(name))
            self.drop_blob(name)
        src = self.version_dir(key)
        if src.exists():
            trash = self.root / "versions" / f".trash-{uuid.uuid4().hex}"
            os.rename(src, trash)
            rmtree(trash)

    def _build(self, tmp: str, tree: Tree, fetch: Fetch, soft: bool, show_progress: bool) -> None:
        paths, names = tree.paths, tree.names
        os.mkdir(tmp)
        dirs = _folders(paths)
        for d in dirs:  # parents first: one mkdir each
            os.mkdir(f"{tmp}/{d}")
        first, dups, firsts = _first_rows(names, paths, tree.once)
        present, changed = self.check_blobs((names[r], int(tree.sizes[r])) for r in firsts.tolist())
        if changed:  # changed in place, or cached before blobs were sealed: never reuse them
            log.warning("%d cached files in %s differ from what the cache recorded; fetching them again", len(changed), self.root)
            for name in changed:
                self.drop_blob(name)
        cached = set(present)
        hit = np.array([names[r] in cached for r in firsts.tolist()], dtype=bool) if cached else np.zeros(len(firsts), dtype=bool)
        missing = firsts[~hit]
        if len(missing):
            sink = _TreeSink(self, tmp, paths, first, dups, soft, missing)
            try:
                fetch(missing, sink)
            finally:
                sink.close()
            self._grow(int(tree.sizes[missing].sum()) - sink.counted)
        place = _link_or_copy if not soft else _symlink
        bar = progress_bar(len(paths) - len(missing), "link", show_progress and len(present) > 1000, unit="file")
        try:
            for row, path in zip(firsts[hit].tolist(), paths.take(ints(firsts[hit])).to_pylist()):
                name = names[row]
                src = self.blob_path(name)
                for p in [path, *dups.get(name, ())]:
                    place(src, f"{tmp}/{p}")
                bar.relative_update(1 + len(dups.get(name, ())))
        finally:
            bar.close()
        for d in reversed(dirs):
            os.chmod(f"{tmp}/{d}", 0o555)
        os.chmod(tmp, 0o555)


def _first_rows(names: Sequence[str], paths: pa.Array, once: bool) -> tuple[Mapping[str, int], dict[str, list[str]], np.ndarray]:
    """(each blob's first row, by name; the other paths of blobs at several; the first rows,
    sorted). When every blob is at one path (``once``, or found so: the usual case) the mapping
    is built only if a fetch thread asks for it: no dict of every file while worker processes
    build the folder."""
    if once or len(set(names)) == len(names):
        return _RowOf(names), {}, np.arange(len(names), dtype=np.int64)
    first = dict(zip(reversed(names), range(len(names) - 1, -1, -1)))
    dups: dict[str, list[str]] = {}
    for row, name in enumerate(names):
        if first[name] != row:
            dups.setdefault(name, []).append(paths[row].as_py())
    return first, dups, np.array(sorted(first.values()), dtype=np.int64)


class _RowOf(Mapping[str, int]):
    """The row of each of ``names`` (unique), as a dict made on first use (once: the fetch
    threads that ask at the same time wait for it)."""

    def __init__(self, names: Sequence[str]):
        self._names = names
        self._rows: dict[str, int] | None = None
        self._making = threading.Lock()

    def _of(self) -> dict[str, int]:
        if self._rows is None:
            with self._making:
                if self._rows is None:
                    self._rows = dict(zip(self._names, range(len(self._names))))
        return self._rows

    def __getitem__(self, name: str) -> int:
        return self._of()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _folders(paths: pa.Array) -> list[str]:
    """Every folder ``paths`` need, parents before their children (the paths read a slice at a time)."""
    dirs: set[str] = set()
    for at in range(0, len(paths), _SLICE):
        dirs.update(p.rpartition("/")[0] for p in paths.slice(at, _SLICE).to_pylist())
    dirs.discard("")
    for d in list(dirs):
        while "/" in d:
            d = d.rpartition("/")[0]
            if d in dirs:
                break
            dirs.add(d)
    return sorted(dirs)


def _unholdable(exc: OSError, tmp: str, root: Path) -> Exception:
    """A clear error naming the dataset file when the cache's file system cannot hold its name
    (a backslash on FAT, a name over 255 bytes...); other errors unchanged."""
    name = str(exc.filename or "")
    if exc.errno in (errno.EINVAL, errno.EILSEQ, errno.ENAMETOOLONG) and name.startswith(tmp + "/"):
        return InvalidPathError(f"{name[len(tmp) + 1:]}: the file system of {root} cannot hold this file name ({exc.strerror})")
    return exc


class _TreeSink:
    """Writes fetched blobs directly into a folder being built (at every path that holds
    them) and links them into the blob cache. Only the final rename of the folder makes
    them visible, so no per-file temp files are needed. Files are made relative to open
    descriptors of the folder and of ``blobs/`` (the kernel walks a short path, not the
    cache's whole one, twice per file); ``close()`` releases them."""

    def __init__(self, cache: Blobs, tmp: str, paths: pa.Array, first: Mapping[str, int], dups: Mapping[str, list[str]], soft: bool,
                 fetched: np.ndarray):
        self._cache, self._tmp, self._paths, self._first, self._dups, self._soft = cache, tmp, paths, first, dups, soft
        self._fetched = fetched  # the rows given to fetch, in its order (``Folder.places``)
        self.counted = 0  # bytes the cache's size estimate already got (the rest: by the caller)
        self._fds: tuple[int, int] | None = None  # of the folder and of blobs/, opened by the first blob
        self._opening = threading.Lock()

    def _open(self) -> tuple[int, int]:
        with self._opening:
            if self._fds is None:
                os.makedirs(self._cache._blobs, exist_ok=True)
                folder = os.open(self._tmp, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    self._fds = folder, os.open(self._cache._blobs, os.O_RDONLY | os.O_DIRECTORY)
                except BaseException:
                    os.close(folder)
                    raise
            return self._fds

    def close(self) -> None:
        for fd in self._fds or ():
            os.close(fd)
        self._fds = None

    def _path(self, name: str) -> str:
        return str(self._paths[self._first[name]].as_py())

    def _at(self, name: str) -> list[str]:
        return [self._path(name), *self._dups.get(name, ())]

    def put_blob(self, name: str, data: Any) -> None:
        """Write a fetched blob where the folder needs it (the cache's size estimate is the caller's job)."""
        if self._soft:
            self._cache.put_blob(name, data)
            self.counted += len(data)
            for p in self._at(name):
                os.symlink(self._cache.blob_path(name), f"{self._tmp}/{p}")
            return
        folder, blobs = self._fds or self._open()
        dst = self._path(name)
        try:
            _write_sealed(dst, data, folder)
            for p in self._dups.get(name, ()):
                _link_or_copy(f"{self._tmp}/{dst}", f"{self._tmp}/{p}")
        except OSError as exc:
            if exc.filename == dst:  # named as the folder's file, for the caller's errors
                exc.filename = f"{self._tmp}/{dst}"
            raise
        try:
            os.link(dst, f"{name[:2]}/{name}", src_dir_fd=folder, dst_dir_fd=blobs)
        except FileNotFoundError:
            blob = self._cache.blob_path(name)
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            _link_into_cache(f"{self._tmp}/{dst}", blob)
        except (FileExistsError, OSError):
            pass  # another process cached it, or another filesystem: the folder is still complete

    def folder(self) -> Folder | None:
        if self._soft:
            return None
        os.makedirs(self._cache._blobs, exist_ok=True)
        return Folder(self._tmp, self._cache._blobs, self._places)

    def _places(self, at: np.ndarray) -> list[str]:
        """The paths of the fetched rows ``at`` (called by the fetch's threads that hand out reads:
        taken in the C library's heap, where Arrow's own allocator would keep a heap per thread)."""
        return cast("list[str]", pc.take(self._paths, ints(self._fetched[at]), memory_pool=pa.system_memory_pool()).to_pylist())

    def written(self, names: Iterable[str]) -> None:
        """Link the other paths of blobs that worker processes wrote at their first."""
        if self._dups:
            for name in set(names).intersection(self._dups):
                dst = self._path(name)
                for p in self._dups[name]:
                    _link_or_copy(f"{self._tmp}/{dst}", f"{self._tmp}/{p}")

    def blob_tmp(self, name: str) -> str:
        return self._cache.blob_tmp(name)

    def adopt_blob(self, name: str, tmp: str) -> None:
        self.counted += os.path.getsize(tmp)
        self._cache.adopt_blob(name, tmp)
        place = _symlink if self._soft else _link_or_copy
        for p in self._at(name):
            place(self._cache.blob_path(name), f"{self._tmp}/{p}")
