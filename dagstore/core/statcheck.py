"""Upload's check that each kept small file is still the one the hashing pass read: same
device, inode, size, modification and change time, one ``stat`` each (``core.staging`` keeps
the file's bytes and this stat; ``core.transfer`` reads a file that fails the check again and
refuses it if its content changed). Each file is named in its folder, opened once for a run of
files in it, so the kernel resolves one name, not the whole path."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence
from typing import Protocol

STAT = struct.Struct("<Qq2Qq")  # size, mtime_ns, dev, ino, ctime_ns (LocalFile's order): 73 bytes a file, not a 240-byte tuple of ints
_CHECK = 2048  # files per chunk (the unit the check's thread and upload's own thread share)
_SAME_FOLDER = os.stat in os.supports_dir_fd
_FOLDER = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC  # O_PATH: a folder without read permission too


class Wanted(Protocol):
    """A file upload wants to send: its local path and the hash it was added with."""

    @property
    def local_path(self) -> str: ...
    @property
    def hash(self) -> str: ...


def changed(items: Sequence[Wanted], stats: Sequence[bytes]) -> list[int]:
    """The positions in ``items`` of files that may have changed since they were read as
    ``stats`` (``STAT``-packed): the ``stat`` shows another device, inode, size, modification
    or change time, or fails. Takes no lock: it runs beside the upload, in its own thread."""
    out: list[int] = []
    pack, stat = STAT.pack, os.stat
    folder, fd = "", -1
    try:
        for i, p in enumerate(items):
            path = p.local_path
            cut = path.rfind("/") if _SAME_FOLDER else -1
            if cut > 0 and path[:cut] != folder:
                if fd >= 0:
                    os.close(fd)
                folder = path[:cut]
                fd = _open_folder(folder)
            try:
                st = stat(path[cut + 1 :], dir_fd=fd) if cut > 0 and fd >= 0 else stat(path)
            except OSError:
                out.append(i)
                continue
            if pack(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns) != stats[i]:
                out.append(i)
    finally:
        if fd >= 0:
            os.close(fd)
    return out


def _open_folder(folder: str) -> int:
    """A descriptor of ``folder`` to name files in, or -1 (then they are named by their whole path)."""
    try:
        return os.open(folder, _FOLDER)
    except OSError:
        return -1


class StatCheck:
    """``changed`` over many kept files, in chunks that any thread may take: a thread started
    beside the packing, and the packing thread once its own work is done. (On 2 cores a thread
    of system calls beside a busy Python thread mostly waits for the GIL: W1's 50,000 ``stat``
    calls took that thread 0.64 s beside upload's packing, 0.15 s alone, and upload waited for it.)"""

    def __init__(self, items: Sequence[Wanted], stats: Sequence[bytes]):
        self._items, self._stats = items, stats
        self._lock = threading.Lock()
        self._next = 0
        self._found: list[int] = []

    def run(self) -> None:
        """Check chunks until none is left (from any number of threads at once)."""
        while True:
            with self._lock:
                i = self._next
                self._next += _CHECK
            if i >= len(self._items):
                return
            found = changed(self._items[i : i + _CHECK], self._stats[i : i + _CHECK])
            with self._lock:
                self._found += [i + k for k in found]

    def changed(self) -> list[int]:
        """The positions of the files that may have changed (once every ``run`` has returned)."""
        return sorted(self._found)
