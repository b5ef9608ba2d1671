"""Both cores for a GIL-bound loop: half of the work in a forked child process.

A cold checkout spends most of its time in Python between system calls (one file written,
sealed and linked per blob), so two threads mostly wait for each other; a forked child runs
truly in parallel, sharing everything already in memory (no start-up, nothing sent). The
child only does the work function (no threads, no progress output), dies with its parent
(``PR_SET_PDEATHSIG``), and hands a failure back as the exception itself; the parent kills
and reaps it when its own half fails, so nothing writes behind the caller's back once it
returns or raises.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1


def available() -> bool:
    """Whether this platform can fork (Linux, macOS...)."""
    return hasattr(os, "fork")


def _die_with_parent(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the parent still kills the child on its own failure
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _child(fn: Callable[[Sequence[T]], None], items: Sequence[T], parent: int, w: int) -> None:
    code = 1
    try:
        _die_with_parent(parent)
        fn(items)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        try:
            data = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an unpicklable exception: its text
            data = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        if len(data) > 1 << 16:  # more than a pipe holds: its text
            data = pickle.dumps(RuntimeError(str(exc)[:2000]))
        os.write(w, data)
    finally:
        os._exit(code)


def split_run(fn: Callable[[Sequence[T]], None], mine: Sequence[T], theirs: Sequence[T]) -> None:
    """``fn(theirs)`` in a forked child while ``fn(mine)`` runs here; returns when both are done,
    raising the first failure (the child's exception is re-raised here as it was)."""
    if not theirs:
        fn(mine)
        return
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (its coverage is not collected)
        os.close(r)
        _child(fn, theirs, parent, w)
    os.close(w)
    try:
        fn(mine)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        raise
    with os.fdopen(r, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return
    if report:
        raise pickle.loads(report)
    raise RuntimeError(f"the checkout's helper process ended with status {os.waitstatus_to_exitcode(status)}")
