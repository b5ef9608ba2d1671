"""Fan-out benchmark (issue 22): ingestion and exports on a Dask LocalCluster vs one process.

    python -m benchmarks.dask [--files 200000] [--images 50000] [--workers 2] [--work DIR]

- **ingest**: W1's generator (benchmarks/generate.py) scaled to ``--files`` small files
  (1-8 KiB); ``add_files + upload + finalize`` in one process, then ``add_files(executor=)
  + finalize`` on a LocalCluster of ``--workers`` worker processes (1 thread each); each into
  a fresh local store and fresh caches. Reports the speed-up, the tasks, the workers' own
  seconds per file and the scheduler's overhead per task (empty tasks through the same
  executor).
- **export**: ``--images`` small JPEG-named files with one box each into a version, then a
  COCO export to a folder on a cluster of 1 worker and of ``--workers`` workers (cold worker
  caches both times), and in one process.

Each cluster's workers first import dagstore's modules (``_warm``), as long-running workers
have: the timings are of the work, not of Python imports. Each ingest step reads the source
tree once just before it is timed (``read_tree``): this machine's page cache drops pages
20-40 s after their last access (DAMON pageout), so without it the step that runs second
would read from disk what the first read from memory (a cold read of a small file costs ~40 µs
more CPU and ~150 µs more wall time here). Both steps are timed on a warm page cache; the
clusters run with Dask's default settings.

Prints one JSON document; the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.generate import w1_content, w1_path


def _noop(_x: int) -> int:
    return 0


def gen_files(root: Path, n: int) -> int:
    """W1's files 0..n-1 (cached: a tree with a ``<root>.done`` marker beside it is reused)."""
    done = root.with_name(root.name + ".done")
    if done.exists():
        return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    shutil.rmtree(root, ignore_errors=True)
    total = 0
    for i in range(n):
        p = root / w1_path(i)
        p.parent.mkdir(parents=True, exist_ok=True)
        data = w1_content(i)
        p.write_bytes(data)
        total += len(data)
    done.touch()
    return total


def read_tree(root: Path) -> float:
    """Read every file under ``root`` once (4 threads), so that the next step finds them in the
    page cache; the seconds it took."""
    t0 = time.perf_counter()
    files = [os.path.join(d, f) for d, _dirs, names in os.walk(root) for f in names]

    def read(paths: list[str]) -> None:
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                f.read()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(read, [files[i::4] for i in range(4)]))
    return time.perf_counter() - t0


def _warm() -> int:
    """What a long-running worker has done once: import dagstore's write and export modules."""
    import dagstore.core.fanscan  # noqa: F401
    import dagstore.export.formats  # noqa: F401
    import dagstore.export.source  # noqa: F401

    return os.getpid()


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its children that have ended."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _workers_cpu(client: Any) -> float:
    return float(sum(client.run(_cpu).values()))


def _cluster(workers: int, cache: Path) -> Any:
    from distributed import LocalCluster

    env = {"DAGSTORE_CACHE_DIR": str(cache), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", env=env,
                        silence_logs=40)


def ingest(work: Path, src: Path, workers: int) -> dict[str, Any]:
    from distributed import Client

    from dagstore import Dataset, Store
    from dagstore.core import fanout, fanscan

    st1 = Store(str(work / "store-one"), cache_dir=str(work / "cache-one"))
    warm_s = [read_tree(src)]
    c0, t0 = _cpu(), time.perf_counter()
    ds = Dataset.create("w1", "bench", store=st1)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    one, one_cpu = time.perf_counter() - t0, _cpu() - c0

    st2 = Store(str(work / "store-many"), cache_dir=str(work / "cache-driver"))
    with _cluster(workers, work / "cache-workers") as cl, Client(cl) as client:
        client.run(_warm)
        ex = client.get_executor()
        t0 = time.perf_counter()
        n_noop = 200
        fanout.run(ex, _noop, list(range(n_noop)), "noop")
        per_task = (time.perf_counter() - t0) / n_noop
        t0 = time.perf_counter()
        for i in range(50):  # one at a time: the round trip a task costs at the least
            ex.submit(_noop, i).result()
        round_trip = (time.perf_counter() - t0) / 50
        seen: list[fanout.Fragment] = []
        real = fanscan.ingest_folder

        def spy(*a: Any, **k: Any) -> fanout.Fragment:
            seen.append(real(*a, **k))
            return seen[-1]

        fanscan.ingest_folder = spy
        try:
            warm_s.append(read_tree(src))
            c0, w0 = _cpu(), _workers_cpu(client)
            t0 = time.perf_counter()
            ds2 = Dataset.create("w1", "bench", store=st2)
            ds2.add_files(src, show_progress=False, executor=ex)
            t_add = time.perf_counter() - t0
            t1 = time.perf_counter()
            ds2.finalize()
            t_fin = time.perf_counter() - t1
            many = time.perf_counter() - t0
        finally:
            fanscan.ingest_folder = real
        driver_cpu, workers_cpu = _cpu() - c0, _workers_cpu(client) - w0
    assert ds2.record.manifest == ds.record.manifest, "the versions differ"
    assert ds2.record.stats == ds.record.stats
    files = ds.record.stats["files"]
    frag = seen[0]
    return {"files": files, "one_process_s": round(one, 2), "workers": workers, "cluster_s": round(many, 2),
            "cluster_add_files_s": round(t_add, 2), "cluster_finalize_s": round(t_fin, 2), "speedup": round(one / many, 2),
            "tasks": frag.tasks, "worker_seconds_total": round(frag.seconds, 2), "worker_task_cpu_s": round(frag.cpu, 2),
            "worker_task_cpu_us_per_file": round(frag.cpu / files * 1e6, 1),
            "worker_us_per_file": round(frag.seconds / files * 1e6, 1), "scheduler_ms_per_task": round(per_task * 1e3, 2),
            "fanout_wall_s": round(frag.wall, 2), "driver_serial_s": round(many - frag.wall, 2),
            "driver_us_per_file": round((many - frag.wall) / files * 1e6, 1), "scheduler_round_trip_ms": round(round_trip * 1e3, 2),
            "cpu_s": {"one_process": round(one_cpu, 2), "cluster_driver_and_scheduler": round(driver_cpu, 2),
                      "cluster_workers": round(workers_cpu, 2)},
            "worker_cpu_us_per_file": round(workers_cpu / files * 1e6, 1), "one_process_cpu_us_per_file": round(one_cpu / files * 1e6, 1),
            "read_tree_s": [round(x, 2) for x in warm_s], "same_manifest": True}


