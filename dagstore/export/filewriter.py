"""Writing many small files fast: their system calls made by a helper process on the other core.

A Python process that writes or hardlinks tens of thousands of files spends most of that time
in system calls made one at a time, each releasing and retaking the GIL. ``FileWriter`` queues
them and, past ``spawn_after`` calls, hands them to a helper: this module run as a script by the
same interpreter (``-I -S``: the standard library only, started by ``subprocess``, so no fork of a
possibly threaded process), which makes the calls while this process works out the next ones.
Before that, and wherever no helper can start, the calls are made here, one by one, as before.

The files go into a folder that becomes visible only when its owner renames it after ``close()``:
``close()`` waits for every queued call and raises the first failure as the ``OSError`` it was (a
``FileExistsError``, a full disk...); ``abort()`` stops the helper at once, so the owner can remove
the folder with nothing still writing into it. Standard library imports only (see above).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from typing import IO

# One queued call: op, len(a), len(b); then a and b.
_HEAD = struct.Struct("<BII")
WRITE, LINK = 1, 2
_FLUSH = 256 << 10  # bytes queued before they are sent
SPAWN_AFTER = 1000  # calls made here before the helpers start (a small folder needs none)
HELPERS = 2  # processes taking batches in turn


_FS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # os.fsencode of a str, without its checks (a call per file)


def _write(path: bytes, data: bytes | memoryview) -> None:
    """Create ``path`` (never an existing file; mode 0644 less the umask) holding ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _copy(src: bytes, dst: bytes) -> None:
    """A real copy of ``src`` at ``dst`` (never an existing file)."""
    with open(src, "rb") as r, open(dst, "xb") as w:
        shutil.copyfileobj(r, w, 1 << 20)


def _link(src: bytes, dst: bytes, copying: list[bool]) -> None:
    """Hardlink ``src`` at ``dst``; where links fail (another file system, links not allowed),
    copy it, and copy every later file without trying (``copying[0]``). A missing ``src`` raises."""
    if not copying[0]:
        try:
            os.link(src, dst)
            return
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            copying[0] = True
    _copy(src, dst)


def _run(op: int, a: bytes, b: bytes | memoryview, copying: list[bool]) -> None:
    if op == WRITE:
        _write(a, b)
    elif op == LINK:
        _link(a, bytes(b), copying)
    else:
        raise OSError(errno.EINVAL, f"unknown file operation {op}")


