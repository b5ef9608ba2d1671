"""Eviction: least recently used unleased versions first, then blobs no folder links to."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock

from ..._atomic import rmtree
from .files import _unlink
from .locks import DEFAULT_LOCK_TIMEOUT
from .blobs import Blobs

LEFTOVER_AGE = 600.0  # seconds: crash leftovers older than this, whose owner is gone, are removed
HELD_AGE = 7 * 86400.0  # seconds: content held for a later upload (held/) that no process took since is removed
_HELD_NAME = re.compile(r"\.tmp-kept-([0-9A-Za-z]+)(?:\.arrow|-[0-9a-f]{32})")  # core.stagehold's index and segments
log = logging.getLogger("dagstore")


class Eviction(Blobs):
    """Keeping the cache under ``max_bytes`` without touching what live processes use."""

    max_bytes: int

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
        """Shrink the cache below ``max_bytes``: blobs no folder uses count first, then least
        recently used unleased versions are removed one at a time, only until what they free
        is enough (a blob is freed once no folder links to it); then the freed blobs go,
        oldest access first. Returns the version keys removed."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        self.reclaim_leftovers()
        blobs = list(self._blob_stats())
        total = sum(st.st_size for _, st in blobs)
        if total <= limit:
            return []
        removed = self._evict_versions(blobs, total, limit)
        with self._flock("building", exclusive=True, blocking=False) as idle:
            if idle:  # a build may hold cached blobs it has not linked yet: not now
                self._evict_blobs(limit)
        return removed

    def _evict_versions(self, blobs: list[tuple[Path, os.stat_result]], total: int, limit: int) -> list[str]:
        """Remove least recently used unleased versions until what they free (blobs left with no
        folder linking or soft-linking to them) brings ``total`` under ``limit``; their keys."""
        soft = self._soft_link_targets_by_key()
        pinned = Counter(t for targets in soft.values() for t in targets)
        links = {st.st_ino: _Blob(st.st_nlink, st.st_size, str(path)) for path, st in blobs}
        by_path = {b.path: b for b in links.values()}
        free = sum(b.size for b in links.values() if b.links == 1 and b.path not in pinned)
        removed: list[str] = []
        for key in self._versions_lru():
            if total - free <= limit:
                break
            inodes = self._remove_version_if_unused(key)
            if inodes is None:
                continue
            removed.append(key)
            free += _freed_by_unlinking(links, inodes, pinned)
            free += _freed_by_unpinning(soft.get(key, ()), pinned, by_path)
        return removed

    def _evict_blobs(self, limit: int) -> None:
        """Delete blobs no folder uses, oldest access first, until the cache is under ``limit``."""
        in_use = self._soft_link_targets()
        blobs = sorted(self._blob_stats(), key=lambda b: b[1].st_atime)
        total = sum(st.st_size for _, st in blobs)
        for path, st in blobs:
            if total <= limit:
                break
            if st.st_nlink == 1 and str(path) not in in_use:
                path.unlink(missing_ok=True)
                total -= st.st_size

    def _soft_link_targets(self) -> set[str]:
        """Blobs that soft-linked folders point to (symlinks do not raise a blob's link count)."""
        return {t for targets in self._soft_link_targets_by_key().values() for t in targets}

    def _soft_link_targets_by_key(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        base = self.root / "versions"
        if base.is_dir():
            for e in os.scandir(base):
                if e.name.endswith("-s") and not e.name.startswith("."):
                    out[e.name] = [os.readlink(os.path.join(d, f)) for d, _dirs, files in os.walk(e.path) for f in files]
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

    def _remove_version_if_unused(self, key: str) -> list[int] | None:
        """Remove versions/<key> unless a live process holds its lease; returns the inodes of
        the hardlinks it held (one per file), or None if it was kept."""
        lease = self.root / "leases" / key
        lease.parent.mkdir(parents=True, exist_ok=True)
        if str(lease) in self._leases:
            return None
        fd = os.open(lease, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            src = self.version_dir(key)
            if not src.is_dir():
                return None
            trash = self.root / "versions" / f".trash-{uuid.uuid4().hex}"
            os.rename(src, trash)
            inodes = [e.stat(follow_symlinks=False).st_ino for e in _files_under(str(trash)) if not e.is_symlink()]
            rmtree(trash)
            return inodes
        finally:
            os.close(fd)

    def held_folder(self, store_url: str) -> Path:
        """Where content kept for a later upload to the store at ``store_url`` is held on this
        host when the store cannot hold it itself (``core.stagehold.place``)."""
        return self.root / "held" / hashlib.sha256(store_url.encode()).hexdigest()[:32]

    def reclaim_held(self, store_url: str, gone: Callable[[str], bool], cutoff: float, dry_run: bool = False) -> list[str]:
        """Remove content held for the store at ``store_url`` (``held_folder``) whose draft is
        ``gone`` (given its id), last held or taken before ``cutoff``, a segment only while no
        taker holds its flock; nothing with ``dry_run``. The paths removed (or that would be)."""
        def due(e: os.DirEntry[str]) -> bool:
            draft = _held_draft(e.name)
            return draft is not None and gone(draft) and _older(e, cutoff)
        return _reclaim_held_in(self.held_folder(store_url), due, dry_run)

    def reclaim_leftovers(self, min_age: float = LEFTOVER_AGE, held_age: float = HELD_AGE) -> int:
        """Remove what killed processes left, older than ``min_age`` seconds: partial builds
        (``versions/.tmp-<key>-*``, only if no live process holds that key's build lock),
        interrupted evictions (``versions/.trash-*``), partial blobs (``blobs/*/.tmp-*``, only
        while no build runs anywhere) and partial metadata (``meta/*/.tmp-*``); and content held
        for a later upload (``held/``) that no process held or took for ``held_age`` seconds
        (its draft's upload never came: closed elsewhere, deleted, or abandoned). Runs on its own
        from eviction and, at most every ``LEFTOVER_AGE`` seconds, before a build. Returns how
        many leftovers were removed."""
        cutoff = time.time() - min_age
        removed = _reclaim_held(self.root / "held", time.time() - held_age)
        for e in _entries(self.root / "versions"):
            trash = e.name.startswith(".trash-")
            build = e.name.startswith(".tmp-")
            if (trash or build) and _older(e, cutoff) and (trash or self._lock_free(f"version-{e.name[5:-9]}")):
                rmtree(Path(e.path))
                removed += 1
        temps = [e for sub in _entries(self.root / "meta") for e in _entries(sub.path) if e.name.startswith(".tmp-")]
        with self._flock("building", exclusive=True, blocking=False) as idle:
            if idle:  # no build anywhere is streaming a large blob into a temp file
                temps += [e for sub in _entries(self.root / "blobs") for e in _entries(sub.path) if e.name.startswith(".tmp-")]
        for e in temps:
            if _older(e, cutoff):
                _unlink(e.path)
                removed += 1
        if removed:
            log.info("removed %d leftovers of interrupted processes from cache %s", removed, self.root)
        return removed

    def _reclaim_if_due(self) -> None:
        stamp = self.root / "leftovers-checked"
        try:
            if time.time() - stamp.stat().st_mtime < LEFTOVER_AGE:
                return
        except FileNotFoundError:
            pass
        stamp.touch()
        self.reclaim_leftovers()

    def _lock_free(self, name: str) -> bool:
        """No process holds the build lock ``name`` (it is taken and released at once)."""
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.root / "locks" / f"{name}.lock"))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        lock.release()
        return True


