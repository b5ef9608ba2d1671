"""The child process that indexes a big version (``derive.build``): settings as JSON on stdin
(never argv, which other users can read), the index written atomically; errors as one line on stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dagstore import DagstoreError, Store

from .derive import build


def main() -> int:
    s = json.loads(sys.stdin.read())
    try:
        store = Store(s["url"], storage_options=s.get("storage_options") or None, cache_dir=s.get("cache_dir"))
        build(store, s["version_id"], Path(s["target"]))
    except DagstoreError as exc:
        print(f"dagstore ui: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
