"""add_files' hashing worker process: reads local files, hashes them (xxh3-128) and encodes, as
a pack stores them, the small files the parent asks it to keep, so that upload need not read
them again (``core.staging``).

Run as a script by the same interpreter (``-I -S``: the standard library, plus zstandard and
xxhash from the folders given as arguments), started by ``core.hashprocs`` when a walk finds
many files: each worker has its own GIL, so two workers' reads, hashes and compression never
wait for each other's Python, nor for the parent's walk. Once started it writes ``READY``
(``core.procwire``). Input (stdin): one ``INIT`` (compress or not, the zstd level, the size
from which a file is streamed), then jobs, each a run of files: their sizes when listed, whether
to keep each, their paths. After each job one reply: the files' digests and the lengths read,
then, for each kept file (asked to be kept, and read at the size listed), its codec, stored
length and stored bytes. An ``OSError`` is replied as a failure, and the worker stops. The end
of its input (the parent done, or dead) ends it: a worker never outlives its parent's pipe.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from array import array
from typing import IO

if __name__ == "__main__":  # (-I -S: no site-packages but the folders of zstandard and xxhash, given as arguments)
    sys.path[:0] = sys.argv[2:]
    _spec = importlib.util.spec_from_file_location("procwire", os.path.join(os.path.dirname(os.path.abspath(__file__)), "procwire.py"))
    procwire = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]  # by its path: no other module of that name
    _spec.loader.exec_module(procwire)  # type: ignore[union-attr]
    blobcodec = procwire.load("blobcodec")
    hashing = procwire.load("hashing")
else:
    from . import blobcodec, hashing, procwire

import xxhash  # noqa: E402

INIT = struct.Struct("<?iq")  # compress, zstd level, size from which a file is read in chunks (not kept)
JOB = struct.Struct("<III")  # job number, files, len(paths); then sizes (int64 each), keep flags (a byte each), paths


def encode_job(job: int, paths: list[str], sizes: list[int], keep: bytes) -> bytes:
    """One job: the files at ``paths`` (absolute), listed with ``sizes``; ``keep`` a byte each (1: keep)."""
    names = "\0".join(paths).encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
    return b"".join((JOB.pack(job, len(paths), len(names)), array("q", sizes).tobytes(), keep, names))


def _job(body: bytes, n: int, small: int, level: int | None) -> tuple[list[object] | None, bytes]:
    """One job's failure (a JSON-able list) or None, and its reply body."""
    sizes = struct.unpack_from(f"<{n}q", body)
    keep = body[8 * n:9 * n]
    paths = body[9 * n:].split(b"\0")
    digests: list[bytes] = []
    lengths = array("q")
    kept: list[bytes] = []
    digest, read_small, hash_file = xxhash.xxh3_128_digest, hashing.read_small, hashing.hash_file
    for k, (path, size) in enumerate(zip(paths, sizes)):
        try:
            if size < small:  # read whole (one read when it still has that size)
                data = read_small(path, size)
                digests.append(digest(data))
                lengths.append(len(data))
                if keep[k] and len(data) == size:
                    kept.append(data)
            else:  # streamed
                hexed, got = hash_file(path)
                digests.append(bytes.fromhex(hexed))
                lengths.append(got)
        except OSError as exc:
            return ["os", k, exc.errno, exc.strerror or str(exc)], b""
    stored = blobcodec.encode_blobs(kept, level)
    codecs = bytes([c for _s, c in stored])
    stored_lengths = array("q", [len(s) for s, _c in stored])
    return None, b"".join([b"".join(digests), lengths.tobytes(), codecs, stored_lengths.tobytes(), *[s for s, _c in stored]])


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """Run jobs from ``inp`` until it ends (status 0) or one fails (its failure replied, status 1)."""
    head = procwire.job_head(inp, INIT.size)
    if head is None:  # not needed after all
        return 0
    compress, level, small = INIT.unpack(head)
    while head := procwire.job_head(inp, JOB.size):
        job, n, lp = JOB.unpack(head)
        failure, body = _job(procwire.exact(inp, 9 * n + lp), n, small, level if compress else None)
        procwire.reply(out, job, failure, body)
        if failure:
            return 1
    return 0


if __name__ == "__main__":
    procwire.run(serve)
