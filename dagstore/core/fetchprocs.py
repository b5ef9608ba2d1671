"""Worker processes for a cold copy from a local store: each takes ranged reads of packs and
makes their files end to end (``core.fetchworker``), with its own GIL, while this process only
plans and hands out the reads (docs/architecture.md, "Cold copies").

``Pool.start`` spawns the workers (the same interpreter running the worker script with
``-I -S``: no fork of a possibly threaded process) before the plan is ready, so their start
overlaps the planning; ``ready`` says whether they all started (else the caller's threads work). ``run`` gives each worker a read at a time, two ahead, from one thread per
worker that mostly waits on its pipe; the first failure (a damaged blob, a worker that died, a
file the cache cannot hold) stops and reaps every worker before it is raised, so the caller can
remove the folder with nothing still writing into it. A worker whose parent dies is killed with
it (Linux) or stops at its next read of the pipe.
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
from typing import IO

import xxhash
import zstandard

from ..errors import DagstoreError
from . import fetchworker
from .fetchworker import INIT, READY, REPLY

WORKERS = 2  # the machine's cores are what they share; more only add switches
AHEAD = 2  # reads a worker holds, so that it never waits for this process between two

Failed = Callable[[int, list], BaseException]  # (read, the worker's failure) -> the error to raise


class Pool:
    """Started workers (see the module's docstring); ``close()`` always, ``run()`` at most once."""

    def __init__(self, procs: list[subprocess.Popen[bytes]]):
        self.procs = procs
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._next = 0
        self._count = 0
        self._finished = False  # run() made every read

    @classmethod
    def start(cls, workers: int = WORKERS) -> Pool | None:
        """Spawn the workers; None when none can start (the caller's threads then do the work)."""
        script = fetchworker.__file__
        if not can_run_script(script):
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
        interpreter without zstandard, say), all are stopped and the caller's threads do the work."""
        for proc in self.procs:
            if _read(proc.stdout, len(READY)) != READY:  # type: ignore[arg-type]
                self._stop()
                return False
        return True

    def run(self, folder: str, blobs: str, mtime_ns: int, count: int, encode: Callable[[int], bytes],
            done: Callable[[int], None], failed: Failed) -> None:
        """Reads ``0 .. count-1`` (``encode(k)``: read k as a job) into ``folder``; ``done(k)`` after
        each; the first failure raised (``failed`` turns a worker's report into the error)."""
        self._count = count
        paths = os.fsencode(folder) + os.fsencode(blobs)
        init = INIT.pack(len(os.fsencode(folder)), len(os.fsencode(blobs)), mtime_ns) + paths
        threads = [threading.Thread(target=self._drive, args=(p, init, encode, done, failed), daemon=True,
                                    name="dagstore-fetch-worker") for p in self.procs]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        except BaseException as exc:  # interrupted (Ctrl-C): nothing may keep writing
            self._fail(exc)
            for t in threads:
                t.join()
            self._stop()
            raise
        if self._error is not None:
            self._stop()
            raise self._error
        self._finished = True
        for proc in self.procs:  # done: they end while the caller finishes the folder
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]

    def close(self) -> None:
        """End the workers (killed unless ``run`` made every read) and release their pipes."""
        for proc in self.procs:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
        self._stop(kill=not self._finished)

    def _take(self) -> int | None:
        with self._lock:
            if self._error is not None or self._next >= self._count:
                return None
            self._next += 1
            return self._next - 1

    def _send(self, proc: subprocess.Popen[bytes], job: int, data: bytes) -> None:
        """Hand read ``job`` to ``proc`` (a fixed step where the tests pause this process)."""
        _write(proc.stdin, data)  # type: ignore[arg-type]

    def _drive(self, proc: subprocess.Popen[bytes], init: bytes, encode: Callable[[int], bytes],
               done: Callable[[int], None], failed: Failed) -> None:
        """Keep ``proc`` ``AHEAD`` reads ahead until none are left; record the first failure."""
        pending: deque[int] = deque()
        broken = False
        try:
            try:
                _write(proc.stdin, init)  # type: ignore[arg-type]
            except BrokenPipeError:
                broken = True
            while True:
                while not broken and len(pending) < AHEAD and (job := self._take()) is not None:
                    pending.append(job)
                    try:
                        self._send(proc, job, encode(job))
                    except BrokenPipeError:  # it stopped: its reply says why
                        broken = True
                if not pending:
                    if broken:  # dead before its first read (its init's pipe broke): never a folder short of its files
                        raise self._died(proc)
                    return
                head = _read(proc.stdout, REPLY.size)  # type: ignore[arg-type]
                if len(head) < REPLY.size:
                    raise self._died(proc)
                job, size = REPLY.unpack(head)
                if job != pending.popleft():
                    raise DagstoreError(f"cold copy worker process {proc.pid} answered for read {job} out of order")
                if size:
                    raise failed(job, json.loads(_read(proc.stdout, size)))  # type: ignore[arg-type]
                done(job)
        except BaseException as exc:
            self._fail(exc)

    def _died(self, proc: subprocess.Popen[bytes]) -> DagstoreError:
        proc.kill()
        code = proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
        why = f": {err[-1]}" if err else ""
        return DagstoreError(f"the cold copy's worker process {proc.pid} ended with status {code} before its work was done{why}; "
                             "nothing was exposed (get the copy again)")

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


def can_run_script(script: str | None) -> bool:
    """Whether this process can start ``script`` (a worker's ``.py`` file) as ``sys.executable
    -I -S script``: the interpreter is a Python command, not a frozen program's own executable,
    nor the host program of an embedded interpreter (uWSGI, say: run so, it would serve on
    instead of exiting)."""
    name = os.path.basename(sys.executable or "").lower()
    return (not getattr(sys, "frozen", False) and name.startswith(("python", "pypy")) and bool(script)
            and str(script).endswith(".py"))


def _write(out: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) or 0:]


def _read(inp: IO[bytes], n: int) -> bytes:
    """``n`` bytes, fewer only at the end of the pipe."""
    parts: list[bytes] = []
    while n:
        part = inp.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)
