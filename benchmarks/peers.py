"""Peers: DVC end to end, ClearML offline mode and Quilt3 build, from a venv the suite makes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .context import BENCH_DIR, Context
from .measure import Sample, copytree, prepare, rmtree, run_timed
from .workloads import Workload

REQUIREMENTS = BENCH_DIR / "requirements.txt"
WORKER = str(BENCH_DIR / "peer_worker.py")
DISTRIBUTIONS = ("dvc", "dvc-s3", "clearml", "quilt3", "xxhash")


def _requirement_lines() -> list[str]:
    lines = (ln.split("#", 1)[0].strip() for ln in REQUIREMENTS.read_text().splitlines())
    return [ln for ln in lines if ln]


def ensure_venv(out_dir: Path) -> Path | None:
    """``out_dir/peers-venv`` with requirements.txt installed (re-made when that file changes).

    A requirement that fails to install is left out; the peer is then skipped with a reason.
    """
    venv = out_dir / "peers-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.is_file() and stamp.read_text() == want:
        return python
    rmtree(venv)
    log_path = out_dir / "peers-venv-install.log"
    print(f"  creating {venv} from {REQUIREMENTS.name} (one-off, about a minute; log: {log_path})", flush=True)
    with open(log_path, "w") as log:
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], stdout=log, stderr=log)
        if made.returncode != 0:
            print(f"  [note] cannot create the peers venv (see {log_path})", flush=True)
            return None
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if subprocess.run([*pip, "-r", str(REQUIREMENTS)], stdout=log, stderr=log).returncode != 0:
            for req in _requirement_lines():  # install what can be installed, one by one
                if subprocess.run([*pip, req], stdout=log, stderr=log).returncode != 0:
                    print(f"  [note] pip could not install {req} (see {log_path})", flush=True)
    stamp.write_text(want)
    return python


def installed(python: Path) -> dict[str, str]:
    """Versions of the peer distributions that import cleanly in the venv."""
    script = (
        "import importlib, importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(d); out[d] = m.version(d)\n"
        "    except Exception:\n"
        "        pass\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([str(python), "-c", script, *DISTRIBUTIONS], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def _count_files(root: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(root))


def _cpu_sum(*samples: Sample) -> float | None:
    cpus = [s.cpu for s in samples]
    return None if None in cpus else sum(c for c in cpus if c is not None)


def run_dvc(ctx: Context, wl: Workload, rep: int) -> None:
    """``dvc add`` + ``dvc push`` to a local remote, fresh ``dvc pull``, incremental after the workload's edits."""
    assert ctx.peers_python
    base = ctx.fresh_dir(wl.name, "dvc")
    dvc = str(ctx.peers_python.parent / "dvc")
    env = {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(base / "site"), "HOME": str(base / "home")}
    repo, remote, clone = base / "repo", base / "remote", base / "clone"

    def setup(*args: str, cwd: Path) -> None:
        subprocess.run([dvc, *args], cwd=cwd, env=dict(os.environ, **env), check=True, capture_output=True)

    def timed(*args: str, cwd: Path) -> Sample:
        return run_timed([dvc, *args], cwd=cwd, env=env)

    repo.mkdir()
    copytree(wl.path, repo / "data")
    setup("init", "--no-scm", "-q", cwd=repo)
    setup("remote", "add", "-d", "loc", str(remote), cwd=repo)

    prepare([repo / "data"])
    add = ctx.attempt(wl.name, "dvc add", lambda: timed("add", "-q", "data", cwd=repo))
    prepare([repo / ".dvc" / "cache"])
    push = ctx.attempt(wl.name, "dvc push", lambda: timed("push", "-q", cwd=repo))
    if add is None or push is None:
        rmtree(base)
        return
    both = Sample(wall=add.wall + push.wall, rss_mb=max(add.rss_mb or 0, push.rss_mb or 0), cpu=_cpu_sum(add, push))
    ctx.record(wl.name, "dvc add+push", both)

    clone.mkdir()
    setup("init", "--no-scm", "-q", cwd=clone)
    shutil.copy(repo / ".dvc" / "config", clone / ".dvc" / "config")
    shutil.copy(repo / "data.dvc", clone / "data.dvc")
    prepare([remote])
    pulled = ctx.attempt(wl.name, "dvc pull fresh", lambda: timed("pull", "-q", cwd=clone))
    if pulled and (n := _count_files(clone / "data")) != wl.files:
        ctx.note(f"{wl.name}: dvc pull gave {n} files, expected {wl.files}")

    if wl.edits:
        label = wl.edits.label
        wl.edits.apply(repo / "data")
        prepare([repo / "data"])
        add2 = ctx.attempt(wl.name, f"dvc add {label}", lambda: timed("add", "-q", "data", cwd=repo))
        prepare([repo / ".dvc" / "cache"])
        push2 = ctx.attempt(wl.name, f"dvc push {label}", lambda: timed("push", "-q", cwd=repo))
        if add2 and push2:
            ctx.record(wl.name, f"dvc add+push {label}", Sample(wall=add2.wall + push2.wall, cpu=_cpu_sum(add2, push2)))
    rmtree(base)


def run_clearml(ctx: Context, wl: Workload, rep: int) -> None:
    """ClearML offline mode: create + add_files + upload (hashes and writes state, no copy)."""
    assert ctx.peers_python
    base = ctx.fresh_dir(wl.name, "clearml")
    # Without a git ceiling, ClearML's repository detection finds this repo (from the venv's
    # path) and, when it times out, add_files fails on a missing script entry.
    ceiling = os.pathsep.join((str(ctx.repo_root), str(ctx.out_dir)))
    env = {"CLEARML_OFFLINE_MODE": "1", "HOME": str(base / "home"), "GIT_CEILING_DIRECTORIES": ceiling}
    cmd = [str(ctx.peers_python), WORKER, "clearml", str(wl.path), wl.name]
    prepare([wl.path])
    ctx.attempt(wl.name, "clearml offline create+add+upload", lambda: run_timed(cmd, env=env, cwd=base, json_out=True))
    rmtree(base)


def run_quilt3(ctx: Context, wl: Workload, rep: int) -> None:
    """Quilt3 ``Package.set_dir`` + ``build`` into a local registry (hash + manifest, no copy)."""
    assert ctx.peers_python
    base = ctx.fresh_dir(wl.name, "quilt3")
    home = base / "home"
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "QUILT_DISABLE_USAGE_METRICS": "true",
    }
    cmd = [str(ctx.peers_python), WORKER, "quilt3", str(wl.path), wl.name, (base / "registry").as_uri()]
    prepare([wl.path])
    ctx.attempt(wl.name, "quilt3 build", lambda: run_timed(cmd, env=env, json_out=True))
    rmtree(base)
