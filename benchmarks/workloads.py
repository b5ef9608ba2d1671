"""Workloads W1/W2/W3 (and W1') from the shared generator, cached under the output dir."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .measure import rmtree

NAMES = ("w1", "w2", "w3")

#: Module globals of gen_workloads patched for ``--size smoke`` (full keeps its defaults).
SMOKE_COUNTS = {"W1_FILES": 500, "W2_FILES": 2, "W2_SIZE": 5 * 1024 * 1024, "W3_FILES": 100}


@dataclass(frozen=True)
class Workload:
    """A generated workload folder and what it holds."""

    name: str
    path: Path
    files: int
    bytes: int


def generator_path(repo_root: Path) -> Path:
    """``$DAGSTORE_BENCH_GEN`` or ``../shared/bench/gen_workloads.py`` beside the repo."""
    override = os.environ.get("DAGSTORE_BENCH_GEN")
    return Path(override) if override else repo_root.parent / "shared" / "bench" / "gen_workloads.py"


def load_generator(gen_file: Path, size: str) -> ModuleType:
    """Import gen_workloads.py as a fresh module, with counts shrunk for the smoke size."""
    if not gen_file.is_file():
        raise FileNotFoundError(f"workload generator not found at {gen_file} (set DAGSTORE_BENCH_GEN)")
    spec = importlib.util.spec_from_file_location(f"_gen_workloads_{size}", gen_file)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if size == "smoke":
        for key, value in SMOKE_COUNTS.items():
            setattr(mod, key, value)
    return mod


def _fingerprint(gen_file: Path, size: str) -> str:
    return hashlib.sha256(gen_file.read_bytes() + size.encode()).hexdigest()[:16]


def ensure(gen_file: Path, data_dir: Path, size: str, names: tuple[str, ...]) -> dict[str, Workload]:
    """Generate the workloads that are missing (or were made by another generator version)."""
    gen = load_generator(gen_file, size)
    fp = _fingerprint(gen_file, size)
    out: dict[str, Workload] = {}
    for name in names:
        path = data_dir / name
        marker = data_dir / f"{name}.done.json"
        meta = json.loads(marker.read_text()) if marker.is_file() else {}
        if meta.get("fingerprint") != fp or not path.is_dir():
            rmtree(path, marker)
            print(f"  generating {size} {name} into {path} ...", flush=True)
            t0 = time.perf_counter()
            result = getattr(gen, f"gen_{name}")(str(path))
            meta = {"fingerprint": fp, "files": result[0], "bytes": result[1]}
            marker.write_text(json.dumps(meta))
            took = time.perf_counter() - t0
            print(f"  {name}: {meta['files']} files, {meta['bytes'] / 1e6:.1f} MB in {took:.1f} s", flush=True)
        out[name] = Workload(name, path, meta["files"], meta["bytes"])
    return out


def apply_w1prime(gen_file: Path, size: str, root: Path) -> dict[str, int]:
    """Turn a W1 copy into W1' in place (the generator's seeded edits)."""
    result: dict[str, int] = load_generator(gen_file, size).apply_w1prime(str(root))
    return result
