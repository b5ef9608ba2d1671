"""A regular file found by a scan (``core.scan``), as the stat cache and staging see it."""

from __future__ import annotations

from typing import NamedTuple


class LocalFile(NamedTuple):
    """A regular file found by a scan. ``rel`` is '/'-separated, relative to the scan base.
    (A tuple: a scan makes one per file, and a tuple is made several times faster than a
    frozen dataclass.)"""

    path: str
    rel: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    ctime_ns: int = 0  # 0: not known (then its content is never kept for upload, nor its hash remembered)
