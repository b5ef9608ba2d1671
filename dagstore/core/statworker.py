"""Upload's stat check as a process of its own (started by ``core.statcheck``): NUL-separated
local paths on stdin, each file's ``STAT``-packed stat on stdout, in order (``FAILED`` where
``stat`` fails); the parent's pid as its argument: once the parent is gone (upload killed) it
stops at its next write, not after every file. Run as a script by the same interpreter
(``-I -S``): it imports only what starts in a few ms, so that its start overlaps little of the
check it saves.

Each file is named in its folder, opened once for a run of files in it, so the kernel resolves
one name, not the whole path.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterable, Iterator

STAT = struct.Struct("<Qq2Qq")  # size, mtime_ns, dev, ino, ctime_ns (LocalFile's order): 73 bytes a file, not a 240-byte tuple of ints
FAILED = b"\xff" * STAT.size  # a stat that failed: no file has this size (st_size < 2**63)
ENCODING = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())  # os.fsencode's, for a whole list at once
SAME_FOLDER = os.stat in os.supports_dir_fd
_FOLDER = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC  # O_PATH: a folder without read permission too
_WRITE = 512  # stats per write (what the parent sees of its progress)


def stats_of(paths: Iterable[str]) -> Iterator[bytes]:
    """Each file's ``STAT``-packed stat now (``FAILED`` where ``stat`` fails), in order."""
    pack, stat = STAT.pack, os.stat
    folder, fd = "", -1
    try:
        for path in paths:
            cut = path.rfind("/") if SAME_FOLDER else -1
            if cut > 0 and path[:cut] != folder:
                if fd >= 0:
                    os.close(fd)
                folder = path[:cut]
                fd = _open_folder(folder)
            try:
                st = stat(path[cut + 1 :], dir_fd=fd) if cut > 0 and fd >= 0 else stat(path)
            except OSError:
                yield FAILED
                continue
            yield pack(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)
    finally:
        if fd >= 0:
            os.close(fd)


def _open_folder(folder: str) -> int:
    """A descriptor of ``folder`` to name files in, or -1 (then they are named by their whole path)."""
    try:
        return os.open(folder, _FOLDER)
    except OSError:
        return -1


def main() -> None:
    """The script: paths from stdin, stats to stdout, while the parent lives."""
    parent = int(sys.argv[1])
    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    batch: list[bytes] = []
    for s in stats_of(data.decode(*ENCODING).split("\0") if data else []):
        batch.append(s)
        if len(batch) >= _WRITE:
            if os.getppid() != parent:  # killed mid-upload: nobody reads the answer
                sys.exit(1)
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
    out.flush()


if __name__ == "__main__":
    main()
