"""Worker processes for a cold copy from a local store: each takes ranged reads of packs and
makes their files end to end (``core.fetchworker``), with its own GIL, while this process only
plans and hands out the reads (docs/architecture.md, "Cold copies").

``Pool.start`` spawns the workers before the plan is ready, so their start overlaps the planning
(``core.workerprocs``); ``run`` gives each worker a read at a time, two ahead; the first failure
(a damaged blob, a worker that died, a file the cache cannot hold) stops and reaps every worker
before it is raised, so the caller can remove the folder with nothing still writing into it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from . import fetchworker
from .fetchworker import INIT
from .workerprocs import WORKERS as WORKERS, Failed, Workers


class Pool(Workers):
    """The cold copy's started workers; ``close()`` always, ``run()`` at most once."""

    SCRIPT = fetchworker.__file__ or ""
    WHAT = "the cold copy"
    AFTER = "nothing was exposed (get the copy again)"

    def run(self, folder: str, blobs: str, mtime_ns: int, count: int, encode: Callable[[int], bytes],
            done: Callable[[int], None], failed: Failed) -> None:
        """Reads ``0 .. count-1`` (``encode(k)``: read k as a job) into ``folder``; ``done(k)`` after
        each; the first failure raised (``failed`` turns a worker's report into the error)."""
        paths = os.fsencode(folder) + os.fsencode(blobs)
        init = INIT.pack(len(os.fsencode(folder)), len(os.fsencode(blobs)), mtime_ns) + paths
        lock = threading.Lock()
        nxt = 0

        def take(_wait: bool) -> tuple[int, bytes] | None:
            nonlocal nxt
            with lock:
                if nxt >= count:
                    return None
                nxt += 1
                job = nxt - 1
            return job, encode(job)

        self.drive(init, take, lambda job, _body: done(job), failed)
