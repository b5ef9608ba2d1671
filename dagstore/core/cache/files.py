"""Placing content files in the cache: exclusive writes, hardlinks (copy across devices), symlinks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import time
from pathlib import Path

from ...errors import IntegrityError

# Every cached blob gets this fixed modification time (2000-01-01 UTC) when it enters the
# cache: it is the cache's record that the file is unchanged. A blob with another mtime or
# size was edited in place (after a chmod) and is fetched again instead of being reused.
BLOB_MTIME_NS = 946_684_800 * 1_000_000_000


def _seal(path: str | int) -> None:
    """Give a new blob (a path or an open descriptor) the cache's fixed mtime (its atime,
    used for eviction order, is now)."""
    os.utime(path, ns=(time.time_ns(), BLOB_MTIME_NS))


def seal_read_only(path: str) -> None:
    """Make a finished file read-only and sealed (before it is renamed into place): what a
    memory-mapped cache file needs for ``Guard`` to tell a later change in place."""
    os.chmod(path, 0o444)
    _seal(path)


class Guard:
    """The identity of a memory-mapped cache file (a state, the UI's index), held open:
    ``sealed`` says it is as written (``cache.files.seal_read_only``: a change in place since
    resets its mtime), and one ``fstat`` in ``check`` whether its bytes were changed in place
    while mapped (a rename or removal leaves the mapped inode as it was)."""

    def __init__(self, path: str, what: str = "cached state"):
        self.path, self.what = path, what
        self.fd = -1
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        self.sig = (st.st_size, st.st_mtime_ns)
        self.sealed = st.st_mtime_ns == BLOB_MTIME_NS

    def changed(self) -> bool:
        st = os.fstat(self.fd)
        return (st.st_size, st.st_mtime_ns) != self.sig

    def check(self) -> None:
        if self.changed():
            raise IntegrityError(f"{self.what} {self.path} was changed while in use; run the command again (it is rebuilt from the store)")

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)


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
