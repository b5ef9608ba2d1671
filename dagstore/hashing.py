"""Content hashing: streaming xxh3-128, hex digests."""

from __future__ import annotations

import xxhash

_CHUNK = 8 << 20
SMALL_FILE = 4 << 20  # read whole below this size


def hash_bytes(data: bytes | memoryview) -> str:
    """xxh3-128 of a buffer, as 32 lowercase hex digits."""
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(path: str) -> tuple[str, int]:
    """xxh3-128 and size of a file, streamed in chunks (never whole in memory)."""
    h = xxhash.xxh3_128()
    size = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def read_small(path: str) -> tuple[bytes, str]:
    """Whole content and hash of a small file in one read."""
    with open(path, "rb", buffering=0) as f:
        data = f.read()
    return data, hash_bytes(data)
