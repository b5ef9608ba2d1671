"""Run the benchmark suite: ``python3 -m benchmarks.run [--size smoke|full] [...]``.

Each round measures, per workload, the physical references, dagstore and the peers in turn
(A B A B ...), each step on a settled page cache (see ``measure.prepare``); the report gives
medians over the rounds, ratios and the issue's targets, and the JSON keeps every sample.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from . import dagstore_bench, peers, physical, report
from .context import BENCH_DIR, Context
from .measure import MeasureError, Sample, can_drop_caches, rmtree, run_timed
from .workloads import NAMES, Workload, ensure

REPO_ROOT = BENCH_DIR.parent
MANIFEST_ENTRIES = {"full": 1_000_000, "smoke": 10_000}
PEERS = ("dvc", "clearml", "quilt3")

Group = Callable[[Context, Workload, int], None]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=("full", "smoke"), default="full", help="real W1-W3 (~12 min) or tiny ones (CI)")
    p.add_argument("--repeat", type=int, help="rounds of physical refs and dagstore (default 3 full, 1 smoke)")
    p.add_argument("--peer-repeat", type=int, default=1, help="rounds of the (slow) peers, at most --repeat (default 1)")
    p.add_argument("--only", default=",".join((*NAMES, "manifest")), help="comma list of w1,w2,w3,manifest")
    p.add_argument("--peers", default=",".join(PEERS), help=f"comma list of {','.join(PEERS)} (default all)")
    p.add_argument("--no-peers", action="store_true", help="no peers at all (and no peers venv)")
    p.add_argument("--python", help="interpreter with dagstore's dependencies (default .venv/bin/python, else this one)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench-out", help="workloads, venv, scratch and results")
    p.add_argument("--compare", type=Path, help="another checkout (e.g. a worktree of the previous commit) whose dagstore is "
                   "measured in the same rounds, before this one's, as 'before: dagstore ...'")
    args = p.parse_args(argv)
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    if unknown := set(args.only) - {*NAMES, "manifest"}:
        p.error(f"--only: unknown {', '.join(sorted(unknown))}")
    args.peers = [] if args.no_peers else [x.strip() for x in args.peers.split(",") if x.strip()]
    if unknown := set(args.peers) - set(PEERS):
        p.error(f"--peers: unknown {', '.join(sorted(unknown))}")
    if args.repeat is None:
        args.repeat = 3 if args.size == "full" else 1
    args.peer_repeat = max(0, min(args.peer_repeat, args.repeat))
    return args


def _imports(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def setup_interpreters(ctx: Context, args: argparse.Namespace) -> None:
    """Find dagstore's interpreter, make the peers venv, pick one with xxhash for read+hash."""
    python = args.python or dagstore_bench.default_python(REPO_ROOT, sys.executable)
    why = dagstore_bench.probe(python, REPO_ROOT)
    if why:
        ctx.note(f"dagstore measurements: {why}")
    else:
        ctx.dagstore_python = python
    if args.peers:
        ctx.peers_python = peers.ensure_venv(ctx.out_dir)
        available = peers.installed(ctx.peers_python) if ctx.peers_python else {}
        for name in args.peers:
            if name in available:
                ctx.peers[name] = available[name]
            else:
                ctx.note(f"{name}: not installed in the peers venv (see {ctx.out_dir}/peers-venv-install.log)")
    for candidate in (python, str(ctx.peers_python) if ctx.peers_python else None):
        if candidate and _imports(candidate, "xxhash"):
            ctx.hash_python = candidate
            break


def groups(ctx: Context) -> list[tuple[str, Group, bool]]:
    """(name, function, is_peer) for everything measurable here, in round order."""
    out: list[tuple[str, Group, bool]] = [("physical refs", physical.run, False)]
    if ctx.dagstore_python and ctx.compare_root:
        root = ctx.compare_root

        def before(c: Context, wl: Workload, rep: int) -> None:
            dagstore_bench.run(c, wl, rep, root=root, label="before: dagstore")

        out.append(("dagstore (before)", before, False))
    if ctx.dagstore_python:
        out.append(("dagstore", dagstore_bench.run, False))
    for name, fn in zip(PEERS, (peers.run_dvc, peers.run_clearml, peers.run_quilt3), strict=True):
        if name in ctx.peers:
            out.append((name, fn, True))
    return out


