"""How a blob is stored in a pack: zstd when that saves at least 10 %, else raw.

Standalone (the standard library and zstandard only), so that the hashing worker processes
(``core.hashworker``, run with ``-I -S``) store blobs exactly as this process does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import cast

import zstandard

CODEC_RAW, CODEC_ZSTD = 0, 1
BATCH_BELOW = 16 << 10  # blobs this small are compressed a batch per call (see encode_blobs)

_local = threading.local()


def compressor(level: int) -> zstandard.ZstdCompressor:
    """This thread's compressor for ``level`` (compressors are not thread-safe)."""
    cctx = getattr(_local, f"c{level}", None)
    if cctx is None:
        cctx = zstandard.ZstdCompressor(level=level)
        setattr(_local, f"c{level}", cctx)
    return cast(zstandard.ZstdCompressor, cctx)


def encode_blobs(blobs: Sequence[bytes], level: int | None) -> list[tuple[bytes, int]]:
    """``(stored bytes, codec)`` of each blob: zstd at ``level`` when it saves at least 10%,
    else raw. Thread-safe (one compressor per thread and level). Blobs under ``BATCH_BELOW``
    are compressed in one call, so the GIL is released once per batch, not once per blob;
    larger ones one call each, as f709b55 did (one output buffer for a batch of them, ~14 MiB
    for 128 W3 files, is a fresh allocation every time)."""
    out: list[tuple[bytes, int]] = [(b, CODEC_RAW) for b in blobs]
    if level is None:
        return out
    cctx = compressor(level)
    small = [i for i, b in enumerate(blobs) if 128 <= len(b) < BATCH_BELOW]
    if small:
        compressed = cctx.multi_compress_to_buffer([blobs[i] for i in small], threads=1)
        for k, i in enumerate(small):
            if len(compressed[k]) <= len(blobs[i]) * 0.9:
                out[i] = (compressed[k].tobytes(), CODEC_ZSTD)  # a copy: views kept the batch's buffers (+9 MB peak for W1)
    for i, b in enumerate(blobs):
        if len(b) >= BATCH_BELOW:
            zipped = cctx.compress(b)
            if len(zipped) <= len(b) * 0.9:
                out[i] = (zipped, CODEC_ZSTD)
    return out


def decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (making one per blob costs more than decoding a small blob)."""
    dctx = getattr(_local, "d", None)
    if dctx is None:
        dctx = _local.d = zstandard.ZstdDecompressor()
    return cast(zstandard.ZstdDecompressor, dctx)
