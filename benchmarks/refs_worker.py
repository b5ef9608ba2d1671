"""Physical-reference workers, run as a child process: ``hash ROOT``, ``scan ROOT`` or
``pack ROOT OUT PROCS``.

Prints one JSON line with the in-process ``seconds``. Stdlib only, plus ``xxhash`` for ``hash`` and
``xxhash`` + ``zstandard`` for ``pack``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

CHUNK = 8 << 20


def _files(root: str) -> list[str]:
    out: list[str] = []
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    out.append(e.path)
    return out


def hash_all(root: str) -> dict[str, object]:
    """Open, read and xxh3-128 every file, one thread."""
    import xxhash

    n = 0
    for path in _files(root):
        with open(path, "rb", buffering=0) as f:
            # one read of the file's size (+1 to see its end): read(CHUNK) made an 8 MiB buffer for
            # every small file, which took W1's reference from ~0.47 to ~1.3 s (session 8)
            data = f.read(min(os.fstat(f.fileno()).st_size + 1, CHUNK))
            if len(data) < CHUNK:
                xxhash.xxh3_128_digest(data)
            else:
                h = xxhash.xxh3_128(data)
                while data := f.read(CHUNK):
                    h.update(data)
                h.digest()
        n += 1
    return {"files": n}


def scan_all(root: str) -> dict[str, object]:
    """Recursive scandir + stat of every entry."""
    n = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                e.stat(follow_symlinks=False)
                n += 1
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return {"entries": n}


PACK_BATCH, PACK_BYTES = 256, 8 << 20  # files and bytes per zstd call at most, as dagstore's encoder


def _pack_part(out: str, roots: list[str]) -> int:
    """Walk ``roots``, read and xxh3-128 every file, zstd-1 the contents a batch at a time and
    append them to ``out``, then fsync it: a version's work on the bytes, without its bookkeeping."""
    import xxhash
    import zstandard

    cctx = zstandard.ZstdCompressor(level=1)
    n = 0
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        batch: list[bytes] = []
        held = 0
        for root in roots:
            for path in _files(root) if os.path.isdir(root) else [root]:
                with open(path, "rb", buffering=0) as f:
                    while data := f.read(min(os.fstat(f.fileno()).st_size + 1, CHUNK)):
                        xxhash.xxh3_128_digest(data)
                        batch.append(data)
                        held += len(data)
                        if len(batch) >= PACK_BATCH or held >= PACK_BYTES:
                            _append(fd, cctx, batch)
                            batch, held = [], 0
                        if len(data) < CHUNK:
                            break
                n += 1
        _append(fd, cctx, batch)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(out)
    return n


def _append(fd: int, cctx: Any, batch: list[bytes]) -> None:
    if batch:
        parts = cctx.multi_compress_to_buffer(batch, threads=1)
        os.write(fd, b"".join(parts[i].tobytes() for i in range(len(parts))))


def pack_all(root: str, out: str, procs: str) -> dict[str, object]:
    """``_pack_part`` of the whole tree by ``procs`` processes started here (the top-level entries
    dealt out in turn), timed from their start to the last one's end: the floor of a version of
    these files on that many cores."""
    tops = sorted(os.path.join(root, name) for name in os.listdir(root))
    n = int(procs)
    children = [subprocess.Popen([sys.executable, __file__, "packpart", f"{out}.{i}", *tops[i::n]], stdout=subprocess.PIPE)
                for i in range(n)]
    files = 0
    for child in children:
        got, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"packpart exited {child.returncode}")
        files += int(got)
    return {"files": files, "processes": n}


def main(argv: list[str]) -> None:
    op, root = argv[1], argv[2]
    if op == "packpart":  # a child of pack_all: prints its file count only
        print(_pack_part(root, argv[3:]))
        return
    fn = {"hash": hash_all, "scan": scan_all, "pack": pack_all}[op]
    t0 = time.perf_counter()
    info = fn(root, *argv[3:])
    print(json.dumps({"seconds": time.perf_counter() - t0, **info}))


if __name__ == "__main__":
    main(sys.argv)
