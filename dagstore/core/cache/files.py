"""Placing content files in the cache: exclusive writes, hardlinks (copy across devices), symlinks."""

from __future__ import annotations

import errno
import os
import shutil


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
