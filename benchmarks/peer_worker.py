"""Python-API peers, run as a child under the peers venv; prints one JSON line.

Usage: ``peer_worker.py clearml FOLDER NAME`` (with CLEARML_OFFLINE_MODE=1: create + add_files +
upload) or ``peer_worker.py quilt3 FOLDER NAME REGISTRY_URL`` (Package.set_dir + build).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _clearml(folder: str, name: str) -> dict[str, Any]:
    from clearml import Dataset

    t0 = time.perf_counter()
    ds = Dataset.create(dataset_name=name, dataset_project="bench")
    ds.add_files(folder)
    ds.upload(show_progress=False)
    return {"seconds": time.perf_counter() - t0, "id": ds.id}


def _quilt3(folder: str, name: str, registry: str) -> dict[str, Any]:
    import quilt3

    t0 = time.perf_counter()
    pkg = quilt3.Package()
    pkg.set_dir(".", folder)
    top_hash = pkg.build(f"bench/{name}", registry=registry)
    return {"seconds": time.perf_counter() - t0, "top_hash": str(top_hash)}


def main(argv: list[str]) -> None:
    result = _clearml(*argv[2:4]) if argv[1] == "clearml" else _quilt3(*argv[2:5])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
