"""A few worker processes running one of dagstore's worker scripts (``core.fetchworker``,
``core.hashworker``), fed jobs over pipes (``core.procwire``).

``Workers.start`` spawns them (the same interpreter running the script with ``-I -S``: no fork of
a possibly threaded process, no site-packages but the folders of zstandard and xxhash), so that
their start overlaps the caller's own work; ``ready`` says whether they all started (else the
caller works alone). ``drive`` keeps each worker ``AHEAD`` jobs ahead, from one thread per worker
that mostly waits on its pipe; the first failure (a worker's report, a worker that died) stops
and reaps every worker before it is raised. A worker whose parent dies is killed with it (Linux)
or stops at its next read of the pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, ClassVar, Self

import xxhash
import zstandard

from ..errors import DagstoreError
from .procwire import READY, REPLY

WORKERS = 2  # the machine's cores are what they share; more only add switches
AHEAD = 2  # jobs a worker holds, so that it never waits for this process between two

Take = Callable[[bool], "tuple[int, bytes] | None"]  # (wait) -> the next job, or None: none now (or ever, if wait)
Done = Callable[[int, bytearray], None]  # (job, the worker's reply body)
Failed = Callable[[int, list], BaseException]  # (job, the worker's failure) -> the error to raise


class Workers:
    """Started workers (see the module's docstring); ``close()`` always, ``drive()`` at most once."""

    SCRIPT: ClassVar[str]  # the worker script's path
    WHAT: ClassVar[str]  # what they do, for messages ("the cold copy")
    AFTER: ClassVar[str]  # what a worker's death left, for its message

    def __init__(self, procs: list[subprocess.Popen[bytes]]):
        self.procs = procs
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._finished = False  # drive() gave every job and had every reply

    @classmethod
    def start(cls, workers: int = WORKERS) -> Self | None:
        """Spawn the workers; None when none can start (the caller then works alone)."""
        script = cls.SCRIPT
        if not _python(sys.executable) or not script or not script.endswith(".py"):
            return None
        dirs = sorted({os.path.dirname(os.path.dirname(os.path.abspath(m.__file__ or ""))) for m in (zstandard, xxhash)})
        procs = []
        for _ in range(workers):
            try:
                procs.append(subprocess.Popen([sys.executable, "-I", "-S", script, str(os.getpid()), *dirs], bufsize=0,
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            except OSError:
                break
        return cls(procs) if procs else None

    def ready(self) -> bool:
        """Whether every worker started (waits for those still starting); if one did not (an
        interpreter without zstandard, say), all are stopped and the caller works alone."""
        for proc in self.procs:
            if _read(proc.stdout, len(READY)) != READY:  # type: ignore[arg-type]
                self._stop()
                return False
        return True

    def drive(self, init: bytes, take: Take, done: Done, failed: Failed) -> None:
        """Send each worker ``init``, then jobs from ``take`` until it has none; ``done`` with
        each reply; the first failure raised (``failed`` turns a worker's report into the error)."""
        threads = [threading.Thread(target=self._drive, args=(p, init, take, done, failed), daemon=True,
                                    name="dagstore-worker") for p in self.procs]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        except BaseException as exc:  # interrupted (Ctrl-C): nothing may keep working
            self._fail(exc)
            for t in threads:
                t.join()
            self._stop()
            raise
        if self._error is not None:
            self._stop()
            raise self._error
        self._finished = True
        for proc in self.procs:  # done: they end while the caller goes on
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]

    def fail(self, exc: BaseException) -> None:
        """Stop every worker now, ``exc`` the error ``drive`` raises (a caller's own failure)."""
        self._fail(exc)

    def close(self) -> None:
        """End the workers (killed unless ``drive`` finished) and release their pipes."""
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
        self._stop(kill=not self._finished)

    def _send(self, proc: subprocess.Popen[bytes], job: int, data: bytes) -> None:
        """Hand ``job`` to ``proc`` (a fixed step where the tests pause this process)."""
        _write(proc.stdin, data)  # type: ignore[arg-type]

    def _drive(self, proc: subprocess.Popen[bytes], init: bytes, take: Take, done: Done, failed: Failed) -> None:
        """Keep ``proc`` ``AHEAD`` jobs ahead until none are left; record the first failure."""
        pending: deque[int] = deque()
        broken = False
        try:
            try:
                _write(proc.stdin, init)  # type: ignore[arg-type]
            except BrokenPipeError:
                broken = True
            while True:
                while not broken and len(pending) < AHEAD and self._error is None and (got := take(not pending)) is not None:
                    pending.append(got[0])
                    try:
                        self._send(proc, *got)
                    except BrokenPipeError:  # it stopped: its reply says why
                        broken = True
                if not pending:
                    if broken:  # dead before its first job (its init's pipe broke): never work left undone
                        raise self._died(proc)
                    return
                head = _read(proc.stdout, REPLY.size)  # type: ignore[arg-type]
                if len(head) < REPLY.size:
                    raise self._died(proc)
                job, flen, blen = REPLY.unpack(head)
                if job != pending.popleft():
                    raise DagstoreError(f"{self.WHAT}'s worker process {proc.pid} answered for job {job} out of order")
                if flen:
                    raise failed(job, json.loads(_read(proc.stdout, flen)))  # type: ignore[arg-type]
                body = _read(proc.stdout, blen)  # type: ignore[arg-type]
                if len(body) < blen:
                    raise self._died(proc)
                done(job, body)
        except BaseException as exc:
            self._fail(exc)

    def _died(self, proc: subprocess.Popen[bytes]) -> DagstoreError:
        proc.kill()
        code = proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
        why = f": {err[-1]}" if err else ""
        return DagstoreError(f"{self.WHAT}'s worker process {proc.pid} ended with status {code} before its work was done{why}; "
                             f"{self.AFTER}")

    def _fail(self, exc: BaseException) -> None:
        """Keep the first failure and stop every worker (their drivers then see their pipes end)."""
        with self._lock:
            if self._error is None:
                self._error = exc
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.kill()

    def _stop(self, kill: bool = True) -> None:
        """Reap every worker (killed first if ``kill``) and close its pipes."""
        for proc in self.procs:
            if kill:
                with contextlib.suppress(OSError):
                    proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()


def _python(executable: str | None) -> bool:
    """Whether ``executable`` is a Python interpreter's command, which runs a script given as
    ``-I -S script``: not a frozen program's own executable, nor the host program of an embedded
    interpreter (uWSGI, say: run so, it would serve on instead of exiting)."""
    name = os.path.basename(executable or "").lower()
    return not getattr(sys, "frozen", False) and name.startswith(("python", "pypy"))


def _write(out: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0:]


def _read(inp: IO[bytes], n: int) -> bytearray:
    """``n`` bytes, fewer only at the end of the pipe (read into one buffer: no copy to join pieces)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = inp.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            del view
            del buf[got:]
            break
        got += k
    return buf
