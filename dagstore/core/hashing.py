"""Content hashing: streaming xxh3-128, hex digests."""

from __future__ import annotations

import os

import xxhash

_CHUNK = 8 << 20
SMALL_FILE = 4 << 20  # read whole below this size


def hash_bytes(data: bytes | memoryview) -> str:
    """xxh3-128 of a buffer, as 32 lowercase hex digits."""
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(path: str, size_hint: int | None = None) -> tuple[str, int]:
    """xxh3-128 and size of a file, streamed in chunks (never whole in memory). Files known
    to be small are read with one system call."""
    if size_hint is not None and size_hint < SMALL_FILE:
        data = read_small(path, size_hint)
        return xxhash.xxh3_128_hexdigest(data), len(data)
    h = xxhash.xxh3_128()
    size = 0
    buf = bytearray(_CHUNK)  # reused: a fresh 8 MiB object per read costs page faults
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def read_small(path: str, size: int) -> bytes:
    """Whole content of a file expected to be ``size`` bytes, with as few system calls as
    possible: open, one read, close when the file still has that size (a read of a regular
    file stops short only at its end); more reads only when it has grown or a read fell short."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size + 1)
        if len(data) == size:
            return data
        chunks = [data]
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
