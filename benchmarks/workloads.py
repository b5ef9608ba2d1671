"""Workloads W1/W2/W3 (and W1') from ``benchmarks/generate.py``, cached under the output dir."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from . import generate
from .measure import rmtree

NAMES = ("w1", "w2", "w3")


@dataclass(frozen=True)
class Workload:
    """A generated workload folder and what it holds."""

    name: str
    path: Path
    files: int
    bytes: int


def _fingerprint(size: str) -> str:
    """Changes when the generator's code or the size does (then the cached data is remade)."""
    return hashlib.sha256(Path(generate.__file__).read_bytes() + size.encode()).hexdigest()[:16]


def ensure(data_dir: Path, size: str, names: tuple[str, ...]) -> dict[str, Workload]:
    """Generate the workloads that are missing (or were made by another generator version)."""
    fp = _fingerprint(size)
    out: dict[str, Workload] = {}
    for name in names:
        path = data_dir / name
        marker = data_dir / f"{name}.done.json"
        meta = json.loads(marker.read_text()) if marker.is_file() else {}
        if meta.get("fingerprint") != fp or not path.is_dir():
            rmtree(path, marker)
            print(f"  generating {size} {name} into {path} ...", flush=True)
            t0 = time.perf_counter()
            files, nbytes = generate.GENERATORS[name](path, generate.SIZES[size])
            meta = {"fingerprint": fp, "files": files, "bytes": nbytes}
            marker.write_text(json.dumps(meta))
            took = time.perf_counter() - t0
            print(f"  {name}: {files} files, {nbytes / 1e6:.1f} MB in {took:.1f} s", flush=True)
        out[name] = Workload(name, path, meta["files"], meta["bytes"])
    return out


def apply_w1prime(size: str, root: Path) -> dict[str, int]:
    """Turn a W1 copy into W1' in place (the generator's seeded edits)."""
    return generate.apply_w1prime(root, generate.SIZES[size])
