"""Real child processes for the concurrency and crash tests (tests/core/test_concurrency.py).

A child is ``sys.executable -c <prelude + script>``: a fresh interpreter that imports dagstore
the way a user's job would, with its own ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR``. It reports
back by printing one ``@@RESULT <json>`` line (``emit``); the parent can SIGKILL it at any time.
Every child is stopped by its own pid (never by name, with ``process.stop_process``) when the test ends.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from .process import stop_process

RESULT = "@@RESULT "

PRELUDE = '''
import json, os, sys, time
from pathlib import Path
from dagstore import Dataset, Store
from dagstore.errors import ConflictError, LockTimeoutError


def emit(obj):
    print("@@RESULT " + json.dumps(obj), flush=True)


def wait_for(path, timeout=60.0):
    """Block until ``path`` exists (a start barrier / release signal set by the test)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.002)


def touch(path):
    Path(path).touch()


def crash_on_write(prefix, before=False):
    """SIGKILL-equivalent exit (os._exit, no cleanup) right before or after the store's first
    write (put-if-absent or replace) of a key starting with ``prefix``: a crash at that exact step."""
    from dagstore.core.backend import LocalBackend

    for name in ("write_new", "write"):
        real = getattr(LocalBackend, name)

        def crashing(self, key, data, _real=real):
            if key.startswith(prefix) and before:
                os._exit(9)
            ok = _real(self, key, data)
            if key.startswith(prefix):
                os._exit(9)
            return ok

        setattr(LocalBackend, name, crashing)


def pause_at(owner, name, match, paused, resume, before=False):
    """Make ``owner.name(...)`` (``name``: one attribute or a list) stop when ``match(*args)`` is true -- after the real call, or
    before it with ``before`` -- touch ``paused`` and wait for ``resume``: the test then runs
    another process at exactly that step, which makes a race deterministic."""
    for n in [name] if isinstance(name, str) else name:
        real = getattr(owner, n)

        def wrapper(*args, _real=real, **kwargs):
            hit = match(*args)
            if hit and before:
                touch(paused); wait_for(resume)
            out = _real(*args, **kwargs)
            if hit and not before:
                touch(paused); wait_for(resume)
            return out

        setattr(owner, n, wrapper)
'''


class Child:
    """One child process; stdout/stderr go to files (no pipe can fill up and block it)."""

    def __init__(self, script: str, workdir: Path, name: str, env: dict[str, str] | None = None):
        self.name = name
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        code = PRELUDE + "\n" + textwrap.dedent(script)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=full_env, cwd=str(workdir))
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (no cleanup of any kind in the child) and reap."""
        stop_process(self.proc, signal.SIGKILL, grace=30)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"child {self.name} did not finish in {timeout}s\n{self.stderr()}") from None

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def results(self) -> list[Any]:
        return [json.loads(line[len(RESULT):]) for line in self.stdout().splitlines() if line.startswith(RESULT)]

    def result(self, timeout: float = 60.0) -> Any:
        """Wait for a clean exit and return the last emitted result."""
        rc = self.wait(timeout)
        assert rc == 0, f"child {self.name} exited {rc}\n--- stderr ---\n{self.stderr()[-4000:]}"
        res = self.results()
        assert res, f"child {self.name} emitted nothing\n{self.stderr()[-4000:]}"
        return res[-1]


class Children:
    """Starts children and guarantees each is killed (by pid) when the test ends."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.started: list[Child] = []

    def start(self, name: str, script: str, **env: str) -> Child:
        c = Child(script, self.workdir, name, {**self.env, **env})
        self.started.append(c)
        return c

    def close(self) -> None:
        for c in self.started:
            if c.alive():
                c.kill()
