"""Content blobs and immutable metadata files in the cache."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator

from ..._atomic import atomic_write, write_temp
from ...errors import DagstoreError, StorageError
from ..scan import StatCache
from .files import BLOB_MTIME_NS, _unlink, _write_sealed, seal_read_only
from .locks import Leases

log = logging.getLogger("dagstore")
_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR}


class Blobs(Leases):
    """``blobs/ab/<hash>`` (read-only content), ``meta/<kind>/<name>`` and the stat cache."""

    _statcache: StatCache | None
    _blobs: str
    _added: int
    _size_lock: threading.Lock
    _meta_warned: set[int | None]

    def read_immutable(self, kind: str, name: str) -> bytes | None:
        try:
            with open(self.root / "meta" / kind / name, "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_immutable(self, kind: str, name: str, data: bytes) -> None:
        """Keep a copy of immutable store metadata; best effort (a full or read-only cache
        only costs a re-read from the store later)."""
        try:
            atomic_write(self.root / "meta" / kind / name, data)
        except OSError as exc:
            self._not_cached(kind, name, exc)

    def _not_cached(self, kind: str, name: str, exc: OSError) -> None:
        # a read-only or misplaced cache folder is the cache write's own one-line error
        # later; a full one is said once per cache, not once per file
        quiet = exc.errno in _UNWRITABLE or exc.errno in self._meta_warned
        log.log(logging.DEBUG if quiet else logging.WARNING, "not caching %s/%s in %s: %s", kind, name, self.root, exc.strerror or exc)
        self._meta_warned.add(exc.errno)

    def immutable_path(self, kind: str, name: str) -> str:
        return str(self.root / "meta" / kind / name)

    def write_sealed(self, kind: str, name: str, data: bytes | memoryview | Callable[[str], None]) -> None:
        """Like ``write_immutable``, for files that are memory-mapped: read-only, with the
        cache's fixed mtime set before the rename, so a later change in place is detected.
        ``data`` may be a function that writes the file at the path it is given (a large file
        written as it is made, never whole in memory)."""
        target = self.root / "meta" / kind / name
        try:
            tmp = write_temp(target, [] if callable(data) else [data])
            try:
                if callable(data):
                    data(str(tmp))
                seal_read_only(str(tmp))
                os.replace(tmp, target)
            except BaseException:
                _unlink(str(tmp))
                raise
        except OSError as exc:
            self._not_cached(kind, name, exc)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A cache write that fails (a full disk, a read-only or misplaced cache folder) is one
        StorageError naming the cache folder; the store's own errors pass through."""
        try:
            yield
        except DagstoreError:
            raise
        except OSError as exc:
            names = [os.fspath(n) for n in (exc.filename, exc.filename2) if n is not None]
            ours = [n for n in names if n.startswith(str(self.root)) or str(self.root).startswith(n)]
            if names and not ours:
                raise  # not the cache's
            hint = "free space, or lower DAGSTORE_CACHE_MAX_SIZE" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "set DAGSTORE_CACHE_DIR to a writable folder"
            where = f" ({ours[0]})" if ours else ""
            raise StorageError(f"cache folder {self.root}: {exc.strerror or exc}{where}; {hint}") from exc

    @property
    def statcache(self) -> StatCache:
        if self._statcache is None:
            self._statcache = StatCache(self.root / "statcache.sqlite")
        return self._statcache

    def blob_path(self, blob_hash: str) -> str:
        return f"{self._blobs}/{blob_hash[:2]}/{blob_hash}"

    def has_blob(self, blob_hash: str) -> bool:
        return os.path.exists(self.blob_path(blob_hash))

    def blob_ok(self, name: str, size: int) -> bool:
        """The blob is cached and unchanged: its size and the cache's fixed mtime (one stat)."""
        try:
            st = os.stat(self.blob_path(name))
        except OSError:
            return False
        return st.st_size == size and st.st_mtime_ns == BLOB_MTIME_NS

    def check_blobs(self, sizes: Iterable[tuple[str, int]]) -> tuple[list[str], list[str]]:
        """``(unchanged, changed)``: the blobs among ``sizes`` ((name, expected size) pairs) that are
        cached as ``blob_ok`` says, and those cached but changed. One stat per blob whose
        prefix folder exists; none at all in an empty cache (whose pairs are not even read: a
        cold copy's blob names are made when asked)."""
        ok: list[str] = []
        changed: list[str] = []
        if not os.path.isdir(self._blobs):
            return ok, changed
        folders: dict[str, bool] = {}
        for name, size in sizes:
            prefix = name[:2]
            if prefix not in folders:
                folders[prefix] = os.path.isdir(f"{self._blobs}/{prefix}")
            if not folders[prefix]:
                continue
            try:
                st = os.lstat(self.blob_path(name))
            except FileNotFoundError:
                continue
            if st.st_size == size and st.st_mtime_ns == BLOB_MTIME_NS and stat.S_ISREG(st.st_mode):
                ok.append(name)
            else:
                changed.append(name)
        return ok, changed

    def drop_blob(self, name: str) -> None:
        """Forget a cached blob found changed (folders linking it keep their copy until rebuilt)."""
        _unlink(self.blob_path(name))

    def blob_tmp(self, blob_hash: str) -> str:
        """A temp path on the blob's filesystem, for streaming large downloads into."""
        d = f"{self._blobs}/{blob_hash[:2]}"
        os.makedirs(d, exist_ok=True)
        return f"{d}/.tmp-{uuid.uuid4().hex}"

    def put_blob(self, blob_hash: str, data: bytes) -> None:
        """Store content (already verified against its hash) as a read-only blob, atomically."""
        tmp = self.blob_tmp(blob_hash)
        try:
            _write_sealed(tmp, data)
            os.replace(tmp, self.blob_path(blob_hash))
        except BaseException:
            _unlink(tmp)
            raise
        self._grow(len(data))

    def folder(self) -> None:
        """The blob cache is no folder others write into (``BlobSink``): blobs come by ``put_blob``."""
        return None

    def written(self, names: Iterable[str]) -> None:
        """Nothing to finish (``folder()`` is None)."""

    def adopt_blob(self, blob_hash: str, tmp: str) -> None:
        """Move a verified temp file into place as the blob."""
        seal_read_only(tmp)
        size = os.path.getsize(tmp)
        os.replace(tmp, self.blob_path(blob_hash))
        self._grow(size)

    def _grow(self, nbytes: int) -> None:
        """Add to the running size estimate that decides when to evict."""
        with self._size_lock:
            self._added += nbytes
