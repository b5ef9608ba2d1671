"""dagstore through its Python API, one child process per measurement (so peak RSS is its own)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .context import BENCH_DIR, Context
from .measure import Sample, copytree, prepare, rmtree, run_timed
from .workloads import Workload

WORKER = str(BENCH_DIR / "dsworker.py")


def default_python(repo_root: Path, fallback: str) -> str:
    """``.venv/bin/python`` at the repo root if present, else ``fallback``."""
    venv = repo_root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else fallback


def worker_env(repo_root: Path, store: Path, cache: Path) -> dict[str, str]:
    """Point dagstore at a store and cache; import the working tree's dagstore first."""
    path = os.pathsep.join(p for p in (str(repo_root), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "DAGSTORE_URL": str(store), "DAGSTORE_CACHE_DIR": str(cache)}


def probe(python: str, repo_root: Path) -> str | None:
    """None if ``from dagstore import Dataset`` works under ``python``, else why not."""
    env = dict(os.environ, **worker_env(repo_root, repo_root, repo_root))
    try:
        cmd = [python, "-c", "from dagstore import Dataset"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python}: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`from dagstore import Dataset` fails under {python}: {last}"
    return None


def run(ctx: Context, wl: Workload, rep: int, root: Path | None = None, label: str = "dagstore") -> None:
    """Version, incremental child (workloads with ``edits``), get_local_copy cold/warm, mutable copy, with the
    dagstore of ``root`` (default: this checkout), recorded as ``<label> <operation>``.

    Nothing is deleted until the end of the round (see ``measure.prepare``)."""
    python = ctx.dagstore_python
    assert python
    base = ctx.fresh_dir(wl.name, label.replace(" ", "-").replace(":", ""))
    store = base / "store"
    ctx = _Labelled(ctx, label)

    def call(op: str, *args: str | Path, cache: Path) -> Sample:
        env = worker_env(root or ctx.repo_root, store, cache)
        return run_timed([python, WORKER, op, *map(str, args)], env=env, json_out=True)

    # A workload with edits gets a private copy (edited in place later); the others are read-only.
    src = wl.path
    if wl.edits:
        src = base / "src"
        copytree(wl.path, src)
    write_cache = base / "cache-write"

    prepare([src])
    version = ctx.attempt(wl.name, "dagstore version", lambda: call("version", src, wl.name, cache=write_cache))
    if version is None:
        rmtree(base)
        return
    ds_id = version.info["id"]

    if wl.edits:
        wl.edits.apply(src)
        prepare([src, write_cache])
        metric = f"dagstore child {wl.edits.label}"
        ctx.attempt(wl.name, metric, lambda: call("child", ds_id, src, wl.name, cache=write_cache))

    read_cache = base / "cache-read"
    prepare([store])
    cold = ctx.attempt(wl.name, "dagstore get_local_copy cold", lambda: call("get", ds_id, cache=read_cache))
    if cold is not None:
        _check_count(ctx, wl, cold)
        warm = ctx.attempt(wl.name, "dagstore get_local_copy warm", lambda: call("get-warm", ds_id, cache=read_cache))
        if warm is not None:
            _check_count(ctx, wl, warm)

    target = base / "mutable"
    prepare([store])
    mutable = ctx.attempt(
        wl.name, "dagstore get_mutable_local_copy", lambda: call("mutable", ds_id, target, cache=base / "cache-mutable")
    )
    if mutable is not None:
        _check_count(ctx, wl, mutable)
    rmtree(base)


class _Labelled:
    """``ctx`` with its dagstore metrics renamed from ``dagstore ...`` to ``<label> ...``."""

    def __init__(self, ctx: Context, label: str):
        self._ctx, self._label = ctx, label

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def attempt(self, workload: str, metric: str, fn: Callable[[], Sample]) -> Sample | None:
        return self._ctx.attempt(workload, metric.replace("dagstore", self._label, 1), fn)


def _check_count(ctx: Context, wl: Workload, sample: Sample) -> None:
    files = sample.info.get("files")
    if files != wl.files:
        ctx.note(f"{wl.name}: dagstore copy at {sample.info.get('path')} has {files} files, expected {wl.files}")
