"""Cache eviction removes least recently used versions only until enough space is free (issue #9:
a cache 50 KB over a 350 KB limit used to lose all four of its versions).

Versions are materialized by separate processes (a live process's lease protects its folders;
these processes have exited, so every folder is evictable), in a known order of use.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from dagstore import Dataset
from helpers import read_tree, write_tree
from servers import Children

KB = 1024


@pytest.fixture
def kids(tmp_path: Path):
    c = Children(tmp_path, {})
    yield c
    c.close()


def four_versions(tmp_path: Path) -> list[str]:
    """Four versions of 100 KB of distinct content each (10 files of 10 KB)."""
    ids = []
    for k in range(4):
        src = write_tree(tmp_path / f"v{k}", {f"f{i}.bin": os.urandom(10 * KB) for i in range(10)})
        ds = Dataset.create(f"v{k}", "evict")
        ds.add_files(src, show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
        ids.append(ds.id)
    return ids


def use(kids: Children, vid: str, **env: str) -> str:
    """Materialize a version in its own short-lived process; returns its folder."""
    path = kids.start(f"use-{vid[:6]}-{time.monotonic_ns()}", f"""
        emit(Dataset.get(dataset_id={vid!r}).get_local_copy(show_progress=False))
    """, **env).result(60)
    time.sleep(0.02)  # distinct lease times
    return str(path)


def cached(cache_root: Path) -> set[str]:
    base = cache_root / "versions"
    return {e for e in os.listdir(base) if not e.startswith(".")}


def test_eviction_stops_once_enough_is_freed_least_recently_used_first(tmp_path: Path, kids: Children) -> None:
    ids = four_versions(tmp_path)
    for vid in ids:
        use(kids, vid)
    use(kids, ids[0])  # used again: ids[1] is now the least recently used
    cache_root = Path(os.environ["DAGSTORE_CACHE_DIR"])
    assert cached(cache_root) == set(ids)
    removed = kids.start("evicter", f"emit(Store().cache.evict({350 * KB}))").result(60)
    assert removed == [ids[1]]  # 400 KB - 100 KB <= 350 KB: one version is enough
    assert cached(cache_root) == {ids[0], ids[2], ids[3]}
    blobs = sum(f.stat().st_size for f in (cache_root / "blobs").rglob("*") if f.is_file())
    assert blobs <= 350 * KB
    for vid in (ids[0], ids[2], ids[3]):  # the others are intact and still served from the cache
        folder = cache_root / "versions" / vid
        assert len(read_tree(folder)) == 10


def test_eviction_after_a_build_removes_only_what_the_limit_needs(tmp_path: Path, kids: Children) -> None:
    ids = four_versions(tmp_path)
    for vid in ids[:3]:
        use(kids, vid)
    cache_root = Path(os.environ["DAGSTORE_CACHE_DIR"])
    use(kids, ids[3], DAGSTORE_CACHE_MAX_SIZE=str(350 * KB))  # 400 KB after this build
    assert cached(cache_root) == {ids[1], ids[2], ids[3]}  # only the oldest went


def test_eviction_under_the_limit_removes_nothing(tmp_path: Path, kids: Children) -> None:
    ids = four_versions(tmp_path)
    for vid in ids:
        use(kids, vid)
    assert kids.start("evicter", f"emit(Store().cache.evict({500 * KB}))").result(60) == []
    assert cached(Path(os.environ["DAGSTORE_CACHE_DIR"])) == set(ids)


def test_unused_blobs_are_freed_before_any_version(tmp_path: Path, kids: Children) -> None:
    ids = four_versions(tmp_path)
    for vid in ids[:3]:
        use(kids, vid)
    cache_root = Path(os.environ["DAGSTORE_CACHE_DIR"])
    # 100 KB of blobs that no folder links to any more: a fourth copy whose folder is removed
    folder = Path(use(kids, ids[3]))
    for d, _dirs, _files in os.walk(folder):
        os.chmod(d, 0o755)
    shutil.rmtree(folder)
    assert kids.start("evicter", f"emit(Store().cache.evict({350 * KB}))").result(60) == []
    assert cached(cache_root) == set(ids[:3])
