"""A version's phases one by one: create, add_files, upload, finalize of one folder, each phase's wall
time, process CPU time (user + sys) and the resident memory after it, one fresh process per sample.

    python -m benchmarks.phases SRC --root /dev/shm/me/phases --repeat 5 CHECKOUT [CHECKOUT ...]

Each round runs every checkout once, in the order given (interleaved A/B pairs: the load of the
moment falls on both); medians per checkout are printed with the load average seen. ``--root``
is emptied before each sample (the store and the cache are made under it: put it on tmpfs to leave
the disk out). ``SRC`` is only read.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

PHASES = ("create", "add_files", "upload", "finalize")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def sample(src: str, root: str) -> dict[str, object]:
    """One version of ``src`` in a store under ``root``: per phase ``[wall s, CPU s, RSS MB after]``."""
    from dagstore import Dataset, Store  # the checkout on PYTHONPATH, imported in the child only

    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    st = Store(os.path.join(root, "store"), cache_dir=os.path.join(root, "cache"))
    ds: Dataset | None = None
    out: dict[str, object] = {}
    for name in PHASES:
        t, c = time.perf_counter(), _cpu()
        if name == "create":
            ds = Dataset.create("phases", "bench", store=st)
        elif name == "add_files":
            ds.add_files(src, show_progress=False)  # type: ignore[union-attr]
        elif name == "upload":
            ds.upload(show_progress=False)  # type: ignore[union-attr]
        else:
            ds.finalize()  # type: ignore[union-attr]
        out[name] = [time.perf_counter() - t, _cpu() - c, _rss_mb()]
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("checkouts", nargs="+")
    ap.add_argument("--root", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    runs: dict[str, list[dict]] = {c: [] for c in args.checkouts}
    for _ in range(args.repeat):
        for tree in args.checkouts:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
            done = subprocess.run([args.python, os.path.abspath(__file__), "child", args.src, args.root], env=env,
                                  capture_output=True, text=True, check=True)  # run as a file: the checkout's dagstore first
            runs[tree].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for tree, got in runs.items():
        cells = [f"{n} {statistics.median(r[n][0] for r in got):.3f}/{statistics.median(r[n][1] for r in got):.2f}"
                 f" {statistics.median(r[n][2] for r in got):.0f}MB" for n in PHASES]
        loads = [r["load"] for r in got]
        print(f"{tree}: " + ", ".join(cells) + f"; peak {statistics.median(r['peak_mb'] for r in got):.0f} MB"
              f" (medians of {len(got)}: wall s/CPU s RSS after; load {min(loads):.1f}-{max(loads):.1f})")
    shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        print(json.dumps(sample(sys.argv[2], sys.argv[3])))
    else:
        main()
