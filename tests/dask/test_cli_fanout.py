"""The command line's ``--workers N`` and ``--scheduler ADDRESS``, run as a user would: the
installed ``dagstore`` in subprocesses, against the session's real LocalCluster."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from dagstore import Dataset, Store
from scale_trees import make_tree, tree_bytes

DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")


def dag(tmp_path: Path, *args: Any, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTORE_URL": str(tmp_path / "store"), "DAGSTORE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("DAGSTORE_CONFIG", None)
    assert DAGSTORE, "the dagstore console script is not installed"
    p = subprocess.run([DAGSTORE, *map(str, args)], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == code, f"{args} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def test_add_with_workers_and_with_a_scheduler_then_export_on_the_scheduler(tmp_path: Path, cluster: Any) -> None:
    src = make_tree(tmp_path / "src", n=60)
    vid = json.loads(dag(tmp_path, "--json", "create", "--project", "p", "--name", "pool").stdout)["id"]
    dag(tmp_path, "add", "--id", vid, "--files", src, "--workers", "2")
    dag(tmp_path, "close", "--id", vid)
    other = json.loads(dag(tmp_path, "--json", "create", "--project", "p", "--name", "dask").stdout)["id"]
    dag(tmp_path, "add", "--id", other, "--files", src, "--scheduler", cluster.scheduler_address)
    dag(tmp_path, "close", "--id", other)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "check"))
    pool, dask = Dataset.get(vid, store=st), Dataset.get(other, store=st)
    assert pool.record.manifest == dask.record.manifest and pool.record.stats["files"] == 61
    assert tree_bytes(dask.get_local_copy(show_progress=False)) == tree_bytes(src)
    dag(tmp_path, "export", "p/dask", "--format", "IMAGEFOLDER", "--out", tmp_path / "out", "--scheduler", cluster.scheduler_address)
    assert (tmp_path / "out" / "export.json").exists()


def test_bad_fan_out_options_fail_with_one_line_and_change_nothing(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", n=5, large=False)
    vid = json.loads(dag(tmp_path, "--json", "create", "--project", "p", "--name", "bad").stdout)["id"]
    both = dag(tmp_path, "add", "--id", vid, "--files", src, "--workers", "2", "--scheduler", "tcp://127.0.0.1:9", code=1)
    assert both.stderr.strip() == "dagstore: error: give --workers or --scheduler, not both"
    dead = dag(tmp_path, "add", "--id", vid, "--files", src, "--scheduler", "tcp://127.0.0.1:9", code=1)
    lines = dead.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagstore: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert Dataset.get(vid, store=Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c2"))).list_files() == []
