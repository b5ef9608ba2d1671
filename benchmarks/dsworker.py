"""Run one dagstore operation in this (fresh) process and print its timing as one JSON line.

Usage (store and cache come from DAGSTORE_URL / DAGSTORE_CACHE_DIR):
  dsworker.py version FOLDER NAME
  dsworker.py child PARENT_ID FOLDER NAME
  dsworker.py get ID            # seconds = Dataset.get + get_local_copy (cold cache)
  dsworker.py get-warm ID       # seconds = get_local_copy only (warm cache)
  dsworker.py mutable ID TARGET # seconds = Dataset.get + get_mutable_local_copy
Stdlib only besides dagstore, so it runs under whatever interpreter has dagstore.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _count_files(root: str) -> int:
    return sum(len(names) for _, _, names in os.walk(root))


def _version(folder: str, name: str) -> tuple[float, dict[str, Any]]:
    from dagstore import Dataset

    t0 = time.perf_counter()
    ds = Dataset.create(dataset_name=name, dataset_project="bench")
    ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return time.perf_counter() - t0, {"id": ds.id}


def _child(parent_id: str, folder: str, name: str) -> tuple[float, dict[str, Any]]:
    from dagstore import Dataset

    t0 = time.perf_counter()
    child = Dataset.create(dataset_name=name, dataset_project="bench", parent_datasets=[parent_id])
    changes = child.sync_folder(folder)
    child.upload(show_progress=False)
    child.finalize()
    return time.perf_counter() - t0, {"id": child.id, "sync_folder": repr(changes)}


def _get(ds_id: str, warm: bool) -> tuple[float, dict[str, Any]]:
    from dagstore import Dataset

    t0 = time.perf_counter()
    ds = Dataset.get(dataset_id=ds_id)
    t1 = time.perf_counter()
    path = ds.get_local_copy()
    t2 = time.perf_counter()
    seconds = t2 - t1 if warm else t2 - t0
    return seconds, {"get_seconds": t1 - t0, "path": str(path), "files": _count_files(str(path))}


def _mutable(ds_id: str, target: str) -> tuple[float, dict[str, Any]]:
    from dagstore import Dataset

    t0 = time.perf_counter()
    path = Dataset.get(dataset_id=ds_id).get_mutable_local_copy(target)
    seconds = time.perf_counter() - t0
    return seconds, {"path": str(path), "files": _count_files(target)}


def main(argv: list[str]) -> None:
    op, args = argv[1], argv[2:]
    if op == "version":
        seconds, info = _version(*args)
    elif op == "child":
        seconds, info = _child(*args)
    elif op in ("get", "get-warm"):
        seconds, info = _get(args[0], warm=op == "get-warm")
    elif op == "mutable":
        seconds, info = _mutable(*args)
    else:
        raise SystemExit(f"unknown op {op!r}")
    print(json.dumps({"seconds": seconds, **info}))


if __name__ == "__main__":
    main(sys.argv)
