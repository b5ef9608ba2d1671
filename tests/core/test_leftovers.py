"""No leftovers: crash leftovers in the cache are reclaimed (by eviction, and by a clean-up that
runs on its own when they are old and their owner is gone), and a tampered cache file is
noticed and rebuilt from the store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from helpers import read_tree, write_tree

OLD = 600.0  # seconds: older than the clean-up's threshold (a few minutes)


def _make(st: Store, tmp_path: Path, files: dict[str, bytes], name: str = "d", parents: list[str] | None = None) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p", parent_datasets=parents, store=st)
    ds.add_files(str(write_tree(tmp_path / f"src-{os.urandom(3).hex()}", files)), show_progress=False)
    ds.finalize(auto_upload=True)
    return ds


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def _plant(cache: Path, key: str, age: float) -> list[Path]:
    """Leftovers a killed process would leave: a partial build, a half-deleted trash folder,
    a partial blob and a partial metadata file."""
    build = cache / "versions" / f".tmp-{key}-{os.urandom(4).hex()}"
    trash = cache / "versions" / f".trash-{os.urandom(16).hex()}"
    blob = cache / "blobs" / "ab" / f".tmp-{os.urandom(16).hex()}"
    meta = cache / "meta" / "manifests" / f".tmp-{os.urandom(16).hex()}"
    for d in (build / "sub", trash):
        d.mkdir(parents=True)
        (d / "f.bin").write_bytes(os.urandom(100_000))
    for f in (blob, meta):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(200_000))
    out = [build, trash, blob, meta]
    for p in out:
        for q in p.rglob("*") if p.is_dir() else []:
            _age(q, age)
        _age(p, age)
    return out


def test_eviction_reclaims_crash_leftovers(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    data = os.urandom(5000)
    ds = _make(st, tmp_path, {"a.bin": data})
    old = _plant(st.cache.root, "0" * 32, OLD)
    young = _plant(st.cache.root, "1" * 32, 0)
    st.cache.evict(max_bytes=1 << 40)
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in young)  # may belong to a process still writing them
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == {"a.bin": data}


def test_a_build_reclaims_old_leftovers_on_its_own(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    a = _make(st, tmp_path, {"a.txt": b"a"}, name="a")
    b = _make(st, tmp_path, {"b.txt": b"b"}, name="b")
    old = _plant(st.cache.root, "2" * 32, OLD)
    young = _plant(st.cache.root, "3" * 32, 0)
    fresh = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))  # another process, later
    assert read_tree(Dataset.get(dataset_id=b.id, store=fresh).get_local_copy(show_progress=False)) == {"b.txt": b"b"}
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in young)
    assert read_tree(Dataset.get(dataset_id=a.id, store=fresh).get_local_copy(show_progress=False)) == {"a.txt": b"a"}


def test_a_partial_build_whose_owner_is_alive_is_kept(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = _make(st, tmp_path, {"a.txt": b"a"})
    key = "4" * 32
    build = _plant(st.cache.root, key, OLD)[0]
    lock = st.cache.root / "locks" / f"version-{key}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys; l = filelock.FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); sys.stdin.read()", str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        st.cache.evict(max_bytes=1 << 40)
        assert build.exists()  # a live process is still building it
    finally:
        holder.communicate("")
    st.cache.evict(max_bytes=1 << 40)
    assert not build.exists()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == {"a.txt": b"a"}


@pytest.mark.parametrize("change", ["same-size", "longer", "truncated"])
def test_a_tampered_cache_file_is_noticed_and_rebuilt(tmp_path: Path, change: str) -> None:
    url, cache = str(tmp_path / "store"), str(tmp_path / "cache")
    good = os.urandom(3000)
    st = Store(url, cache_dir=cache)
    ds = _make(st, tmp_path, {"x.bin": good, "y.txt": b"y"})
    folder = Path(ds.get_local_copy(show_progress=False))
    f = folder / "x.bin"
    os.chmod(folder, 0o755)
    os.chmod(f, 0o644)  # what a user does to edit a read-only file
    bad = {"same-size": os.urandom(3000), "longer": good + b"more", "truncated": good[:10]}[change]
    f.write_bytes(bad)
    os.chmod(f, 0o444)
    os.chmod(folder, 0o555)

    # a new version sharing the blob, checked out by another process, gets the real bytes
    later = Store(url, cache_dir=cache)
    child = _make(later, tmp_path, {"z.txt": b"z"}, name="child", parents=[ds.id])
    assert read_tree(Dataset.get(dataset_id=child.id, store=later).get_local_copy(show_progress=False)) == {"x.bin": good, "y.txt": b"y", "z.txt": b"z"}
    # the tampered copy itself: verify_dataset_hash finds it, and get_local_copy rebuilds it
    again = Store(url, cache_dir=cache)
    d2 = Dataset.get(dataset_id=ds.id, store=again)
    assert d2.verify_dataset_hash() in ([], ["x.bin"])
    assert read_tree(d2.get_local_copy(show_progress=False)) == {"x.bin": good, "y.txt": b"y"}
    assert Dataset.get(dataset_id=ds.id, store=Store(url, cache_dir=cache)).verify_dataset_hash() == []
    assert not [p for p in Path(cache).rglob("*") if p.name.startswith((".tmp-", ".trash-"))]


def test_a_tampered_folder_is_rebuilt_by_get_local_copy_alone(tmp_path: Path) -> None:
    """The usual way to edit: `chmod -R u+w` on the copy, then change a file."""
    url, cache = str(tmp_path / "store"), str(tmp_path / "cache")
    good = os.urandom(3000)
    ds = _make(Store(url, cache_dir=cache), tmp_path, {"x.bin": good, "d/y.txt": b"y"})
    folder = Path(ds.get_local_copy(show_progress=False))
    subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
    (folder / "x.bin").write_bytes(b"edited")
    got = Dataset.get(dataset_id=ds.id, store=Store(url, cache_dir=cache)).get_local_copy(show_progress=False)
    assert read_tree(got) == {"x.bin": good, "d/y.txt": b"y"}


def test_dagstore_gc_also_reclaims_cache_leftovers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dagstore.cli import main

    url, cache = str(tmp_path / "store"), str(tmp_path / "cache")
    st = Store(url, cache_dir=cache)
    _make(st, tmp_path, {"a.txt": b"a"})
    old = _plant(st.cache.root, "5" * 32, OLD)
    assert main(["--store", url, "--cache-dir", cache, "gc"]) == 0
    assert "removed 4 crash leftovers from the local cache" in capsys.readouterr().out
    assert not any(p.exists() for p in old)
