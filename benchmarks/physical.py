"""Physical references: what the hardware does with the same bytes and no versioning."""

from __future__ import annotations

import shlex
import sys

from .context import BENCH_DIR, Context
from .measure import prepare, rmtree, run_timed, which
from .workloads import Workload

WORKER = str(BENCH_DIR / "refs_worker.py")


def run(ctx: Context, wl: Workload, rep: int) -> None:
    """One round of every physical reference on ``wl``; outputs are kept until the end of the
    round, so that no deletion slows the next step down."""
    base = ctx.fresh_dir(wl.name, "phys")
    src = wl.path

    for metric, flag in (("cp -r", "-r"), ("cp -rl", "-rl")):
        cmd = ["cp", flag, "--", str(src), str(base / f"copy{flag}")]
        prepare([src])
        ctx.attempt(wl.name, metric, lambda cmd=cmd: run_timed(cmd))  # type: ignore[misc]

    # A durable copy: what the disk takes to hold the same bytes (dagstore's local store fsyncs every
    # object it names; cp -r leaves its copy in the page cache). `sync -f` = syncfs of the copy's file system.
    durable = f"cp -r -- {shlex.quote(str(src))} {shlex.quote(str(base / 'copy-durable'))} && sync -f {shlex.quote(str(base))}"
    prepare([src])
    ctx.attempt(wl.name, "cp -r + sync", lambda: run_timed(["bash", "-c", durable]))

    if which("zstd"):
        tar = f"tar -C {shlex.quote(str(src.parent))} -cf - {shlex.quote(src.name)}"
        pipeline = f"{tar} | zstd -1 -T0 -q > {shlex.quote(str(base / 'w.tar.zst'))}"
        prepare([src])
        ctx.attempt(wl.name, "tar|zstd -1 -T0", lambda: run_timed(["bash", "-o", "pipefail", "-c", pipeline]))
    else:
        ctx.note("tar|zstd reference: no zstd binary (apt-get install zstd)")

    prepare([src])
    ctx.attempt(wl.name, "scandir+stat warm", lambda: run_timed([sys.executable, WORKER, "scan", str(src)], json_out=True))

    if ctx.hash_python:
        hash_cmd = [ctx.hash_python, WORKER, "hash", str(src)]
        prepare([src])
        ctx.attempt(wl.name, "read+xxh3 warm", lambda: run_timed(hash_cmd, json_out=True))
        prepare(cold=True)
        ctx.attempt(wl.name, "read+xxh3 cold", lambda: run_timed(hash_cmd, json_out=True))
        # a version's work on the bytes without its bookkeeping (read, xxh3, zstd -1, write, fsync), on 1 and 2 cores
        for procs in (1, 2):
            pack_cmd = [ctx.hash_python, WORKER, "pack", str(src), str(base / "pack.out"), str(procs)]
            prepare([src])
            ctx.attempt(wl.name, f"read+xxh3+zstd+write {procs}p", lambda cmd=pack_cmd: run_timed(cmd, json_out=True))  # type: ignore[misc]
        # ... plus the least a version must note of each file, as columns, and one sorted manifest: its floor in Python
        if ctx.dagstore_python:  # it needs pyarrow and numpy
            records_cmd = [ctx.dagstore_python, WORKER, "records", str(src), str(base / "records.out")]
            prepare([src])
            ctx.attempt(wl.name, "read+xxh3+zstd+write+records 2p", lambda: run_timed(records_cmd, json_out=True))
    else:
        ctx.note("read+xxh3 reference: no interpreter with xxhash (dagstore's or the peers venv)")
    rmtree(base)