class FileWriter:
    """Queued file creations and hardlinks (see the module's docstring). Thread-safe. Each call
    makes its own file and the folders exist before it is queued, so batches of calls can go
    to ``helpers`` processes in turn."""

    def __init__(self, spawn_after: int | None = SPAWN_AFTER, helpers: int = HELPERS):
        self._left = spawn_after  # calls to make here before starting the helpers (None: never)
        self._helpers = helpers
        self._procs: list[subprocess.Popen[bytes]] = []
        self._turn = 0
        self._queued: list[bytes | memoryview] = []
        self._size = 0
        self._lock = threading.Lock()
        self._copying = [False]

    def write(self, path: str, data: bytes | memoryview) -> None:
        """Create ``path`` holding ``data`` (it must not exist; its folder must)."""
        self._call(WRITE, path.encode(*_FS), data)

    def link(self, src: str, dst: str) -> None:
        """Hardlink ``src`` at ``dst``; where links fail, copy it (and every later file)."""
        self._call(LINK, src.encode(*_FS), dst.encode(*_FS))

    @property
    def helped(self) -> bool:
        """Whether helper processes take the calls."""
        return bool(self._procs)

    def _call(self, op: int, a: bytes, b: bytes | memoryview) -> None:
        with self._lock:
            if not self._procs and self._left is not None:
                self._left -= 1
                if self._left < 0 and not self._start():
                    self._left = None
            here = not self._procs or len(b) > _FLUSH  # a large file: no gain in piping it
            if not here:
                self._queued += [_HEAD.pack(op, len(a), len(b)), a, b]
                self._size += _HEAD.size + len(a) + len(b)
                if self._size >= _FLUSH:
                    self._send()
        if here:  # outside the lock: other threads' calls run meanwhile
            try:
                _run(op, a, b, self._copying)
            except OSError as exc:  # named by str, as the caller gave them
                exc.filename = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else exc.filename
                exc.filename2 = os.fsdecode(exc.filename2) if isinstance(exc.filename2, bytes) else exc.filename2
                raise

    def _start(self) -> bool:
        """Start the helpers; False (calls stay here) when none can start."""
        script = os.path.abspath(__file__)
        if not sys.executable or not script.endswith(".py") or not os.path.isfile(script):
            return False
        for _ in range(self._helpers):
            try:
                proc = subprocess.Popen([sys.executable, "-I", "-S", script], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
            except OSError:
                break
            with contextlib.suppress(OSError, AttributeError):  # a larger pipe: fewer switches (Linux)
                fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, _FLUSH)  # type: ignore[union-attr]
            self._procs.append(proc)
        return bool(self._procs)

    def _send(self) -> None:
        """The queued calls to the next helper."""
        proc = self._procs[self._turn % len(self._procs)]
        self._turn += 1
        assert proc.stdin is not None
        view = memoryview(b"".join(self._queued))
        self._queued, self._size = [], 0
        try:
            while view:
                view = view[proc.stdin.write(view) or 0:]
        except BrokenPipeError:  # the helper stopped at a failure: raise it
            self._finish()

    def close(self) -> None:
        """Wait for every queued call; raise the first that failed."""
        with self._lock:
            if self._procs:
                self._send()
                self._finish()

    def _finish(self) -> None:
        """Wait for the helpers (their input ended); raise a failure one of them reported."""
        procs, self._procs = self._procs, []
        self._left = None  # anything after a failure or close runs here
        try:
            for proc in procs:  # every helper sees the end of its input, then each is waited for
                assert proc.stdin is not None
                proc.stdin.close()
            failures = [_failure(proc) for proc in procs]
        except BaseException:  # interrupted while waiting (Ctrl-C): no helper outlives this call
            for proc in procs:
                proc.kill()
                proc.wait()
            raise
        for exc in failures:
            if exc is not None:
                raise exc

    def abort(self) -> None:
        """Stop the helpers without waiting for what they were given (the owner removes the folder)."""
        with self._lock:
            procs, self._procs = self._procs, []
            self._left, self._queued, self._size = None, [], 0
        for proc in procs:
            proc.kill()
            proc.communicate()


def _failure(proc: subprocess.Popen[bytes]) -> OSError | None:
    """Wait for a helper whose input ended: the failure it reported (its OSError, rebuilt), if any."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()  # a few bytes at most: one failure, or a traceback
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    if out:
        code, message, name = json.loads(out)
        return OSError(code, message, os.fsdecode(bytes.fromhex(name)) if name is not None else None)
    if proc.returncode:
        last = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        return OSError(errno.EIO, f"the file writer process exited with status {proc.returncode}: {last}")
    return None


def _read_exact(inp: IO[bytes], n: int) -> bytes:
    data = inp.read(n) if n else b""  # a buffered pipe reads until n bytes or its end
    if len(data) != n:
        raise EOFError("the file writer's input ended inside a call")
    return data


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """The helper: make each call read from ``inp``; at the first failure, write it to ``out``
    as JSON ``[errno, message, file name as hex]`` and stop (status 1)."""
    copying = [False]
    while head := inp.read(_HEAD.size):
        if len(head) != _HEAD.size:
            raise EOFError("the file writer's input ended inside a call")
        op, la, lb = _HEAD.unpack(head)
        a, b = _read_exact(inp, la), _read_exact(inp, lb)
        try:
            _run(op, a, b, copying)
        except OSError as exc:
            name = exc.filename if isinstance(exc.filename, bytes) else os.fsencode(exc.filename) if exc.filename else None
            out.write(json.dumps([exc.errno, exc.strerror or str(exc), name.hex() if name is not None else None]).encode())
            out.flush()
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
