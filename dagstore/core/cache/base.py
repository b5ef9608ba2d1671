"""The local cache: content blobs, immutable metadata, materialized versions, locks, leases, eviction.

Layout under the cache root (``DAGSTORE_CACHE_DIR``, default: the platform cache dir)::

    blobs/ab/<hash>        read-only content files, one per hash
    meta/<kind>/<name>     immutable store metadata (manifests, merged states, pack indexes)
    versions/<key>/        materialized, read-only folders: hardlinks into blobs/
    leases/<key>           a shared flock held by every live process using versions/<key>
    locks/<key>.lock       cross-process build locks
    statcache.sqlite       (device, inode, size, mtime_ns) -> hash of local files

A folder appears in ``versions/`` only by an atomic rename of a complete build, so its
existence means it is complete. Eviction takes the exclusive flock of a folder's lease file
without blocking; a live user's shared lock makes it skip that folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

import filelock
import platformdirs

from ... import config
from ..._atomic import atomic_write, rmtree
from ...errors import LockTimeoutError
from ..manifest import Entry
from ..progress import progress_bar
from ..scan import StatCache

DEFAULT_LOCK_TIMEOUT = 600.0
DEFAULT_MAX_BYTES = 100 << 30


def parse_size(text: str) -> int:
    """'200GB', '512M', '1.5TiB' or a plain byte count, as bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("ib").rstrip("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


class Cache:
    """A local cache directory, safe to share between processes on one host."""

    _leases: dict[str, int] = {}  # lease path -> open fd, for this process's lifetime
    _leases_lock = threading.Lock()

    def __init__(self, root: str | os.PathLike[str] | None = None, max_bytes: int | None = None):
        self.root = Path(root or config.setting("cache_dir") or platformdirs.user_cache_dir("dagstore")).expanduser().absolute()
        env_max = config.setting("cache_max_size")
        self.max_bytes = max_bytes if max_bytes is not None else (parse_size(str(env_max)) if env_max else DEFAULT_MAX_BYTES)
        self._statcache: StatCache | None = None
        self._blobs = str(self.root / "blobs")
        self._added = 0
        self._size_lock = threading.Lock()

    # -- small immutable files -------------------------------------------------------------

    def read_immutable(self, kind: str, name: str) -> bytes | None:
        try:
            with open(self.root / "meta" / kind / name, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write_immutable(self, kind: str, name: str, data: bytes) -> None:
        atomic_write(self.root / "meta" / kind / name, data)

    @property
    def statcache(self) -> StatCache:
        if self._statcache is None:
            self._statcache = StatCache(self.root / "statcache.sqlite")
        return self._statcache

    # -- blobs -----------------------------------------------------------------------------

    def blob_path(self, blob_hash: str) -> str:
        return f"{self._blobs}/{blob_hash[:2]}/{blob_hash}"

    def has_blob(self, blob_hash: str) -> bool:
        return os.path.exists(self.blob_path(blob_hash))

    def blob_tmp(self, blob_hash: str) -> str:
        """A temp path on the blob's filesystem, for streaming large downloads into."""
        d = f"{self._blobs}/{blob_hash[:2]}"
        os.makedirs(d, exist_ok=True)
        return f"{d}/.tmp-{uuid.uuid4().hex}"

    def put_blob(self, blob_hash: str, data: bytes) -> None:
        """Store content (already verified against its hash) as a read-only blob, atomically."""
        tmp = self.blob_tmp(blob_hash)
        _write_new(tmp, data)
        os.replace(tmp, self.blob_path(blob_hash))
        self._grow(len(data))

    def adopt_blob(self, blob_hash: str, tmp: str) -> None:
        """Move a verified temp file into place as the blob."""
        os.chmod(tmp, 0o444)
        size = os.path.getsize(tmp)
        os.replace(tmp, self.blob_path(blob_hash))
        self._grow(size)

    def _grow(self, nbytes: int) -> None:
        """Add to the running size estimate that decides when to evict."""
        with self._size_lock:
            self._added += nbytes

    # -- locks and leases --------------------------------------------------------------------

    def lock(self, name: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> _Lock:
        """A blocking cross-process lock (waits up to ``timeout`` seconds)."""
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        return _Lock(filelock.FileLock(str(self.root / "locks" / f"{name}.lock")), timeout, name)

    def _hold_lease(self, key: str) -> None:
        """Take this process's shared lease on versions/<key> before the folder exists."""
        path = self.root / "leases" / key
        with self._leases_lock:
            if str(path) in self._leases:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._leases[str(path)] = fd

    def _lease(self, key: str) -> bool:
        """Hold the lease on an existing versions/<key> (False if it was evicted meanwhile) and
        mark it as just used (eviction goes least recently used first)."""
        self._hold_lease(key)
        if not (self.root / "versions" / key).is_dir():
            self._drop_lease(key)
            return False
        os.utime(self.root / "leases" / key)
        return True

    def _drop_lease(self, key: str) -> None:
        with self._leases_lock:
            fd = self._leases.pop(str(self.root / "leases" / key), None)
        if fd is not None:
            os.close(fd)

    @contextlib.contextmanager
    def _flock(self, name: str, exclusive: bool, blocking: bool = True) -> Iterator[bool]:
        """flock of locks/<name>.flock; yields False (not held) when non-blocking and busy."""
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "locks" / f"{name}.flock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # -- materialized versions ----------------------------------------------------------------

    def version_dir(self, key: str) -> Path:
        return self.root / "versions" / key

    def cached_version(self, key: str) -> str | None:
        """The materialized folder, leased, if it is already complete; else None."""
        if self.version_dir(key).is_dir() and self._lease(key):
            return str(self.version_dir(key))
        return None

    def materialize(
        self,
        key: str,
        entries: Mapping[str, Entry],
        blob_name: Callable[[Entry], str],
        fetch: Callable[[list[Entry], BlobSink], None],
        use_soft_links: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        show_progress: bool = True,
    ) -> str:
        """Build versions/<key> (fetching missing content with ``fetch(entries, sink)``) and
        lease it. Fetched content is written straight into the new folder and linked into
        the blob cache; cached content is hardlinked from it."""
        done = self.cached_version(key)
        if done:
            return done
        with self.lock(f"version-{key}", lock_timeout):
            done = self.cached_version(key)
            if done:
                return done
            versions = self.root / "versions"
            versions.mkdir(parents=True, exist_ok=True)
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
                    self._build(tmp, entries, blob_name, fetch, use_soft_links, show_progress)
                    os.rename(tmp, versions / key)
                except BaseException:
                    self._drop_lease(key)
                    rmtree(Path(tmp))
                    raise
            if not self._lease(key):
                raise RuntimeError(f"cache folder {key} vanished while being leased")
        self.evict_if_needed()
        return str(self.version_dir(key))

    def _build(
        self,
        tmp: str,
        entries: Mapping[str, Entry],
        blob_name: Callable[[Entry], str],
        fetch: Callable[[list[Entry], BlobSink], None],
        soft: bool,
        show_progress: bool,
    ) -> None:
        os.mkdir(tmp)
        dirs = sorted({p.rpartition("/")[0] for p in entries} - {""})
        for d in dirs:
            os.makedirs(f"{tmp}/{d}", exist_ok=True)
        paths: dict[str, list[str]] = {}
        first: dict[str, Entry] = {}
        for path, e in entries.items():
            name = blob_name(e)
            paths.setdefault(name, []).append(path)
            first.setdefault(name, e)
        missing = {name: e for name, e in first.items() if not os.path.exists(self.blob_path(name))}
        present = [name for name in paths if name not in missing]
        if missing:
            fetch(list(missing.values()), _TreeSink(self, tmp, paths, soft))
        place = _link_or_copy if not soft else _symlink
        bar = progress_bar(sum(len(paths[n]) for n in present), "link", show_progress and len(present) > 1000, unit="file")
        try:
            for name in present:
                src = self.blob_path(name)
                for p in paths[name]:
                    place(src, f"{tmp}/{p}")
                bar.relative_update(len(paths[name]))
        finally:
            bar.close()
        for d in reversed(dirs):
            os.chmod(f"{tmp}/{d}", 0o555)
        os.chmod(tmp, 0o555)

    # -- eviction ------------------------------------------------------------------------------

    def evict_if_needed(self) -> list[str]:
        """Evict when the blob cache may have grown past ``max_bytes``. The size is measured
        (one scan of blobs/) only when the recorded size plus what this process added exceeds
        the limit, so the common case costs one small file read."""
        size_file = self.root / "size"
        with self._size_lock:
            added, self._added = self._added, 0
        with filelock.FileLock(str(self.root / "locks" / "size.lock"), timeout=DEFAULT_LOCK_TIMEOUT):
            try:
                known = int(size_file.read_text() or 0)
            except (FileNotFoundError, ValueError):
                known = 0
            estimate = known + added
            if estimate > self.max_bytes:
                removed = self.evict()
                estimate = sum(st.st_size for _, st in self._blob_stats())
            else:
                removed = []
            size_file.write_text(str(estimate))
        return removed

    def evict(self, max_bytes: int | None = None) -> list[str]:
        """Shrink the cache below ``max_bytes``: least recently used unleased versions first,
        then blobs no materialized version links to. Returns the version keys removed."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        blobs = list(self._blob_stats())
        total = sum(st.st_size for _, st in blobs)
        if total <= limit:
            return []
        removed: list[str] = []
        for key in self._versions_lru():
            if self._remove_version_if_unused(key):
                removed.append(key)
        with self._flock("building", exclusive=True, blocking=False) as idle:
            if not idle:  # a build may hold cached blobs it has not linked yet: not now
                return removed
            in_use = self._soft_link_targets()
            blobs = sorted(self._blob_stats(), key=lambda b: b[1].st_atime)
            total = sum(st.st_size for _, st in blobs)
            for path, st in blobs:
                if total <= limit:
                    break
                if st.st_nlink == 1 and str(path) not in in_use:
                    path.unlink(missing_ok=True)
                    total -= st.st_size
        return removed

    def _soft_link_targets(self) -> set[str]:
        """Blobs that soft-linked folders point to (symlinks do not raise a blob's link count)."""
        out: set[str] = set()
        base = self.root / "versions"
        if base.is_dir():
            for e in os.scandir(base):
                if e.name.endswith("-s") and not e.name.startswith("."):
                    for dirpath, _dirs, files in os.walk(e.path):
                        out.update(os.readlink(os.path.join(dirpath, f)) for f in files)
        return out

    def _blob_stats(self) -> Iterable[tuple[Path, os.stat_result]]:
        base = self.root / "blobs"
        if not base.is_dir():
            return
        for sub in os.scandir(base):
            for e in os.scandir(sub.path):
                if not e.name.startswith(".tmp-"):
                    yield Path(e.path), e.stat()

    def _versions_lru(self) -> list[str]:
        base = self.root / "versions"
        if not base.is_dir():
            return []
        keys = [e.name for e in os.scandir(base) if not e.name.startswith(".")]

        def used(k: str) -> float:
            try:
                return (self.root / "leases" / k).stat().st_mtime
            except FileNotFoundError:
                return 0.0

        return sorted(keys, key=used)

    def _remove_version_if_unused(self, key: str) -> bool:
        lease = self.root / "leases" / key
        lease.parent.mkdir(parents=True, exist_ok=True)
        if str(lease) in self._leases:
            return False
        fd = os.open(lease, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            src = self.version_dir(key)
            if not src.is_dir():
                return False
            trash = self.root / "versions" / f".trash-{uuid.uuid4().hex}"
            os.rename(src, trash)
            rmtree(trash)
            return True
        finally:
            os.close(fd)

    def clear_trash(self) -> None:
        """Remove leftovers of builds or evictions interrupted by a crash."""
        base = self.root / "versions"
        if base.is_dir():
            for e in os.scandir(base):
                if e.name.startswith((".tmp-", ".trash-")):
                    rmtree(Path(e.path))


class BlobSink(Protocol):
    """Where fetched content goes: the blob cache itself, or a folder being built."""

    def put_blob(self, name: str, data: bytes) -> None: ...

    def blob_tmp(self, name: str) -> str: ...

    def adopt_blob(self, name: str, tmp: str) -> None: ...


class _TreeSink:
    """Writes fetched blobs directly into a folder being built (at every path that holds
    them) and links them into the blob cache. Only the final rename of the folder makes
    them visible, so no per-file temp files are needed."""

    def __init__(self, cache: Cache, tmp: str, paths: Mapping[str, list[str]], soft: bool):
        self._cache, self._tmp, self._paths, self._soft = cache, tmp, paths, soft

    def put_blob(self, name: str, data: bytes) -> None:
        if self._soft:
            self._cache.put_blob(name, data)
            for p in self._paths[name]:
                os.symlink(self._cache.blob_path(name), f"{self._tmp}/{p}")
            return
        first, *rest = self._paths[name]
        dst = f"{self._tmp}/{first}"
        _write_new(dst, data)
        for p in rest:
            _link_or_copy(dst, f"{self._tmp}/{p}")
        blob = self._cache.blob_path(name)
        try:
            os.link(dst, blob)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            _link_into_cache(dst, blob)
        except (FileExistsError, OSError):
            pass  # another process cached it, or another filesystem: the folder is still complete
        self._cache._grow(len(data))

    def blob_tmp(self, name: str) -> str:
        return self._cache.blob_tmp(name)

    def adopt_blob(self, name: str, tmp: str) -> None:
        self._cache.adopt_blob(name, tmp)
        place = _symlink if self._soft else _link_or_copy
        for p in self._paths[name]:
            place(self._cache.blob_path(name), f"{self._tmp}/{p}")


def _write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[: 1 << 30]) :]
    finally:
        os.close(fd)


def _link_into_cache(src: str, blob: str) -> None:
    try:
        os.link(src, blob)
    except OSError:
        pass


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP):
            raise
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o444)


def _symlink(src: str, dst: str) -> None:
    os.symlink(src, dst)


class _Lock:
    def __init__(self, lock: filelock.FileLock, timeout: float, name: str):
        self._lock, self._timeout, self._name = lock, timeout, name

    def __enter__(self) -> _Lock:
        try:
            self._lock.acquire(timeout=self._timeout)
        except filelock.Timeout:
            raise LockTimeoutError(f"timed out after {self._timeout:g}s waiting for cache lock {self._name!r} (another process holds it)") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
