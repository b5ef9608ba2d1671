"""The one place for atomic local replacement of files and folders: write a ``.tmp-*``
sibling (same filesystem), then one rename puts it in place.

Readers of the target never see a partial file or folder; a crash leaves at most a ``.tmp-*``
sibling. Used by the local backend, export sinks, export extraction, checkout and the CLI.
Also the helper that removes trees whose folders were made read-only (materialized versions).

A temp that lives long in a folder of the user's (a copy, an export, the old folder set aside)
is *held* (``HeldTemp``, ``.tmp-held-*``): its creator keeps a ``flock`` on it for its whole life,
so the kernel drops the lock when the process dies, even by ``kill -9``. Making a held temp first
removes the held temps of that folder whose lock can be taken: their owners are gone (no pid
to be reused, no clock); a live writer's temp is never touched.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TMP_PREFIX = ".tmp-"
HELD_PREFIX = f"{TMP_PREFIX}held-"
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR)  # a rename's target exists and is not an empty folder


def temp_path(path: str | os.PathLike[str]) -> Path:
    """A fresh temp name next to ``path`` (same filesystem, so the final rename is atomic; the
    prefix gc knows), its folder made."""
    p = Path(path).parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def write_temp(path: str | os.PathLike[str], chunks: Iterable[bytes | memoryview], fsync: bool = False) -> Path:
    """Write ``chunks`` to a temp sibling of ``path`` and return it (removed again on error)."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: str | os.PathLike[str], data: bytes | Iterable[bytes], fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically: temp sibling, optional fsync, rename."""
    chunks = (data,) if isinstance(data, bytes) else data
    replace_file(write_temp(path, chunks, fsync=fsync), path)


def replace_file(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Rename the finished ``tmp`` over ``path`` (a file or symlink) atomically; ``tmp`` is
    removed if that fails."""
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _lock(path: str | os.PathLike[str]) -> int | None:
    """An fd of ``path`` holding its exclusive ``flock``, or ``None`` when another holds it or
    ``path`` no longer names the file locked (removed or replaced meanwhile)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        st, now = os.fstat(fd), os.lstat(path)
        if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def sweep_dead(folder: str | os.PathLike[str]) -> None:
    """Remove this user's held temps in ``folder`` whose lock can be taken (their owner is dead)."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(HELD_PREFIX) and not e.is_symlink()]
    except OSError:
        return
    for e in entries:
        try:
            fd = _lock(e.path)
        except OSError:  # gone, or not ours to open
            continue
        if fd is None:
            continue
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                rmtree(e.path)
        finally:
            os.close(fd)


class HeldTemp:
    """A fresh temp sibling of ``path`` (an empty folder, or an empty file), locked until
    ``release``; the dead owners' held temps of that folder are removed first."""

    def __init__(self, path: str | os.PathLike[str], folder: bool):
        parent = Path(path).parent
        parent.mkdir(parents=True, exist_ok=True)
        sweep_dead(parent)
        fd = None
        while fd is None:  # another process's sweep may take a name between its making and its lock
            self.path = parent / f"{HELD_PREFIX}{uuid.uuid4().hex}"
            if folder:
                self.path.mkdir()
            else:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            try:
                fd = _lock(self.path)
            except BaseException:
                rmtree(self.path)
                raise
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock (after the temp was renamed into place or removed)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def replace_folder(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Put the finished folder ``tmp`` at ``path`` in one rename: an existing ``path`` is first
    moved into a held temp (put back if the rename fails) that is then removed. Concurrent
    replacements of one ``path`` all succeed (the last rename wins)."""
    aside: HeldTemp | None = None
    moved: list[Path] = []
    try:
        while True:
            try:
                os.rename(tmp, path)  # no ``path``, or an empty folder (replaced by the rename)
                return
            except OSError as exc:
                if exc.errno not in _TAKEN:
                    raise
            aside = aside or HeldTemp(path, folder=True)
            old = aside.path / str(len(moved))
            with suppress(FileNotFoundError):  # another replacement moved it first
                os.rename(path, old)
                moved.append(old)
    except BaseException:
        if moved and not os.path.lexists(path):
            os.rename(moved[-1], path)
        raise
    finally:
        if aside is not None:
            rmtree(aside.path)
            aside.release()


@contextmanager
def new_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh held temp folder beside ``path`` to fill; on success it replaces ``path`` in one
    rename, on error it is removed and ``path`` is left as it was."""
    held = HeldTemp(path, folder=True)
    try:
        yield held.path
        replace_folder(held.path, path)
    except BaseException:
        rmtree(held.path)
        raise
    finally:
        held.release()


def rmtree(path: str | os.PathLike[str]) -> None:
    """Remove a file, a symlink or a tree whose folders may be read-only."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    for dirpath, dirnames, _files in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            try:
                if not os.path.islink(p):  # a link's target is not ours to change
                    os.chmod(p, stat.S_IRWXU)
            except OSError:
                pass
    os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)
