"""Placing content files in the cache: exclusive writes, hardlinks (copy across devices), symlinks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import time
from pathlib import Path

# Every cached blob gets this fixed modification time (2000-01-01 UTC) when it enters the
# cache: it is the cache's record that the file is unchanged. A blob with another mtime or
# size was edited in place (after a chmod) and is fetched again instead of being reused.
BLOB_MTIME_NS = 946_684_800 * 1_000_000_000


def _seal(path: str | int) -> None:
    """Give a new blob (a path or an open descriptor) the cache's fixed mtime (its atime,
    used for eviction order, is now)."""
    os.utime(path, ns=(time.time_ns(), BLOB_MTIME_NS))


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _read_only_dir(path: Path) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and not st.st_mode & 0o222


def _write_sealed(path: str, data: bytes, dir_fd: int | None = None) -> None:
    """Create ``path`` (read-only, never an existing file; relative to ``dir_fd`` if given)
    holding ``data``, sealed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444, dir_fd=dir_fd)
    try:
        written = os.write(fd, data) if data else 0
        if written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view[: 1 << 30]) :]
        _seal(fd)
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
