"""A version made by the CLI in separate processes, as a ``clearml-data`` user makes one:
``dagstore create``, ``dagstore add --files SRC``, then ``dagstore close``, each phase's wall time
(process start and import included), one fresh store per sample, checkouts interleaved.

    python -m benchmarks.cli_steps SRC --root /dev/shm/me/cli --repeat 3 [--cold] CHECKOUT [CHECKOUT ...]

``--cold`` drops the page cache (``/proc/sys/vm/drop_caches``: root) between ``add`` and ``close``,
as when the draft is closed later: ``close`` then reads from the disk whatever it reads. Beside
them, in the same run: one process's read + xxh3 of every file of SRC (``refs_worker.py hash``,
the floor of reading them once; cold too with ``--cold``). ``SRC`` is only read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

_ENTRY = "import sys; from _dagstore_entry import main; sys.argv = ['dagstore', *sys.argv[1:]]; main()"


def _drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd="/")  # cwd "/": the checkout on PYTHONPATH is first
    return time.perf_counter() - t


def sample(python: str, checkout: str, src: str, root: str, cold: bool) -> dict[str, float]:
    """``add`` and ``close`` wall seconds for one version of ``src`` made by ``checkout``'s CLI."""
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout), "DAGSTORE_URL": os.path.join(root, "store"),
           "DAGSTORE_CACHE_DIR": os.path.join(root, "cache")}
    cli = [python, "-c", _ENTRY]
    _timed([*cli, "create", "--project", "bench", "--name", "cli", "-q"], env)
    for path in _files(src):  # the source in the page cache, as for every checkout
        with open(path, "rb") as f:
            f.read()
    out = {"add": _timed([*cli, "add", "--files", os.path.abspath(src), "-q"], env)}
    if cold:
        _drop_caches()
    out["close"] = _timed([*cli, "close", "-q"], env)
    return out


def _files(src: str) -> list[str]:
    return [os.path.join(d, f) for d, _dirs, files in os.walk(src) for f in files]


def reference(python: str, src: str, cold: bool) -> float:
    """Read + xxh3 of every file of ``src`` by one process (``refs_worker.py hash``), its own wall time."""
    if cold:
        _drop_caches()
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "refs_worker.py")
    done = subprocess.run([python, worker, "hash", os.path.abspath(src)], capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("checkouts", nargs="+")
    ap.add_argument("--root", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="drop the page cache between add and close (root)")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in args.checkouts}
    refs: list[float] = []
    for _ in range(args.repeat):
        for tree in args.checkouts:
            runs[tree].append(sample(args.python, tree, args.src, args.root, args.cold))
        refs.append(reference(args.python, args.src, args.cold))
    ref = statistics.median(refs)
    print(f"read + xxh3, one process{' (cold)' if args.cold else ''}: {ref:.3f} s (median of {len(refs)})")
    for tree, got in runs.items():
        add, close = (statistics.median(r[k] for r in got) for k in ("add", "close"))
        print(f"{tree}: add {add:.3f} s, close{' (cold)' if args.cold else ''} {close:.3f} s = {close / ref:.2f}x read + xxh3,"
              f" add + close {add + close:.3f} s (medians of {len(got)})")
    shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
