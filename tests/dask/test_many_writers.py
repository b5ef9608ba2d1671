"""Many writers: 64 processes versioning one dataset into one S3 store (the moto server) at once
lose nothing and duplicate nothing (put-if-absent claims, records written last)."""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

from dagstore import Dataset, Store

WRITERS = 64


def _writer(k: int, url: str, opts: dict[str, Any], cache: str, go: Any, out: Any) -> None:
    """One writer process: waits for the start signal, then makes one version with its own file."""
    try:
        st = Store(url, opts, cache_dir=cache)
        src = Path(cache) / "src"
        src.mkdir(parents=True)
        (src / f"writer-{k:02d}.txt").write_text(f"written by writer {k}\n" * 50)
        (src / "shared.txt").write_text("the same in every version\n")
        go.wait(60)
        ds = Dataset.create("shared", "many-writers", store=st)
        ds.add_files(src, show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
        out.put((k, ds.id, ds.version))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        out.put((k, None, f"{type(exc).__name__}: {exc}"))


def test_64_concurrent_writers_into_one_s3_store_lose_nothing_and_duplicate_nothing(tmp_path: Path, s3_server: Any) -> None:
    url = s3_server.new_root("many")
    Store(url, s3_server.storage_options, cache_dir=str(tmp_path / "parent-cache"))  # the store exists
    ctx = multiprocessing.get_context("forkserver")  # a clean server with dagstore imported forks the 64 writers
    ctx.set_forkserver_preload(["dagstore", "s3fs", "test_many_writers"])
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(k, url, s3_server.storage_options, str(tmp_path / f"c{k}"), go, out))
             for k in range(WRITERS)]
    for p in procs:
        p.start()
    t0 = time.monotonic()
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    elapsed = time.monotonic() - t0
    failed = [r for r in results if r[1] is None]
    assert not failed, failed[:3]
    st = Store(url, s3_server.storage_options, cache_dir=str(tmp_path / "check-cache"))
    found = Dataset.list_datasets(dataset_project="many-writers", store=st, only_completed=True)
    assert len(found) == WRITERS  # nothing lost
    assert len({d["version"] for d in found}) == WRITERS  # no version number taken twice
    assert {d["id"] for d in found} == {r[1] for r in results}
    for k, vid, _version in results:
        files = Dataset.get(vid, store=st).list_files()
        assert files == sorted([f"writer-{k:02d}.txt", "shared.txt"])  # each version holds exactly its writer's files
    assert Dataset.get(results[0][1], store=st).read_bytes(f"writer-{results[0][0]:02d}.txt").startswith(b"written by writer")
    assert st.verify() == []
    assert elapsed < 240, f"{WRITERS} writers took {elapsed:.0f} s"  # ~40 s at load 15 on 2 cores; 150 s at load 25
