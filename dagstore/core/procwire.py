"""The pipe protocol shared by the worker scripts (``core.fetchworker``, ``core.hashworker``)
and their pools (``core.workerprocs``): standalone (the standard library only), since the
workers run it with ``-I -S``.

A worker writes ``READY`` once started (``run``); then, for each job read from its stdin, one ``REPLY``
header (job number, length of the failure's JSON, length of the body) followed by the failure's
JSON or the body. A failure is the worker's last reply.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import signal
import os
import struct
import sys
from collections.abc import Callable
from types import ModuleType
from typing import IO, NoReturn

REPLY = struct.Struct("<IIQ")  # job number, len(failure JSON) (0: done), len(body)
READY = b"\x01"  # written once started (its imports done)


def load(name: str) -> ModuleType:
    """A standalone module of this folder (``blobcodec``, ``hashing``), loaded by its path: a
    worker's ``sys.path`` holds no module of dagstore, and another of the same name must not win."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exact(inp: IO[bytes], n: int) -> bytes:
    """``n`` bytes of the worker's input (EOFError if it ends before)."""
    data = inp.read(n) if n else b""
    if len(data) != n:
        raise EOFError("a worker's input ended inside a job")
    return data


def reply(out: IO[bytes], job: int, failure: list[object] | None, body: bytes = b"") -> None:
    """Answer ``job``: its failure (the worker then stops) or its body."""
    text = json.dumps(failure).encode() if failure else b""
    out.write(REPLY.pack(job, len(text), 0 if text else len(body)) + (text or body))
    out.flush()


def job_head(inp: IO[bytes], size: int) -> bytes | None:
    """The next ``size``-byte job header, None at the end of the input (the parent done, or dead)."""
    head = inp.read(size)
    return head + exact(inp, size - len(head)) if head else None


def run(serve: Callable[[IO[bytes], IO[bytes]], int]) -> NoReturn:
    """A worker script's main: ignore the terminal's Ctrl-C (the parent stops its workers if it
    stops), be killed when the parent dies (Linux; elsewhere the end of the input stops the
    worker), say it started, then exit with ``serve(stdin, stdout)``'s status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):
        sys.exit(1)
    try:
        sys.stdout.buffer.write(READY)
        sys.stdout.buffer.flush()
        sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
    except BrokenPipeError:  # the parent is gone
        sys.exit(1)
