"""The one place for atomic local writes: a sibling temp file, optional fsync, one rename.

Readers of the target never see a partial file; a crash leaves at most a ``.tmp-*`` sibling.
Also the helper that removes trees whose folders were made read-only (materialized versions).
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path

TMP_PREFIX = ".tmp-"


def temp_path(path: str | os.PathLike[str]) -> Path:
    """A fresh temp path next to ``path`` (same filesystem, so the final rename is atomic)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"


def write_temp(path: str | os.PathLike[str], chunks: Iterable[bytes], fsync: bool = False) -> Path:
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
    tmp = write_temp(path, chunks, fsync=fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def rmtree(path: Path) -> None:
    """Remove a tree whose folders may be read-only."""
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