def _entries(path: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _reclaim_held(folder: Path, cutoff: float) -> int:
    """Remove held content (``core.stagehold``: ``<store>/packs/.tmp-kept-*``) last held or taken
    before ``cutoff`` (``_reclaim_held_in``); how many files it removed."""
    return sum(len(_reclaim_held_in(Path(store.path), lambda e: _older(e, cutoff))) for store in _entries(folder))


def _reclaim_held_in(store: Path, due: Callable[[os.DirEntry[str]], bool], dry_run: bool = False) -> list[str]:
    """Remove the held files (``packs/.tmp-kept-*``) of one store's held folder that are ``due``, a
    segment only while no process has it open (the flock its taker holds), then the folders left
    empty; nothing with ``dry_run``. The paths removed (or that would be)."""
    removed = []
    packs = os.path.join(store, "packs")
    for e in _entries(packs):
        if e.name.startswith(".tmp-kept-") and due(e) and _unheld(e.path, dry_run):
            removed.append(e.path)
    for d in () if dry_run else (packs, store):
        with contextlib.suppress(OSError):
            os.rmdir(d)
    return removed


def _unheld(path: str, dry_run: bool) -> bool:
    """Remove a held file unless a taker has it open (its flock); whether it was (or would be) removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:  # a symlink or other non-file under a held name: never opened
        if not dry_run:
            _unlink(path)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a taker's lock: skip it
        if not dry_run:
            _unlink(path)  # under the lock: a taker that waited finds it unnamed and leaves it
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _held_draft(name: str) -> str | None:
    """The draft whose held content a file of a held folder is (None: no name ``hold`` gives)."""
    m = _HELD_NAME.fullmatch(name)
    return m.group(1) if m else None


def _older(e: os.DirEntry[str], cutoff: float) -> bool:
    try:
        return e.stat(follow_symlinks=False).st_mtime <= cutoff
    except FileNotFoundError:
        return False


def _freed_by_unlinking(links: dict[int, _Blob], inodes: Iterable[int], pinned: Counter[str]) -> int:
    """Bytes freed when a removed version's hardlinks to these inodes are gone."""
    freed = 0
    for ino in inodes:
        blob = links.get(ino)
        if blob is not None:
            blob.links -= 1
            if blob.links == 1 and blob.path not in pinned:
                freed += blob.size
    return freed


def _freed_by_unpinning(targets: Iterable[str], pinned: Counter[str], by_path: dict[str, _Blob]) -> int:
    """Bytes freed when a removed soft-linked version no longer points at these blobs."""
    freed = 0
    for target in targets:
        pinned[target] -= 1
        if pinned[target] <= 0:
            del pinned[target]
            blob = by_path.get(target)
            if blob is not None and blob.links == 1:
                freed += blob.size
    return freed


@dataclass(slots=True)
class _Blob:
    """A cached blob during eviction: its remaining hardlinks (1 = only the blob itself)."""

    links: int
    size: int
    path: str


def _files_under(root: str) -> Iterator[os.DirEntry[str]]:
    """Every non-folder entry under ``root``."""
    stack = [root]
    while stack:
        for e in os.scandir(stack.pop()):
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            else:
                yield e
