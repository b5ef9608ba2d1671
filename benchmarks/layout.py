"""Issue 11: facade overhead of the public API on many small files, for before/after comparisons.

    python -m benchmarks.layout [--runs N] [--against WORKTREE]

Each run uses a fresh store and caches: a version of 3,000 files of ~200 B, a cold
``get_local_copy``, 200 warm ``Dataset.get`` + ``get_local_copy``, and a child version synced
from the unchanged folder. With ``--against`` (a worktree of another commit, e.g. the
pre-refactor 79c2422), runs alternate between that tree and this one under the same
interpreter and the medians are compared side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FILES = 3000


def make_source(src: Path) -> None:
    for i in range(FILES):
        p = src / f"d{i % 30}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(200) + str(i).encode())


def one_run(src: Path, work: Path) -> dict[str, float]:
    from dagstore import Dataset, Store

    st = Store(str(work / "store"), cache_dir=str(work / "cache"))
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    ds = Dataset.create("mb", "p", store=st)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    t["version of 3,000 files"] = time.perf_counter() - t0
    st2 = Store(str(work / "store"), cache_dir=str(work / "cache2"))
    t0 = time.perf_counter()
    Dataset.get(dataset_id=ds.id, store=st2).get_local_copy(show_progress=False)
    t["get_local_copy cold"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(200):
        Dataset.get(dataset_id=ds.id, store=st2).get_local_copy(show_progress=False)
    t["200 x get + warm get_local_copy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    child = Dataset.create("mb", "p", parent_datasets=[ds.id], store=st)
    child.sync_folder(src, show_progress=False)
    child.finalize()
    t["child sync unchanged"] = time.perf_counter() - t0
    return t


def run_in(tree: Path, src: Path) -> dict[str, float]:
    """One run in a subprocess importing dagstore from ``tree``."""
    with tempfile.TemporaryDirectory() as work:
        code = (  # this file loaded by path, so that dagstore comes from PYTHONPATH=tree
            "import importlib.util, json; from pathlib import Path; "
            f"spec = importlib.util.spec_from_file_location('layout_bench', {__file__!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); import dagstore; "
            f"print(json.dumps({{'dagstore': dagstore.__file__, **m.one_run(Path({str(src)!r}), Path({work!r}))}}))"
        )
        env = dict(os.environ, PYTHONPATH=str(tree))
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=work, capture_output=True, text=True, check=True).stdout
    doc = json.loads(out.strip().splitlines()[-1])
    if not doc.pop("dagstore").startswith(str(tree)):
        raise RuntimeError(f"the run did not import dagstore from {tree}")
    return doc


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.layout")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--against", type=Path, help="worktree of the commit to compare with (runs alternate)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        make_source(src)
        sides = {"this": HERE, **({"against": args.against.resolve()} if args.against else {})}
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
        for _ in range(args.runs):
            for name, tree in sides.items():
                runs[name].append(run_in(tree, src))
    for step in runs["this"][0]:
        cells = []
        for name in sides:
            vals = [r[step] for r in runs[name]]
            cells.append(f"{name}: median {statistics.median(vals):.3f} s (min {min(vals):.3f})")
        print(f"{step:34s} " + " | ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:])
