"""Physical-reference workers, run as a child process: ``hash ROOT``, ``scan ROOT``,
``pack ROOT OUT PROCS`` or ``records ROOT OUT``.

Prints one JSON line with the in-process ``seconds``. Stdlib only, plus ``xxhash`` for ``hash``,
``xxhash`` + ``zstandard`` for ``pack`` and those + ``pyarrow`` (in this process only) for ``records``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from typing import Any

CHUNK = 8 << 20


def _entries(root: str) -> Iterator[os.DirEntry[str]]:
    """Every entry under the folder ``root`` that is not a folder (symbolic links not followed)."""
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    yield e


def _files(root: str) -> list[str]:
    return [e.path for e in _entries(root) if e.is_file(follow_symlinks=False)]


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


def _append(fd: int, cctx: Any, batch: list[bytes]) -> int:
    """Compress ``batch`` and append it to ``fd``; returns the bytes written."""
    if not batch:
        return 0
    parts = cctx.multi_compress_to_buffer(batch, threads=1)
    data = b"".join(parts[i].tobytes() for i in range(len(parts)))
    os.write(fd, data)
    return len(data)


def _stat_walk(tops: list[str]) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular file under ``tops`` (files or folders) with its ``stat``, from the folders' listings."""
    for top in tops:
        if os.path.isdir(top):
            yield from ((e.path, e.stat(follow_symlinks=False)) for e in _entries(top) if e.is_file(follow_symlinks=False))
        else:
            yield top, os.stat(top)


def _records_part(out: str, root: str, tops: list[str]) -> tuple[bytes, bytes, array, array]:
    """``_pack_part``'s work plus the least a version must note of each file, kept as columns (no
    object per file kept): its path relative to ``root``, one ``stat`` (size, modification and
    change times, inode: what tells an unchanged file next time), its 16-byte xxh3, where its bytes
    went. Returns (paths joined by NUL, digests, numbers: 5 per file, batch ends in ``out``)."""
    import xxhash
    import zstandard

    cctx = zstandard.ZstdCompressor(level=1)
    names: list[str] = []
    digests = bytearray()
    nums = array("q")
    ends = array("q")
    skip = len(root) + 1
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        batch: list[bytes] = []
        held = at = 0
        for path, st in _stat_walk(tops):
            with open(path, "rb", buffering=0) as f:
                data = f.read(st.st_size + 1)
            digests += xxhash.xxh3_128_digest(data)
            names.append(path[skip:])
            nums.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, len(batch)))
            batch.append(data)
            held += len(data)
            if len(batch) >= PACK_BATCH or held >= PACK_BYTES:
                at += _append(fd, cctx, batch)
                ends.append(at)
                batch, held = [], 0
        at += _append(fd, cctx, batch)
        ends.append(at)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(out)
    return "\0".join(names).encode(), bytes(digests), nums, ends


def records_all(root: str, out: str) -> dict[str, object]:
    """A version's least possible work on two cores: this process (already running, as a
    caller's is) and one child started here each ``_records_part`` half the top-level entries;
    this process then makes one Arrow table of both halves' columns, sorts it by path and writes
    it zstd-compressed, with fsync. What a columnar draft could at best do, in Python."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    tops = sorted(os.path.join(root, name) for name in os.listdir(root))
    child = subprocess.Popen([sys.executable, __file__, "recordspart", f"{out}.1", root, *tops[1::2]], stdout=subprocess.PIPE)
    halves = [_records_part(f"{out}.0", root, tops[0::2])]
    got, _ = child.communicate()
    if child.returncode:
        raise SystemExit(f"recordspart exited {child.returncode}")
    halves.append(_unpack(got))
    tables = []
    for names, digests, nums, _ends in halves:
        n = len(nums) // 5
        cols = [pa.array(c) for c in np.frombuffer(nums, dtype=np.int64).reshape(n, 5).T[:4]]
        tables.append(pa.table({"path": pc.split_pattern(pa.array([names.decode()]), "\0").flatten() if n else pa.array([], pa.string()),
                                "hash": pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(digests)]),
                                "size": cols[0], "mtime": cols[1], "ctime": cols[2], "ino": cols[3]}))
    table = pa.concat_tables(tables)
    table = table.take(pc.sort_indices(table["path"]))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(table)
    fd = os.open(f"{out}.manifest", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, sink.getvalue().to_pybytes())
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(f"{out}.manifest")
    return {"files": table.num_rows, "processes": 2}


def _pack(part: tuple[bytes, bytes, array, array]) -> bytes:
    names, digests, nums, ends = part
    head = array("q", [len(names), len(digests), len(nums), len(ends)]).tobytes()
    return head + names + digests + nums.tobytes() + ends.tobytes()


def _unpack(raw: bytes) -> tuple[bytes, bytes, array, array]:
    lengths = array("q", raw[:32])
    at = 32
    names = raw[at : at + lengths[0]]
    at += lengths[0]
    digests = raw[at : at + lengths[1]]
    at += lengths[1]
    nums, ends = array("q"), array("q")
    nums.frombytes(raw[at : at + 8 * lengths[2]])
    at += 8 * lengths[2]
    ends.frombytes(raw[at : at + 8 * lengths[3]])
    return names, digests, nums, ends


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
    if op == "recordspart":  # a child of records_all: writes its columns to stdout
        sys.stdout.buffer.write(_pack(_records_part(root, argv[3], argv[4:])))
        return
    fn = {"hash": hash_all, "scan": scan_all, "pack": pack_all, "records": records_all}[op]
    if op == "records":  # loaded before the clock starts, as a caller's process has them (dagstore imports them),
        import numpy  # noqa: F401
        import pyarrow as pa
        import pyarrow.compute as pc
        import xxhash  # noqa: F401
        import zstandard  # noqa: F401

        pc.sort_indices(pa.array(["b", "a"]))  # and Arrow's kernels set up: a process's first call takes ~0.15 s
    t0 = time.perf_counter()
    info = fn(root, *argv[3:])
    print(json.dumps({"seconds": time.perf_counter() - t0, **info}))


if __name__ == "__main__":
    main(sys.argv)
