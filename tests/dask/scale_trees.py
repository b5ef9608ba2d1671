"""Trees of files for the scale tests, and reading a folder back."""
from __future__ import annotations

import os
import random
from pathlib import Path


def make_tree(root: Path, n: int = 150, seed: int = 0, large: bool = True, dupes: bool = True) -> Path:
    """n small files (1-8 KiB, some duplicated) in a few folders, plus one large file."""
    rng = random.Random(seed)
    for i in range(n):
        p = root / f"d{i % 5}" / f"e{i % 3}" / f"f{i:04d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"same content" * 100 if dupes and i % 17 == 0 else rng.randbytes(rng.randint(1024, 8192)))
    if large:
        (root / "big.bin").write_bytes(rng.randbytes(5 << 20))
    return root


def tree_bytes(folder: str | Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, folder).replace(os.sep, "/")] = Path(p).read_bytes()
    return out
