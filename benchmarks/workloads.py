"""Workloads W1/W2/W3 (and W1') from ``benchmarks/generate.py``, cached under the output dir."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import generate
from .measure import rmtree

NAMES = ("w1", "w2", "w3")


@dataclass(frozen=True)
class Edits:
    """Small edits made in place to a copy of a workload, versioned as a child (W1' for W1)."""

    label: str  # the child's metrics are "dagstore child <label>" and "dvc add+push <label>"
    apply: Callable[[Path], object]


@dataclass(frozen=True)
class Workload:
    """A workload folder and what it holds; ``edits`` when the suite also measures a child version."""

    name: str
    path: Path
    files: int
    bytes: int
    edits: Edits | None = None


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
        edits = Edits("W1'", partial(apply_w1prime, size)) if name == "w1" else None
        out[name] = Workload(name, path, meta["files"], meta["bytes"], edits)
    return out


def apply_w1prime(size: str, root: Path) -> dict[str, int]:
    """Turn a W1 copy into W1' in place (the generator's seeded edits)."""
    return generate.apply_w1prime(root, generate.SIZES[size])
