"""Columnar states against the previous release, one run: ``python -m benchmarks.columnar``.

For 1M entries (with and without an annotation on each), the previous release (a ``dagstore``
package extracted from git, ``--before REV``) and this checkout each write the same version
and child (1 % modified, 1 % removed, 1 % added) with their own code; then each operation is
timed in a fresh process (``columnar_worker.py``), the two implementations interleaved, with
the process's peak RSS during the operation. The 10M-entry version (``--big``) is measured for
this checkout only (the previous release would need ~10 GB); its targets are 10x the 1M figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "columnar_worker.py"
# operation -> (target seconds, target peak RSS MB) at 1M entries, from issue 19
TARGETS_1M = {("open", True): (0.2, 150), ("open", False): (0.1, 100), ("diff", False): (0.3, None), ("merge", False): (0.2, None),
              ("facets", True): (0.1, None), ("filter", True): (0.1, None)}
OPS = [("open", True), ("open", False), ("diff", False), ("merge", False), ("diff", True), ("merge", True), ("merge+save", True),
       ("facets", True), ("filter", True), ("prefix", True)]
BIG_OPS = ["open", "prefix", "diff", "facets"]


def extract(rev: str, dest: Path) -> Path:
    """The ``dagstore`` package as of git revision ``rev``, under ``dest``."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev, "dagstore"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def worker(code: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, str(WORKER), *args], env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stderr[-2000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": load}


def _fmt(x: float | None, unit: str) -> str:
    return "-" if x is None else f"{x:.3f} s" if unit == "s" else f"{x:.0f} MB"


def run(args: argparse.Namespace) -> str:
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="columnar-", dir=args.out))
    try:
        impls = {"before": extract(args.before, work / "before"), "after": REPO}
        results: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
        for annotated in (False, True):
            for name, code in impls.items():
                print(f"make {name} {args.entries:,} annotated={annotated}", flush=True)
                worker(code, "make", str(work / f"{name}-{int(annotated)}"), str(args.entries), "1" if annotated else "0")
        for _ in range(args.repeat):
            for op, annotated in OPS:
                for name, code in impls.items():  # interleaved: before, after, before, after
                    sample = worker(code, op, str(work / f"{name}-{int(annotated)}"))
                    results.setdefault((name, op, annotated), []).append(sample)
                    print(f"  {name:6} {op:7} annotated={annotated!s:5} {sample['seconds']:.3f} s (CPU {sample['cpu']:.3f} s) "
                          f"{sample['rss_mb']:.0f} MB (before it: {sample['base_mb']:.0f} MB) load {sample['load']:.1f}", flush=True)
        lines = [f"| operation ({args.entries:,} entries) | before | after | speed-up | target | CPU before | CPU after | peak RSS before | after | target |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for op, annotated in OPS:
            b = [s for s in results[("before", op, annotated)]]
            a = [s for s in results[("after", op, annotated)]]
            bs, as_ = statistics.median(x["seconds"] for x in b), statistics.median(x["seconds"] for x in a)
            br, ar = statistics.median(x["rss_mb"] for x in b), statistics.median(x["rss_mb"] for x in a)
            bc, ac = statistics.median(x["cpu"] for x in b), statistics.median(x["cpu"] for x in a)
            t_s, t_r = TARGETS_1M.get((op, annotated), (None, None))
            met = "" if t_s is None else (" met" if as_ <= t_s else " **missed**")
            met_r = "" if t_r is None else (" met" if ar <= t_r else " **missed**")
            label = f"{op}, {'annotated' if annotated else 'no annotations'}"
            lines.append(f"| {label} | {_fmt(bs, 's')} | {_fmt(as_, 's')} | {bs / max(as_, 1e-9):.0f}x | {_fmt(t_s, 's')}{met} | "
                         f"{_fmt(bc, 's')} | {_fmt(ac, 's')} | {_fmt(br, 'm')} | {_fmt(ar, 'm')} | {_fmt(t_r, 'm')}{met_r} |")
        base = {name: statistics.median(x["base_mb"] for (n, op, _a), xs in results.items() if n == name and op == "open" for x in xs)
                for name in impls}
        loads = [x["load"] for xs in results.values() for x in xs]
        lines += ["", f"Resident memory before the open (interpreter and imports): before {base['before']:.0f} MB, "
                      f"after {base['after']:.0f} MB. Load average (1 min) during the run: {min(loads):.1f}-{max(loads):.1f}."]
        if args.big:
            lines += ["", big(args, work, results)]
        return "\n".join(lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def big(args: argparse.Namespace, work: Path, small: dict[tuple[str, str, bool], list[dict[str, Any]]]) -> str:
    """The 10M-entry version (annotated): each operation against 10x its 1M figure."""
    where = work / "after-big"
    print(f"make after {args.big:,} annotated=True", flush=True)
    worker(REPO, "make", str(where), str(args.big), "1")
    lines = [f"| operation ({args.big:,} entries, annotated) | after | 1M figure x 10 | CPU | peak RSS | target |", "|---|---|---|---|---|---|"]
    for op in BIG_OPS:
        sample = worker(REPO, op, str(where))
        ref = 10 * statistics.median(x["seconds"] for x in small[("after", op, True)])
        print(f"  big {op:7} {sample['seconds']:.3f} s (CPU {sample['cpu']:.3f} s) {sample['rss_mb']:.0f} MB load {sample['load']:.1f}", flush=True)
        lines.append(f"| {op} | {_fmt(sample['seconds'], 's')} | {_fmt(ref, 's')}{' met' if sample['seconds'] <= ref else ' **missed**'} | "
                     f"{_fmt(sample['cpu'], 's')} | {_fmt(sample['rss_mb'], 'm')} | 1536 MB{' met' if sample['rss_mb'] <= 1536 else ' **missed**'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.columnar", description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--big", type=int, default=0, help="also measure a version of this many entries (e.g. 10000000)")
    p.add_argument("--before", default="60c29df", help="git revision of the previous release (default: the last one before format 3)")
    p.add_argument("--repeat", type=int, default=1, help="rounds of every operation (median reported)")
    p.add_argument("--out", type=Path, default=None, help="scratch folder (default: the system temp dir)")
    args = p.parse_args(argv)
    command = " ".join(["python -m benchmarks.columnar", *(sys.argv[1:] if argv is None else argv)])
    table = run(args)
    print(f"\n$ {command}\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
