"""Content hashing: streaming xxh3-128, hex digests."""

from __future__ import annotations

import os
from collections.abc import Callable

import xxhash

_CHUNK = 8 << 20
SMALL_FILE = 4 << 20  # read whole below this size


def hash_bytes(data: bytes | memoryview) -> str:
    """xxh3-128 of a buffer, as 32 lowercase hex digits."""
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(path: str, size_hint: int | None = None, keep: Callable[[str, bytes], None] | None = None) -> tuple[str, int]:
    """xxh3-128 and size of a file, streamed in chunks (never whole in memory). Files known
    to be small are read with one system call, and ``keep(hash, content)`` gets their content."""
    if size_hint is not None and size_hint < SMALL_FILE:
        data = read_small(path, size_hint)
        digest = xxhash.xxh3_128_hexdigest(data)
        if keep is not None:
            keep(digest, data)
        return digest, len(data)
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
    possible (buffers sized to the file: no large allocations per small file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks: list[bytes] = []
        while chunk := os.read(fd, size + 1 if not chunks else _CHUNK):
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)
