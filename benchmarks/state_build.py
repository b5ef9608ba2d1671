"""A version's state built on a fresh cache (``Store.state``: the delta decoded, merged over the
parents' states, the cache file written), the step every host takes once before a version opens
in milliseconds:

    python -m benchmarks.state_build --files 1000000 --repeat 3 [--root DIR] CHECKOUT [CHECKOUT ...]

The store is ``benchmarks.ui``'s (a 200-image version and a child of N annotated files, its
manifest generated directly), made once with this checkout. Each sample is a fresh Python
process of one checkout on an empty cache, the checkouts interleaved; it reports its wall time
and its own peak RSS (VmHWM: the interpreter and imports included). Medians are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .ui import build_store

CHILD = ("import sys; from dagstore import Store; Store(sys.argv[1], cache_dir=sys.argv[2]).state(sys.argv[3]); "
         "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))")


def sample(checkout: Path, url: str, vid: str, cache: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one state build by ``checkout``'s dagstore on an empty cache."""
    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(cache), vid], cwd="/", capture_output=True, text=True,
                         env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"}, check=True)
    return time.perf_counter() - t0, int(out.stdout.split()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkouts", nargs="+", type=Path)
    p.add_argument("--files", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--root", type=Path, default=Path("/dev/shm/dagstore-state-build"))
    args = p.parse_args(argv)
    shutil.rmtree(args.root, ignore_errors=True)
    url, vid = build_store(args.root / "made", args.files)
    got: dict[Path, list[tuple[float, float]]] = {c: [] for c in args.checkouts}
    for _ in range(args.repeat):
        for c in args.checkouts:
            got[c].append(sample(c.resolve(), url, vid, args.root / "cache"))
    for c, runs in got.items():
        print(f"{c}: state of {args.files:,} annotated files on a fresh cache {statistics.median(t for t, _ in runs):.2f} s, "
              f"peak RSS {statistics.median(m for _, m in runs):.0f} MB (medians of {len(runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
