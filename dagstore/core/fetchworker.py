"""A cold copy's worker process: reads ranges of local packs, decompresses and verifies each
blob, and creates its file in the folder being built, sealed, with its second entry in ``blobs/``.

Run as a script by the same interpreter (``-I -S``: the standard library, plus zstandard and
xxhash from the folders given as arguments), started by ``core.fetchprocs`` while the parent
plans the copy: each worker has its own GIL, so the file system calls of two workers never wait
for each other's Python. Once started it writes ``READY``. Input (stdin): one ``INIT`` (the build folder, ``blobs/``, the sealed
mtime), then jobs, each one ranged read of a pack and its blobs' places; after each job one
``REPLY`` (stdout). At the first failure (a blob that does not decompress or match its hash, a
missing or short pack, an ``OSError``) the reply carries it as JSON and the worker stops. The end
of its input (the parent done, or dead) ends it: a worker never outlives its parent's pipe.
"""

from __future__ import annotations

import binascii
import contextlib
import ctypes
import json
import os
import signal
import struct
import sys
import time
from typing import IO

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the parent's: it stops its workers if it stops
    sys.path[:0] = sys.argv[2:]  # the folders holding zstandard and xxhash (-I -S: no site-packages)

import xxhash  # noqa: E402
import zstandard  # noqa: E402

INIT = struct.Struct("<IIq")  # len(folder), len(blobs), the sealed blobs' mtime_ns; then both paths
JOB = struct.Struct("<IIIIqq")  # job number, blobs, len(pack path), len(paths), start, end; then the body
REPLY = struct.Struct("<II")  # job number, len(failure JSON) (0: done)
READY = b"\x01"  # written once started (its imports done)
BLOB = 8 * 3 + 1 + 16  # body bytes per blob: offset, stored length, raw length (int64 each), zstd flag, xxh3-128
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def encode_job(job: int, pack: str, start: int, end: int, offsets: bytes, lengths: bytes, raws: bytes, zstd: bytes,
               digests: bytes, paths: list[str]) -> bytes:
    """One job: ``offsets`` (within ``[start, end)``), ``lengths``, ``raws`` as little-endian
    int64s, ``zstd`` one byte each, ``digests`` 16 bytes each, ``paths`` relative to the folder."""
    path, names = os.fsencode(pack), "\0".join(paths).encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
    head = JOB.pack(job, len(paths), len(path), len(names), start, end)
    return b"".join((head, path, offsets, lengths, raws, zstd, digests, names))


def _exact(inp: IO[bytes], n: int) -> bytes:
    data = inp.read(n) if n else b""
    if len(data) != n:
        raise EOFError("the cold copy worker's input ended inside a job")
    return data


def _job(body: bytes, n: int, lp: int, start: int, end: int, folder: int, blobs: int, times: tuple[int, int],
         dec: zstandard.ZstdDecompressor) -> list[object] | None:
    """Make one job's files; the failure (a JSON-able list) or None."""
    pack = body[:lp]
    try:
        with open(pack, "rb", buffering=0) as f:
            stored = os.pread(f.fileno(), end - start, start)
    except FileNotFoundError:
        return ["missing"]
    if len(stored) != end - start:
        return ["short"]
    at = lp
    offsets, lengths, raws = (struct.unpack_from(f"<{n}q", body, at + 8 * n * k) for k in range(3))
    at += 24 * n
    zstd, digests = body[at:at + n], body[at + n:at + 17 * n]
    paths = body[at + 17 * n:].split(b"\0")
    view, decompress, digest, write, hexlify = memoryview(stored), dec.decompress, xxhash.xxh3_128_digest, os.write, binascii.hexlify
    for k, (o, length, raw, dst) in enumerate(zip(offsets, lengths, raws, paths)):
        want = digests[16 * k:16 * k + 16]
        data: bytes | memoryview
        if zstd[k]:
            try:
                data = decompress(view[o:o + length], max_output_size=raw)
            except zstandard.ZstdError:
                return ["corrupt", k]
        else:
            data = view[o:o + length]
        if len(data) != raw or digest(data) != want:
            return ["hash", k]
        try:
            fd = os.open(dst, _NEW, 0o444, dir_fd=folder)
            try:
                left = memoryview(data)
                while left:
                    left = left[write(fd, left[:1 << 30]):]
                os.utime(fd, ns=times)
            finally:
                os.close(fd)
        except OSError as exc:
            return ["create", exc.errno, exc.strerror or str(exc), dst.hex()]
        name = hexlify(want)
        try:
            os.link(dst, b"%b/%b" % (name[:2], name), src_dir_fd=folder, dst_dir_fd=blobs)
        except FileNotFoundError:  # the first blob of this prefix
            try:
                os.mkdir(name[:2], dir_fd=blobs)
            except FileExistsError:
                pass
            try:
                os.link(dst, b"%b/%b" % (name[:2], name), src_dir_fd=folder, dst_dir_fd=blobs)
            except OSError:
                pass  # as below
        except OSError:
            pass  # cached by another process, or links not allowed: the folder is still complete
    return None


def _die_with(parent: int) -> None:
    """Be killed when the parent dies (Linux; elsewhere the end of the input stops the worker),
    and stop now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit(1)


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """Say it started (one byte), then run jobs from ``inp`` until it ends (status 0) or one
    fails (its failure replied, status 1)."""
    out.write(READY)
    out.flush()
    head = inp.read(INIT.size)
    if not head:  # not needed after all
        return 0
    lf, lb, mtime = INIT.unpack(head + _exact(inp, INIT.size - len(head)))
    paths = _exact(inp, lf + lb)
    folder = os.open(paths[:lf], _DIR)
    blobs = os.open(paths[lf:], _DIR)
    dec = zstandard.ZstdDecompressor()
    while head := inp.read(JOB.size):
        if len(head) != JOB.size:
            raise EOFError("the cold copy worker's input ended inside a job")
        job, n, lp, lq, start, end = JOB.unpack(head)
        body = _exact(inp, lp + n * BLOB + lq)
        try:
            failure = _job(body, n, lp, start, end, folder, blobs, (time.time_ns(), mtime), dec)
        except OSError as exc:  # the pack could not be read
            failure = ["os", exc.errno, exc.strerror or str(exc), os.fsencode(exc.filename).hex() if exc.filename else None]
        text = json.dumps(failure).encode() if failure else b""
        out.write(REPLY.pack(job, len(text)) + text)
        out.flush()
        if failure:
            return 1
    return 0


if __name__ == "__main__":
    _die_with(int(sys.argv[1]))
    try:
        sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
    except BrokenPipeError:  # the parent is gone
        sys.exit(1)