def export(work: Path, n: int, workers: int) -> dict[str, Any]:
    from distributed import Client

    from dagstore import Dataset, Store
    from dagstore.core import fanout

    src = work / f"images-{n}"
    if not src.with_name(f"images-{n}.done").exists():
        shutil.rmtree(src, ignore_errors=True)
        for i in range(n):
            p = src / f"s{i % 100:02d}" / f"img{i:06d}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(os.urandom(2048 + i % 2048))
        src.with_name(f"images-{n}.done").touch()
    st = Store(str(work / "store-images"), cache_dir=str(work / "cache-images"))
    ds = Dataset.create("images", "bench", store=st)
    ds.add_files(src, wildcard="*.jpg", show_progress=False)
    ds.add_classes(["cat", "dog"])
    ds.set_annotations({p: {"split": "train" if i % 5 else "val", "media": {"kind": "image", "width": 64, "height": 48},
                            "regions": [{"type": "box", "label": ("cat", "dog")[i % 2], "xywh": [1.0, 2.0, 10.0, 8.0]}]}
                        for i, p in enumerate(sorted(ds.list_files()))})
    ds.upload(show_progress=False)
    ds.finalize()
    out: dict[str, Any] = {"images": n, "cpu_s": {}}
    one = Dataset.get(ds.id, store=Store(st.url, cache_dir=str(work / "cache-export-one")))
    c0, t0 = _cpu(), time.perf_counter()
    one.export("COCO", work / "coco-one")
    out["one_process_s"] = round(time.perf_counter() - t0, 2)
    out["cpu_s"]["one_process"] = round(_cpu() - c0, 2)
    real = fanout.run
    for w in (1, workers):
        parts: list[Any] = []

        def spy(*a: Any, **k: Any) -> Any:
            parts.extend(real(*a, **k))
            return parts

        with _cluster(w, work / f"cache-export-{w}w") as cl, Client(cl) as client:
            client.run(_warm)
            fanout.run = spy
            try:
                c0, w0, t0 = _cpu(), _workers_cpu(client), time.perf_counter()
                ds.export("COCO", work / f"coco-{w}w", executor=client.get_executor())
                out[f"cluster_{w}w_s"] = round(time.perf_counter() - t0, 2)
                out["cpu_s"][f"cluster_{w}w"] = {"driver_and_scheduler": round(_cpu() - c0, 2), "workers": round(_workers_cpu(client) - w0, 2)}
            finally:
                fanout.run = real
        out[f"cluster_{w}w_parts_s"] = [round(p.seconds, 2) for p in parts]
    out["speedup_vs_1_worker"] = round(out["cluster_1w_s"] / out[f"cluster_{workers}w_s"], 2)
    same = [sorted(p.relative_to(work / f"coco-{w}").as_posix() for p in (work / f"coco-{w}").rglob("*")) for w in ("one", f"{workers}w")]
    out["same_files_as_one_process"] = same[0] == same[1] and all(
        (work / "coco-one" / rel).read_bytes() == (work / f"coco-{workers}w" / rel).read_bytes()
        for rel in same[0] if (work / "coco-one" / rel).is_file() and rel != "export.json")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=200_000)
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--work", type=Path, default=None, help="work folder (kept; generated files are reused)")
    p.add_argument("--only", choices=["ingest", "export"], default=None)
    a = p.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp(prefix="dagstore-bench-dask-"))
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("store-*"):
        shutil.rmtree(old)
    for old in list(work.glob("cache-*")) + list(work.glob("coco-*")):
        shutil.rmtree(old)
    doc: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    if a.only in (None, "ingest"):
        src = work / f"w1-{a.files}"
        doc["bytes"] = gen_files(src, a.files)
        doc["ingest"] = ingest(work, src, a.workers)
    if a.only in (None, "export"):
        doc["export"] = export(work, a.images, a.workers)
    doc["load_after"] = os.getloadavg()[0]
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
