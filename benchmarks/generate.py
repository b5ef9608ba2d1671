"""Seeded benchmark workloads: the same bytes on every run and every machine.

- **W1**: 50,000 files of 1-8 KiB in a three-level tree (10 x 7 x 7 leaf folders); even
  files are random bytes, odd ones JSON lines (compressible).
- **W2**: 20 files of 50 MiB of random bytes (incompressible).
- **W3**: 5,000 files of 20-200 KiB in 50 folders; about 30 % text (CSV, log or JSON lines),
  the rest random bytes.
- **W1'** (an edit of a W1 copy in place): 1 % of the files modified (half keep their size),
  1 % removed, 1 % added (a fifth of them in new folders).

``python3 -m benchmarks.generate OUTDIR [--size smoke] [--only w1,w3]`` writes OUTDIR/w1 ...;
``python3 -m benchmarks.generate --w1prime DIR`` applies W1' to a W1 copy.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = "dagstore-bench-1"
MIB = 1024 * 1024
WORDS = (
    "apple birch cedar delta ember fjord grove harbor island jasper kettle lumen meadow north "
    "orchid pepper quartz river summit timber umber violet willow xenon yarrow zephyr train "
    "test valid sensor label image mask box point cat dog car bus tree road cloud night"
).split()


@dataclass(frozen=True)
class Counts:
    """How many files (and W2's file size) one workload size has."""

    w1_files: int
    w2_files: int
    w2_bytes: int
    w3_files: int


SIZES = {"full": Counts(50_000, 20, 50 * MIB, 5_000), "smoke": Counts(500, 2, 5 * MIB, 100)}


def _rng(*key: object) -> random.Random:
    """A generator seeded by ``key`` (string seeds are hashed with SHA-512: stable everywhere)."""
    return random.Random("/".join(map(str, (SEED, *key))))


def _csv_line(rng: random.Random, i: int) -> str:
    day, hour = rng.randint(1, 28), rng.randint(0, 23)
    return f"{i},2025-03-{day:02d} {hour:02d}:{rng.randint(0, 59):02d},{rng.choice(WORDS)},{rng.uniform(-50, 50):.3f},{rng.randint(0, 9)}\n"


def _log_line(rng: random.Random, i: int) -> str:
    level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"))
    return f"2025-03-{rng.randint(1, 28):02d}T{i % 24:02d}:00:{rng.randint(0, 59):02d} {level} {rng.choice(WORDS)}: handled {rng.randint(0, 99999)} items in {rng.random():.4f}s\n"


def _json_line(rng: random.Random, i: int) -> str:
    tags = ", ".join(f'"{rng.choice(WORDS)}"' for _ in range(rng.randint(1, 3)))
    return f'{{"id": {i}, "name": "{rng.choice(WORDS)}-{rng.randint(0, 999)}", "score": {rng.random():.4f}, "tags": [{tags}]}}\n'


LINES: tuple[Callable[[random.Random, int], str], ...] = (_csv_line, _log_line, _json_line)


def _text(rng: random.Random, size: int, kind: int) -> bytes:
    """``size`` bytes of one kind of text lines (0 CSV, 1 log, 2 JSON lines)."""
    line = LINES[kind]
    parts: list[str] = ["id,time,word,value,class\n"] if kind == 0 else []
    total, i = len(parts[0]) if parts else 0, 0
    while total < size:
        parts.append(line(rng, i))
        total += len(parts[-1])
        i += 1
    return "".join(parts).encode()[:size]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def w1_path(i: int) -> str:
    """Relative path of W1 file number ``i``: 490 leaf folders under 10 x 7 top ones."""
    leaf = i % 490
    ext = "bin" if i % 2 == 0 else "jsonl"
    return f"p{leaf // 49:02d}/q{leaf // 7 % 7}/r{leaf % 7}/file{i:06d}.{ext}"


def w1_content(i: int, edit: int = 0) -> bytes:
    """W1 file ``i`` (``edit`` > 0: its W1' replacement)."""
    rng = _rng("w1", i, edit)
    size = rng.randint(1024, 8192)
    return rng.randbytes(size) if i % 2 == 0 else _text(rng, size, 2)


def gen_w1(out: Path, counts: Counts) -> tuple[int, int]:
    """Write W1 under ``out``; (files, bytes)."""
    total = 0
    for i in range(counts.w1_files):
        data = w1_content(i)
        _write(out / w1_path(i), data)
        total += len(data)
    return counts.w1_files, total


def gen_w2(out: Path, counts: Counts) -> tuple[int, int]:
    """Write W2 under ``out`` in 8 MiB chunks; (files, bytes)."""
    out.mkdir(parents=True, exist_ok=True)
    for i in range(counts.w2_files):
        rng = _rng("w2", i)
        with open(out / f"blob{i:02d}.bin", "wb") as f:
            left = counts.w2_bytes
            while left:
                chunk = min(left, 8 * MIB)
                f.write(rng.randbytes(chunk))
                left -= chunk
    return counts.w2_files, counts.w2_files * counts.w2_bytes


def gen_w3(out: Path, counts: Counts) -> tuple[int, int]:
    """Write W3 under ``out``; (files, bytes)."""
    total = 0
    for i in range(counts.w3_files):
        rng = _rng("w3", i)
        size = rng.randint(20 * 1024, 200 * 1024)
        if rng.random() < 0.3:
            kind = rng.randrange(3)
            name, data = f"doc{i:05d}.{('csv', 'log', 'jsonl')[kind]}", _text(rng, size, kind)
        else:
            name, data = f"doc{i:05d}.bin", rng.randbytes(size)
        _write(out / f"group{i % 50:02d}" / name, data)
        total += size
    return counts.w3_files, total


GENERATORS: dict[str, Callable[[Path, Counts], tuple[int, int]]] = {"w1": gen_w1, "w2": gen_w2, "w3": gen_w3}


def apply_w1prime(root: Path, counts: Counts) -> dict[str, int]:
    """Edit a W1 copy in place into W1': 1 % modified, 1 % removed, 1 % added."""
    n = counts.w1_files // 100
    order = list(range(counts.w1_files))
    _rng("w1prime").shuffle(order)
    modified, removed = sorted(order[:n]), sorted(order[n : 2 * n])
    for k, i in enumerate(modified):
        path = root / w1_path(i)
        if k % 2:
            path.write_bytes(w1_content(i, edit=1))  # new bytes, new size
        else:
            data = bytearray(path.read_bytes())  # same size: two bytes changed
            data[0] ^= 0xFF
            data[len(data) // 2] ^= 0x5A
            path.write_bytes(bytes(data))
    for i in removed:
        (root / w1_path(i)).unlink()
    for j in range(n):
        i = counts.w1_files + j
        rel = w1_path(i) if j % 5 else f"added{j % 3}/{w1_path(i)}"
        _write(root / rel, w1_content(i))
    return {"modified": len(modified), "removed": len(removed), "added": n}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m benchmarks.generate", description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path, help="output folder (or, with --w1prime, a W1 copy to edit)")
    p.add_argument("--size", choices=sorted(SIZES), default="full")
    p.add_argument("--only", default="w1,w2,w3", help="comma list of w1,w2,w3")
    p.add_argument("--w1prime", action="store_true", help="edit the W1 copy at DIR into W1'")
    args = p.parse_args(argv)
    counts = SIZES[args.size]
    if args.w1prime:
        print(json.dumps(apply_w1prime(args.dir, counts)))
        return
    for name in args.only.split(","):
        files, size = GENERATORS[name](args.dir / name, counts)
        print(json.dumps({name: {"files": files, "bytes": size}}))


if __name__ == "__main__":
    main()
