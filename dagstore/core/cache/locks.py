"""Cross-process locks and per-version leases of the cache."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import filelock

from ...errors import LockTimeoutError

DEFAULT_LOCK_TIMEOUT = 600.0


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


class Leases:
    """Build locks (filelock, blocking with a timeout), flocks, and the shared lease every live
    process holds on each materialized folder it uses (eviction skips leased folders)."""

    root: Path
    _leases: dict[str, int] = {}  # lease path -> open fd, for this process's lifetime
    _leases_lock = threading.Lock()

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

    def version_dir(self, key: str) -> Path:
        return self.root / "versions" / key
