"""The one place for atomic local replacement of files and folders: write a ``.tmp-*``
sibling (same filesystem), then one rename puts it in place.

Readers of the target never see a partial file or folder; a crash leaves at most a ``.tmp-*``
sibling. Used by the local backend, export sinks, export extraction, checkout and the CLI.
Also the helper that removes trees whose folders were made read-only (materialized versions).
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_PREFIX = ".tmp-"


def sibling_name(path: str | os.PathLike[str]) -> Path:
    """A fresh temp name next to ``path`` (same filesystem, so the final rename is atomic; the
    prefix gc knows), its folder not made."""
    return Path(path).parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"


def temp_path(path: str | os.PathLike[str]) -> Path:
    """``sibling_name(path)``, its folder made."""
    p = sibling_name(path)
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


def replace_folder(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Put the finished folder ``tmp`` at ``path``: an existing ``path`` is renamed aside, ``tmp``
    renamed in (the old one put back if that fails), then the old one removed."""
    old = None
    if os.path.lexists(path):
        old = Path(f"{tmp}.old")
        os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)
        raise
    if old is not None:
        rmtree(old)


@contextmanager
def new_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh temp folder beside ``path`` to fill; on success it replaces ``path`` in one
    rename, on error it is removed and ``path`` is left as it was."""
    tmp = temp_path(path)
    tmp.mkdir()
    try:
        yield tmp
        replace_folder(tmp, path)
    except BaseException:
        rmtree(tmp)
        raise


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
            try:
                os.chmod(os.path.join(dirpath, d), stat.S_IRWXU)
            except OSError:
                pass
    os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)
