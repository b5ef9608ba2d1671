"""Upload's check that each kept small file is still the one the hashing pass read: same
device, inode, size, modification and change time, one ``stat`` each (``core.staging`` keeps
the file's bytes and this stat; ``core.transfer`` reads a file that fails the check again and
refuses it if its content changed; ``core.statworker`` makes the calls).

Many files are checked by a process of their own (``core.statworker``, run by the same
interpreter), started as upload starts, so the check runs on the other core beside the packing:
a thread of ``stat`` calls beside upload's busy Python thread mostly waits for the GIL, and on
upload's own thread W1's 50,000 calls took ~0.13 s, nearly all of it the system calls. The
process reads the paths from an unnamed temp file and writes their stats to another (no pipe
for either side to wait on). A process that cannot start or fails leaves the check to this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import IO, Protocol

from . import statworker
from .fetchprocs import can_run_script
from .statworker import ENCODING, SAME_FOLDER, STAT, stats_of

_CHECK = 2048  # files per chunk (the unit the check's thread and upload's own thread share)
# files checked by a process of their own from this many: its start (~30 ms, ~20 ms of CPU) is as long as
# upload's packing of ~12,000 kept files (W1: ~2.4 us a file), and only what it checks after that is saved
_PROCESS_FROM = 16384
_PIECE = 1024  # files whose paths or stats the process's files are written or read at a time (~60 and 40 KB)


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
    return [i for i, (now, then) in enumerate(zip(stats_of(p.local_path for p in items), stats, strict=True)) if now != then]


class StatCheck:
    """``changed`` over many kept files. From ``_PROCESS_FROM`` files a process of their own
    (started here) checks them from the first on, while upload packs; once its packing is done,
    upload's thread checks from the last one back (``run``) until the two meet, and the process
    is stopped there. Fewer files (or no process) are checked in chunks that any thread may take:
    a thread started beside the packing, and the packing thread once its own work is done. (On 2
    cores a thread of system calls beside a busy Python thread mostly waits for the GIL: W1's
    50,000 ``stat`` calls took that thread 0.64 s beside upload's packing, 0.15 s alone, and
    upload waited for it.) ``close()`` always: it stops a process still running."""

    def __init__(self, items: Sequence[Wanted], stats: Sequence[bytes]):
        self._items, self._stats = items, stats
        self._lock = threading.Lock()
        self._next = 0
        self._found: list[int] = []
        self._proc = _Process.start(items) if len(items) >= _PROCESS_FROM else None
        if self._proc is not None:
            self._next = len(items)  # no chunk for another thread: the process and ``_meet`` share the files

    @property
    def in_process(self) -> bool:
        """Whether a process of its own checks the files (then only one thread calls ``run``)."""
        return self._proc is not None

    def run(self) -> None:
        """Check chunks until none is left (from any number of threads at once, or from one
        thread with a process: then until it meets the process)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            try:
                self._meet(proc)
            finally:
                proc.close()
        while True:
            with self._lock:
                i = self._next
                self._next += _CHECK
            if i >= len(self._items):
                return
            found = changed(self._items[i : i + _CHECK], self._stats[i : i + _CHECK])
            with self._lock:
                self._found += [i + k for k in found]

    def _meet(self, proc: _Process) -> None:
        """Check from the last file back, a chunk at a time, until the process has checked
        every file before; then stop it and take its answer for those. If it failed, the chunks
        it did not take are left for ``run``'s loop."""
        items, stats = self._items, self._stats
        lo = len(items)
        while lo > 0 and 0 <= (done := proc.done()) < lo:
            start = max(lo - _CHECK, done)
            self._found += [start + k for k in changed(items[start:lo], stats[start:lo])]
            lo = start
        have = max(0, min(proc.stop(), lo))  # files before ``lo`` it checked
        if have < lo:  # it failed (or stopped short): the rest is the loop's
            self._items, self._stats, self._next = items[:lo], stats[:lo], have
        self._found += proc.changed(stats, have)

    def changed(self) -> list[int]:
        """The positions of the files that may have changed (once every ``run`` has returned)."""
        return sorted(self._found)

    def close(self) -> None:
        """Stop the process if it still runs (a failure elsewhere ended the upload first)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            proc.close()


def _cores() -> int:
    """The CPUs this process may run on (a process confined to one gains nothing from a second)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Process:
    """``core.statworker`` over a list of paths, its answer in an unnamed temp file. Both are
    written and read ``_PIECE`` files at a time: no copy of every path or stat at once (a few MB
    for W1, which raised the peak memory of a version by as much)."""

    def __init__(self, proc: subprocess.Popen[bytes], out: IO[bytes]):
        self._proc, self._out = proc, out

    @classmethod
    def start(cls, items: Sequence[Wanted]) -> _Process | None:
        """The process started over ``items``' files, or None when it cannot start (then check here)."""
        script = statworker.__file__
        if not can_run_script(script) or not SAME_FOLDER or _cores() < 2:
            return None
        try:
            with tempfile.TemporaryFile() as inp:
                for i in range(0, len(items), _PIECE):
                    piece = "\0".join([p.local_path for p in items[i : i + _PIECE]])
                    inp.write((("\0" if i else "") + piece).encode(*ENCODING))  # NUL between paths, none at the end
                inp.seek(0)
                out = tempfile.TemporaryFile()
                try:
                    proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(script), str(os.getpid())], stdin=inp,
                                            stdout=out, stderr=subprocess.DEVNULL)
                except BaseException:
                    out.close()
                    raise
        except (OSError, UnicodeEncodeError):
            return None
        return cls(proc, out)

    def done(self) -> int:
        """How many files it has checked so far (their stats written), or -1 if it failed."""
        code = self._proc.poll()
        if code is not None and code != 0:
            return -1
        return os.fstat(self._out.fileno()).st_size // STAT.size

    def stop(self) -> int:
        """How many files' stats it wrote (stopped first if still running), or -1 if it failed."""
        code = self._proc.poll()
        if code is None:
            self._proc.kill()  # every stat it wrote is whole and in order: the ones written stand
            self._proc.wait()
        elif code != 0:
            return -1
        return os.fstat(self._out.fileno()).st_size // STAT.size

    def changed(self, stats: Sequence[bytes], count: int) -> list[int]:
        """The positions among the first ``count`` whose stat it wrote differs from ``stats``."""
        out: list[int] = []
        for i in range(0, count, _PIECE):
            then = stats[i : min(i + _PIECE, count)]
            now = os.pread(self._out.fileno(), STAT.size * len(then), STAT.size * i)
            if now != b"".join(then):  # the usual answer: equal, one comparison a piece
                out += [i + k for k, st in enumerate(then) if now[k * STAT.size : (k + 1) * STAT.size] != st]
        return out

    def close(self) -> None:
        """Stop it if it still runs, and drop its answer."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._out.close()
