"""``python -m dagstore.cli.export_worker``: the detached process that runs one export job
(``dagstore.export.jobs``); the store's settings arrive as JSON on stdin, never in argv."""

from __future__ import annotations

import json
import logging
import sys

from ..core.store import Store
from ..export.jobs import run_job


def main() -> int:
    cfg = json.loads(sys.stdin.read())
    logging.basicConfig(level=logging.WARNING)
    store = Store(cfg["url"], cfg.get("storage_options") or None, cache_dir=cfg.get("cache_dir"))
    run_job(store, cfg["job_id"], int(cfg["attempt"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
