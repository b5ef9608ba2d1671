"""A local export target (a folder or a ``.zip`` file) and the temporary sibling written first.

An ``OSError`` while making or writing it (a place that takes no new files such as ``/proc``,
a read-only or full disk, a folder of the path that is a file) becomes one ``StorageError``
line naming the target as the user gave it, never the temporary name; ``cleanup`` removes the
temporary sibling and the folders made for the target, so a failed export leaves nothing. The
sibling is held (``_atomic.HeldTemp``): one left by a killed process is removed by the next.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from .._atomic import HELD_PREFIX, HeldTemp, rmtree
from ..errors import DagstoreError, InvalidPathError, StorageError

# errors of a write that name no path: the target's disk or folder refused it
_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def check_local_target(target: str, overwrite: bool, want_dir: bool) -> None:
    if os.path.islink(target):
        raise InvalidPathError(f"{target} is a symbolic link; give a real path")
    if not os.path.lexists(target):
        return
    if want_dir and not os.path.isdir(target):
        raise InvalidPathError(f"{target} exists and is not a folder")
    if not want_dir and os.path.isdir(target):
        raise InvalidPathError(f"{target} is a folder, not a .zip file")
    empty = want_dir and not os.listdir(target)
    if not empty and not overwrite:
        raise InvalidPathError(f"{target} already exists; pass overwrite=True (--overwrite on the command line) to replace it")


def _first_missing(folder: str) -> str | None:
    """The topmost folder of ``folder``'s path (itself included) that does not exist yet."""
    missing = None
    while not os.path.lexists(folder):
        missing, folder = folder, os.path.dirname(folder)
    return missing


def _not_a_folder(folder: str) -> str | None:
    """The first path of ``folder``'s that exists and is not a folder."""
    while folder != os.path.dirname(folder):
        if os.path.lexists(folder) and not os.path.isdir(folder):
            return folder
        folder = os.path.dirname(folder)
    return None


class LocalTarget:
    """``location`` (absolute) is written as ``tmp``, a fresh held sibling (an empty folder
    when ``tmp_folder``, else an empty file; ``opened`` is what ``open_tmp`` returns for it),
    after the target is checked (``check_local_target``). ``release`` once it is renamed."""

    def __init__(self, target: str, overwrite: bool, want_dir: bool, tmp_folder: bool,
                 open_tmp: Callable[[str], Any] | None = None):
        self.given = target
        self.location = os.path.abspath(target)
        check_local_target(self.location, overwrite, want_dir)
        self.parent = os.path.dirname(self.location)
        self._made = _first_missing(self.parent)
        self._held: HeldTemp | None = None
        self.tmp = os.path.join(self.parent, HELD_PREFIX)  # its full name once made
        try:
            with self.writing():
                os.makedirs(self.parent, exist_ok=True)
                self._held = HeldTemp(self.location, folder=tmp_folder)
                self.tmp = str(self._held.path)
                self.opened: Any = open_tmp(self.tmp) if open_tmp else None
        except BaseException:
            self.cleanup()
            raise

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Turn an ``OSError`` about this target into one line naming it."""
        try:
            yield
        except OSError as exc:
            self.reraise(exc)

    def reraise(self, exc: OSError) -> NoReturn:
        """Raise ``exc``, as one line naming the target when it is about the target."""
        err = self._error(exc)
        if err is None:
            raise exc
        raise err from exc

    def _error(self, exc: OSError) -> StorageError | None:
        """``exc`` as one line naming the target, or ``None`` when it is not about the target:
        judged by its first path (of a link or rename, the source: a missing source is not the
        target's fault), or by its kind when it names none (disk full, file too large, ...)."""
        if isinstance(exc, DagstoreError):
            return None
        said = f"cannot write the export to {self.given}: "
        reason = exc.strerror or type(exc).__name__
        if exc.filename is None:
            return StorageError(said + reason) if exc.errno in _WRITE_ERRNOS else None
        n = os.path.abspath(os.fsdecode(exc.filename))
        if os.path.dirname(n) == self.parent and os.path.basename(n).startswith(HELD_PREFIX):  # the temp, or the old target's
            return StorageError(f"{said}{reason} (making a new entry in {self.parent})")
        if n.startswith(self.tmp) or n == self.location:
            return StorageError(said + reason)
        if self.parent == n or self.parent.startswith(n.rstrip(os.sep) + os.sep):  # a folder of the path
            blocker = _not_a_folder(self.parent) if exc.errno in (errno.ENOTDIR, errno.EEXIST) else None
            return StorageError(said + (f"{blocker} is not a folder" if blocker else f"{reason} ({n})"))
        return None

    def release(self) -> None:
        """Drop the temporary sibling's lock (it was renamed into place, or removed)."""
        if self._held is not None:
            self._held.release()

    def cleanup(self) -> None:
        """Remove the temporary sibling and the (empty) folders made for the target."""
        if self._held is not None:
            rmtree(self.tmp)
            self.release()
        folder = self.parent
        while self._made is not None:
            try:
                os.rmdir(folder)
            except OSError:
                return
            if folder == self._made:
                return
            folder = os.path.dirname(folder)
