"""Handing the pages of a read-only memory-mapped file back to the kernel after a streaming
pass has read them: the pages stay in the page cache, but no longer count in the process's
resident memory, so a pass over a large mapped state keeps a flat peak RSS. (madvise
``MADV_DONTNEED`` on a read-only file mapping loses nothing: a later read maps the page again.)
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Iterable

import pyarrow as pa

_MADV_DONTNEED = 4
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def mapped_span(mapped: pa.MemoryMappedFile) -> tuple[int, int]:
    """(first, last + 1) address of a memory-mapped file's mapping."""
    pos = mapped.tell()
    mapped.seek(0)
    whole = mapped.read_buffer(mapped.size())
    mapped.seek(pos)
    return whole.address, whole.address + whole.size


def release(spans: Iterable[tuple[int, int]]) -> None:
    """Drop this process's mapping of the whole pages inside each span of ``mapped_span``."""
    if _LIBC is None:
        return
    for start, end in spans:
        lo, hi = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE, end // mmap.PAGESIZE * mmap.PAGESIZE
        if hi > lo:
            _LIBC.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), _MADV_DONTNEED)