def run_workloads(ctx: Context, workloads: dict[str, Workload]) -> None:
    todo = groups(ctx)
    for wl in workloads.values():
        for rep in range(ctx.repeat):
            print(f"\n== {wl.name} round {rep + 1}/{ctx.repeat}", flush=True)
            for name, fn, is_peer in todo:
                if is_peer and rep >= ctx.peer_repeat:
                    continue
                print(f"  -- {name} ({ctx.elapsed()})", flush=True)
                try:
                    fn(ctx, wl, rep)
                except (MeasureError, subprocess.CalledProcessError, OSError) as exc:
                    ctx.errors.setdefault(wl.name, {})[name] = repr(exc)
                    print(f"    {wl.name} {name}: FAILED ({exc!r})", flush=True)


def run_manifest(ctx: Context) -> None:
    """The synthetic manifest hook (benchmarks/manifest_scale.py) under dagstore's interpreter."""
    if not ctx.dagstore_python:
        ctx.note("manifest scale: dagstore is not importable")
        return
    n = MANIFEST_ENTRIES[ctx.size]
    print(f"\n== manifest scale ({n:,} entries)", flush=True)
    cmd = [ctx.dagstore_python, str(BENCH_DIR / "manifest_scale.py"), str(n)]
    try:
        sample = run_timed(cmd, env=dagstore_bench.worker_env(REPO_ROOT, ctx.work_dir, ctx.work_dir), json_out=True)
    except MeasureError as exc:
        ctx.errors.setdefault("manifest", {})["manifest scale"] = str(exc)
        print(f"    manifest scale FAILED: {exc}", flush=True)
        return
    if not sample.info.get("available"):
        ctx.note(f"manifest scale: not available ({sample.info.get('reason')})")
        return
    for phase, seconds in sample.info["phases"].items():
        ctx.record("manifest", f"{n:,} entries: {phase}", Sample(wall=seconds))
    ctx.record("manifest", f"{n:,} entries: all phases (peak RSS)", Sample(wall=sample.wall, op=sample.op, rss_mb=sample.rss_mb))


def _git_commit() -> str | None:
    proc = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _meta(ctx: Context, command: str, started: datetime, elapsed: float, workloads: dict[str, Workload]) -> dict[str, Any]:
    return {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 1),
        "size": ctx.size,
        "repeat": ctx.repeat,
        "peer_repeat": ctx.peer_repeat,
        "git_commit": _git_commit(),
        "host": {"nproc": os.cpu_count(), "platform": platform.platform(), "drop_caches": can_drop_caches()},
        "interpreters": {"harness": sys.executable, "dagstore": ctx.dagstore_python, "hash": ctx.hash_python},
        "peers": ctx.peers,
        "workloads": {n: {"files": w.files, "bytes": w.bytes, "path": str(w.path)} for n, w in workloads.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["cd", str(REPO_ROOT)]) + " && " + shlex.join([sys.executable, "-m", "benchmarks.run", *given])
    started, t0 = datetime.now(), time.perf_counter()
    print(f"$ {command}", flush=True)
    out_dir = args.out.resolve()
    ctx = Context(REPO_ROOT, out_dir, args.size, args.repeat, args.peer_repeat)
    ctx.compare_root = args.compare.resolve() if args.compare else None
    if not can_drop_caches():
        ctx.note("page caches cannot be dropped here (not root?): cold/warm effects are not controlled")

    names = tuple(n for n in NAMES if n in args.only)
    print(f"\n== workloads ({args.size}) from benchmarks/generate.py", flush=True)
    workloads = ensure(out_dir / "data" / args.size, args.size, names)
    print("\n== interpreters and peers", flush=True)
    setup_interpreters(ctx, args)
    print(f"  dagstore: {ctx.dagstore_python or '-'}   read+hash: {ctx.hash_python or '-'}", flush=True)
    print(f"  peers: {ctx.peers or '-'}", flush=True)

    rmtree(ctx.work_dir)
    try:
        run_workloads(ctx, workloads)
        if "manifest" in args.only:
            run_manifest(ctx)
    finally:
        rmtree(ctx.work_dir)

    elapsed = time.perf_counter() - t0
    meta = _meta(ctx, command, started, elapsed, workloads)
    report.publish(ctx, meta, out_dir / f"results-{started:%Y%m%d-%H%M%S}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
