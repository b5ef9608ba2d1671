"""W1 on a real S3 server (moto, 127.0.0.1): dagstore beside DVC in the same run.

    python -m benchmarks.s3 [--size full|smoke]

Reports, for each tool: upload time, objects written, requests made (dagstore counts every
HTTP request through botocore's event hooks; DVC's are not observable from outside, so its
object count is given), fresh download time; and dagstore's time to the first byte of one file
through ``dagstore://`` in a new process, beside a full ``get_local_copy``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .context import BENCH_DIR
from .peers import ensure_venv
from .workloads import ensure

REPO_ROOT = BENCH_DIR.parent

sys.path.insert(0, str(REPO_ROOT / "tests"))
from servers.storage import set_env_hygiene, start_s3  # noqa: E402  (the test suite's server recipe)

WORKER = r"""
import json, os, sys, time
import fsspec
from dagstore import Dataset, Store

requests = {"n": 0}
def count(**kw):
    requests["n"] += 1

def counted(store):
    fs = store.backend.fs
    fs.connect()
    fs.s3.meta.events.register("before-send", count)
    return store

step, url, folder, cache = sys.argv[1:5]
opts = json.loads(os.environ["BENCH_S3_OPTS"])
out = {}
if step == "upload":
    store = counted(Store(url, storage_options=opts, cache_dir=cache))
    t = time.perf_counter()
    ds = Dataset.create(dataset_name="w1", dataset_project="bench", store=store)
    ds.add_files(folder, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    out = {"seconds": time.perf_counter() - t, "id": ds.id}
elif step == "download":
    store = counted(Store(url, storage_options=opts, cache_dir=cache))
    t = time.perf_counter()
    path = Dataset.get(dataset_project="bench", dataset_name="w1", store=store).get_local_copy(show_progress=False)
    out = {"seconds": time.perf_counter() - t, "files": sum(len(f) for _, _, f in os.walk(path))}
elif step == "first-byte":
    t = time.perf_counter()
    fs = fsspec.filesystem("dagstore", store=url, store_options=opts, cache_dir=cache)
    counted(fs.store)
    data = fs.cat_file("bench/w1@1.0.0/d00/s0/t0/f000000.bin")
    out = {"seconds": time.perf_counter() - t, "bytes": len(data)}
out["requests"] = requests["n"]
print(json.dumps(out))
"""


def _objects(srv, prefix: str) -> int:
    return len(srv.fs().find(prefix))


def _dagstore(python: str, step: str, url: str, folder: Path, cache: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run([python, "-c", WORKER, step, url, str(folder), str(cache)], env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"dagstore {step} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _dvc(dvc: Path, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([str(dvc), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"dvc {' '.join(args)} failed: {(proc.stdout + proc.stderr)[-2000:]}")
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=("full", "smoke"), default="full")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench-out")
    p.add_argument("--python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    args = p.parse_args(argv)
    set_env_hygiene()
    w1 = ensure(args.out / "data" / args.size, args.size, ("w1",))["w1"]
    peers = ensure_venv(args.out)
    srv = start_s3()
    scratch = Path(tempfile.mkdtemp(prefix="s3bench-", dir=args.out))
    try:
        env = {**os.environ, **srv.env, "BENCH_S3_OPTS": json.dumps(srv.storage_options), "DAGSTORE_QUIET": "1",
               "PYTHONPATH": str(REPO_ROOT)}
        url = srv.new_root("store")
        bucket = url.split("://", 1)[1].split("/", 1)[0]
        up = _dagstore(args.python, "upload", url, w1.path, scratch / "cache-up", env)
        objects = _objects(srv, f"{bucket}/store")
        down = _dagstore(args.python, "download", url, w1.path, scratch / "cache-down", env)
        first = _dagstore(args.python, "first-byte", url, w1.path, scratch / "cache-fb", env)
        rows = {"dagstore": {"upload_s": up["seconds"], "objects": objects, "upload_requests": up["requests"],
                             "download_s": down["seconds"], "download_requests": down["requests"], "files": down["files"],
                             "first_byte_s": first["seconds"], "first_byte_requests": first["requests"]}}
        if peers is not None:
            dvc = peers.parent / "dvc"
            empty = scratch / "aws-empty.cfg"  # DVC refuses AWS_CONFIG_FILE=/dev/null
            empty.write_text("")
            env = {**env, "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty)}
            repo = scratch / "dvc-repo"
            shutil.copytree(w1.path, repo / "w1")
            dvc_url = srv.new_root("dvc")
            dvc_bucket = dvc_url.split("://", 1)[1].split("/", 1)[0]
            endpoint = srv.storage_options["endpoint_url"]
            for a in (["init", "--no-scm"], ["remote", "add", "-d", "s3r", dvc_url], ["remote", "modify", "s3r", "endpointurl", endpoint]):
                _dvc(dvc, a, repo, env)
            add = _dvc(dvc, ["add", "w1"], repo, env)
            push = _dvc(dvc, ["push"], repo, env)
            clone = scratch / "dvc-clone"
            clone.mkdir()
            shutil.copytree(repo / ".dvc", clone / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
            shutil.copy(repo / "w1.dvc", clone / "w1.dvc")
            pull = _dvc(dvc, ["pull"], clone, env)
            rows["dvc"] = {"add_s": add, "upload_s": push, "objects": _objects(srv, f"{dvc_bucket}/dvc"), "download_s": pull,
                           "files": sum(len(f) for _, _, f in os.walk(clone / "w1"))}
        report = {"workload": {"files": w1.files, "bytes": w1.bytes}, "server": "moto (S3) on 127.0.0.1", "results": rows}
        print(json.dumps(report, indent=1))
        (args.out / f"s3-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(report, indent=1))
    finally:
        srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
