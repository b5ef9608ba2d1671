"""Materialized versions: read-only folders built in a temp folder and renamed into place."""

from __future__ import annotations

import errno
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from ..._atomic import rmtree
from ...errors import InvalidPathError
from ..manifest import Entry
from ..progress import progress_bar
from .blobs import Blobs
from .eviction import Eviction
from .files import _link_into_cache, _link_or_copy, _read_only_dir, _symlink, _write_sealed
from .locks import DEFAULT_LOCK_TIMEOUT

log = logging.getLogger("dagstore")


class BlobSink(Protocol):
    """Where fetched content goes: the blob cache itself, or a folder being built."""

    def put_blob(self, name: str, data: bytes) -> None: ...

    def blob_tmp(self, name: str) -> str: ...

    def adopt_blob(self, name: str, tmp: str) -> None: ...


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
        with self._writing():
            return self._materialize(key, entries, blob_name, fetch, use_soft_links, lock_timeout, show_progress)

    def _materialize(
        self,
        key: str,
        entries: Mapping[str, Entry],
        blob_name: Callable[[Entry], str],
        fetch: Callable[[list[Entry], BlobSink], None],
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
                        self._build(tmp, entries, blob_name, fetch, use_soft_links, show_progress)
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
        self._reclaim_if_due()
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
        present, changed = self.check_blobs({name: e.size for name, e in first.items()})
        cached = set(present)
        missing = {name: e for name, e in first.items() if name not in cached}
        if changed:  # changed in place, or cached before blobs were sealed: never reuse them
            log.warning("%d cached files in %s differ from what the cache recorded; fetching them again", len(changed), self.root)
            for name in changed:
                self.drop_blob(name)
        if missing:
            sink = _TreeSink(self, tmp, paths, soft)
            fetch(list(missing.values()), sink)
            self._grow(sum(e.size for e in missing.values()) - sink.counted)
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
    them visible, so no per-file temp files are needed."""

    def __init__(self, cache: Blobs, tmp: str, paths: Mapping[str, list[str]], soft: bool):
        self._cache, self._tmp, self._paths, self._soft = cache, tmp, paths, soft
        self.counted = 0  # bytes the cache's size estimate already got (the rest: by the caller)

    def put_blob(self, name: str, data: bytes) -> None:
        """Write a fetched blob where the folder needs it (the cache's size estimate is the caller's job)."""
        if self._soft:
            self._cache.put_blob(name, data)
            self.counted += len(data)
            for p in self._paths[name]:
                os.symlink(self._cache.blob_path(name), f"{self._tmp}/{p}")
            return
        first, *rest = self._paths[name]
        dst = f"{self._tmp}/{first}"
        _write_sealed(dst, data)
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

    def blob_tmp(self, name: str) -> str:
        return self._cache.blob_tmp(name)

    def adopt_blob(self, name: str, tmp: str) -> None:
        self.counted += os.path.getsize(tmp)
        self._cache.adopt_blob(name, tmp)
        place = _symlink if self._soft else _link_or_copy
        for p in self._paths[name]:
            place(self._cache.blob_path(name), f"{self._tmp}/{p}")
