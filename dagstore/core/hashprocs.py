"""add_files' hashing on worker processes: the walk goes on in this process while two workers
(``core.hashworker``) read, hash and encode the files it found, each with its own GIL, and this
process keeps what they encoded (``Staged.add_encoded``) in the walk's order.

Used for walks of many files (see ``core.scan.scan_and_hash``); the answer is the one the hashing
threads give: the same hashes, the same blobs kept, spooled in the same order, so the same packs.
"""

from __future__ import annotations

import binascii
import threading
from array import array
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import InvalidPathError
from . import hashworker
from .hashing import SMALL_FILE
from .localfile import LocalFile
from .workerprocs import Workers

if TYPE_CHECKING:
    from .staging import Staged

JOB_FILES, JOB_BYTES = 256, 4 << 20  # files per job, and the bytes they hold at most (one larger file is a job alone)


class Pool(Workers):
    """The hashing workers; ``close()`` always."""

    SCRIPT = hashworker.__file__ or ""
    WHAT = "add_files"
    AFTER = "nothing was staged (add the files again)"


class Hashing:
    """Files handed to started ``pool``'s workers as the walk finds them (``submit``), their
    ``(hash, length read)`` in the order given (``results``). With ``staged``, the small files it
    plans to keep are encoded by the workers and kept there. ``close()`` always."""

    def __init__(self, pool: Pool, staged: Staged | None, level: int | None):
        self._pool = pool
        self._staged = staged
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, bytes]] = deque()
        self._closed = False
        self._jobs: list[tuple[list[LocalFile], bytes, int]] = []  # each job's files, keep flags, bytes planned
        self._done: dict[int, list[tuple[LocalFile, str, memoryview, int]]] = {}  # kept files of jobs replied out of order
        self._results: list[tuple[list[str], array[int]] | None] = []
        self._next = 0  # the next job whose kept files go to ``staged``
        self._given = 0  # the next job whose results ``replied`` gives
        self._stage_lock = threading.Lock()
        if staged is not None:
            staged.settle()  # what an earlier call's threads kept is spooled first
        init = hashworker.INIT.pack(level is not None, level or 0, SMALL_FILE)
        self._thread = threading.Thread(target=self._drive, args=(init,), name="dagstore-hash-workers", daemon=True)
        self._error: BaseException | None = None
        self._unstarted = False  # the workers did not start: nothing was hashed
        self._thread.start()

    def submit(self, files: Sequence[LocalFile]) -> None:
        """Hand ``files`` to the workers, in jobs of ``JOB_FILES`` files or ``JOB_BYTES`` bytes."""
        i = 0
        while i < len(files):
            j, size = i, 0
            while j < len(files) and j - i < JOB_FILES and (j == i or size + files[j].size <= JOB_BYTES):
                size += files[j].size
                j += 1
            part = list(files[i:j])
            keep = self._staged.plan(part) if self._staged is not None else bytes(len(part))
            planned = sum(f.size for f, k in zip(part, keep) if k)
            job = len(self._jobs)
            self._jobs.append((part, keep, planned))
            self._results.append(None)
            data = hashworker.encode_job(job, [f.path for f in part], [f.size for f in part], keep)
            with self._cond:
                self._queue.append((job, data))
                self._cond.notify()
            i = j

    def replied(self) -> list[tuple[str, int]]:
        """``(hash, length read)`` of the next submitted files the workers have answered for,
        in order (no wait; ``results`` gives the rest)."""
        out: list[tuple[str, int]] = []
        while self._given < len(self._results) and (res := self._results[self._given]) is not None:
            out += zip(*res)
            self._given += 1
        return out

    def results(self) -> list[tuple[str, int]] | None:
        """The ``(hash, length read)`` of every submitted file not given by ``replied``, in order
        (waits for the workers; raises the first failure: a file that cannot be read, a worker
        that died); None when the workers did not start (nothing was hashed or kept: the caller
        hashes every submitted file)."""
        self._finish()
        return None if self._unstarted else self.replied()

    def close(self) -> None:
        """Stop the workers (at once, unless ``results`` had everything) and reap them; the keep
        budget planned for files whose bytes never reached ``staged`` is given back."""
        if self._thread.is_alive():
            self._pool.fail(InvalidPathError("add_files stopped"))
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join()
        self._pool.close()
        if self._staged is not None:
            self._staged.add_encoded(sum(planned for _f, _k, planned in self._jobs[self._next:]), ())
            self._next = len(self._jobs)

    def _finish(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _drive(self, init: bytes) -> None:
        try:
            if not self._pool.ready():  # (waited for here: the walk goes on meanwhile)
                self._unstarted = True
                return
            self._pool.drive(init, self._take, self._got, self._failed)
        except BaseException as exc:  # raised to the caller by ``results``
            self._error = exc

    def _take(self, wait: bool) -> tuple[int, bytes] | None:
        with self._cond:
            while wait and not self._queue and not self._closed:
                self._cond.wait()
            return self._queue.popleft() if self._queue else None

    def _got(self, job: int, body: bytearray) -> None:
        """A job's reply: its hashes and lengths; its kept files handed to ``staged`` in job order."""
        files, keep, _planned = self._jobs[job]
        n = len(files)
        hexed = binascii.hexlify(body[:16 * n]).decode()
        hashes = [hexed[k:k + 32] for k in range(0, 32 * n, 32)]
        lengths = array("q", body[16 * n:24 * n])
        self._results[job] = (hashes, lengths)
        if self._staged is None:
            return
        kept = [k for k in range(n) if keep[k] and lengths[k] == files[k].size]
        at = 24 * n
        codecs = body[at:at + len(kept)]
        stored_lengths = array("q", body[at + len(kept):at + 9 * len(kept)])
        at += 9 * len(kept)
        view = memoryview(body)
        items = []
        for k, codec, length in zip(kept, codecs, stored_lengths):
            items.append((files[k], hashes[k], view[at:at + length], codec))
            at += length
        with self._stage_lock:
            self._done[job] = items
            while self._next in self._done:
                self._staged.add_encoded(self._jobs[self._next][2], self._done.pop(self._next))
                self._next += 1

    def _failed(self, job: int, failure: list) -> BaseException:
        files = self._jobs[job][0]
        if failure and failure[0] == "os" and 0 <= failure[1] < len(files):
            return InvalidPathError(f"{files[failure[1]].path}: cannot read: {failure[3]}")
        return InvalidPathError(f"add_files' hashing worker failed: {failure!r}")


def start(staged: Staged | None, level: int | None) -> Hashing | None:
    """Workers starting, or None when none can be (hash in this process then)."""
    pool = Pool.start()
    if pool is None:
        return None
    try:
        return Hashing(pool, staged, level)
    except BaseException:
        pool.close()
        raise
