"""The behaviour suite on every backend: local folder, S3 (moto), GCS (fake-gcs-server) and
Azure (Azurite), each a real server on 127.0.0.1. Each test uses a fresh bucket and cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from dagstore.core.backend import open_backend
from helpers import read_tree, write_tree

FILES = {
    "a.txt": "alpha\n" * 100,
    "img/x.bin": os.urandom(9000),
    "img/y.bin": os.urandom(12000),
    "deep/er/z.csv": "k,v\n" + "1,2\n" * 500,
}
BIG = os.urandom(5 << 20)  # stored as its own object


@pytest.fixture
def store(store_url, tmp_path) -> Store:
    url, opts = store_url
    return Store(url, storage_options=opts, cache_dir=str(tmp_path / "cache"))


def fresh(store: Store, tmp_path: Path) -> Store:
    """The same store seen from a new process with an empty cache."""
    return Store(store_url_of(store), storage_options=store.storage_options, cache_dir=str(tmp_path / f"c{os.urandom(3).hex()}"))


def store_url_of(store: Store) -> str:
    be = store.backend
    return be.url if be.is_local else f"{be.protocol}://{be.root}"


def version(store: Store, folder: Path, name: str = "d", parents=None) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p", parent_datasets=parents, store=store)
    ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_create_child_and_read_back_on_an_empty_cache(store, tmp_path):
    src = write_tree(tmp_path / "src", {**FILES, "big.bin": BIG})
    v1 = version(store, src)
    (src / "a.txt").write_text("changed")
    (src / "img/x.bin").unlink()
    (src / "new.txt").write_text("new")
    child = Dataset.create(dataset_name="d", dataset_project="p", parent_datasets=[v1], store=store)
    assert child.sync_folder(src) == (1, 1, 1)
    child.finalize(auto_upload=True)
    other = fresh(store, tmp_path)
    got = Dataset.get(dataset_project="p", dataset_name="d", store=other)
    assert got.id == child.id and got.version == "1.0.1"
    assert read_tree(got.get_local_copy(show_progress=False)) == read_tree(src)
    assert read_tree(Dataset.get(dataset_id=v1.id, store=other).get_local_copy())["img/x.bin"] == FILES["img/x.bin"]
    assert got.verify_dataset_hash() == []


def test_parts_and_file_subsets_fetch_only_their_share(store, tmp_path):
    src = write_tree(tmp_path / "src", {f"f{i:02d}.bin": os.urandom(2000 + i) for i in range(30)})
    v = version(store, src)
    other = fresh(store, tmp_path)
    ds = Dataset.get(dataset_id=v.id, store=other)
    parts = [read_tree(ds.get_local_copy(part=k, num_parts=4)) for k in range(4)]
    merged = {k: v for p in parts for k, v in p.items()}
    assert merged == read_tree(src) and sum(map(len, parts)) == 30
    sub = fresh(store, tmp_path)
    only = Dataset.get(dataset_id=v.id, store=sub).get_local_copy(files=["f0*.bin"])
    assert set(read_tree(only)) == {f"f0{i}.bin" for i in range(10)}
    blobs = [p for p in (sub.cache.root / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 10  # only the selected content was fetched


def test_squash_on_the_backend(store, tmp_path):
    v1 = version(store, write_tree(tmp_path / "a", {"x": "1", "y": "2"}))
    c = Dataset.create(dataset_name="d", dataset_project="p", parent_datasets=[v1], store=store)
    c.remove_files("y")
    c.add_files(write_tree(tmp_path / "b", {"z": "3"}))
    c.finalize(auto_upload=True)
    sq = Dataset.squash("flat", dataset_ids=[v1.id, c.id], store=store)
    assert read_tree(Dataset.get(dataset_id=sq.id, store=fresh(store, tmp_path)).get_local_copy()) == {"x": b"1", "z": b"3"}


def test_verify_and_gc_on_the_backend(store, tmp_path):
    keep = version(store, write_tree(tmp_path / "k", {"k.txt": "keep", "big.bin": BIG}), name="keep")
    gone = version(store, write_tree(tmp_path / "g", {"g.txt": "gone", "big2.bin": os.urandom(5 << 20)}), name="gone")
    assert store.verify(read_data=True) == []
    Dataset.delete(dataset_id=gone.id, store=store)
    report = store.gc(min_age_seconds=0)
    assert len(report.packs) == 1 and len(report.objects) == 1
    assert store.gc(dry_run=True, min_age_seconds=0).bytes == 0
    assert store.verify(read_data=True) == []
    got = Dataset.get(dataset_id=keep.id, store=fresh(store, tmp_path))
    assert read_tree(got.get_local_copy())["big.bin"] == BIG


def test_put_if_absent_is_exclusive(store):
    be = store.backend
    assert be.write_new("names/x/1.0.0", b"first")
    assert not be.write_new("names/x/1.0.0", b"second")
    assert be.read("names/x/1.0.0") == b"first"


def test_an_interrupted_upload_leaves_nothing_visible_and_resumes(store, tmp_path, monkeypatch):
    src = write_tree(tmp_path / "src", {**{f"s{i}.bin": os.urandom(3000) for i in range(50)}, "big1.bin": BIG, "big2.bin": os.urandom(5 << 20)})
    d = Dataset.create(dataset_name="d", dataset_project="p", store=store)
    d.add_files(src)
    real = type(store.backend).put_file
    calls = []

    def failing(self, local, key, callback=None):
        calls.append(key)
        if len(calls) == 2:
            raise ConnectionError("network down")
        return real(self, local, key, callback)

    monkeypatch.setattr(type(store.backend), "put_file", failing)
    with pytest.raises(ConnectionError):
        d.upload(show_progress=False, retries=1)
    monkeypatch.setattr(type(store.backend), "put_file", real)
    assert store.records() == []
    other = fresh(store, tmp_path)
    again = Dataset.get(dataset_id=d.id, store=other)
    sent = []
    monkeypatch.setattr(type(store.backend), "put_file", lambda self, l, k, callback=None: sent.append(k) or real(self, l, k, callback))
    again.upload(show_progress=False)
    again.finalize()
    assert len(sent) == 1  # the big file that had arrived is not sent again
    assert read_tree(Dataset.get(dataset_id=d.id, store=fresh(store, tmp_path)).get_local_copy()) == read_tree(src)


def test_credentials_never_reach_the_store_or_errors(store, tmp_path):
    secret_values = [str(v) for k, v in store.storage_options.items() if k in ("secret", "key", "connection_string", "token") and len(str(v)) > 5]
    v = version(store, write_tree(tmp_path / "s", {"a": "1"}))
    be = store.backend
    for key in be.list(""):
        data = be.read(key)
        for s in secret_values:
            assert s.encode() not in data, key
    assert all(s not in repr(store) and s not in store.url for s in secret_values)
    with pytest.raises(Exception) as exc:
        Dataset.get(dataset_id="0" * 32, store=store)
    assert all(s not in str(exc.value) for s in secret_values)
    assert v.is_final()


def test_output_url_puts_content_elsewhere(store, tmp_path, store_url):
    url, opts = store_url
    content_url = url.rstrip("/") + "-content" if "://" not in url else url.rstrip("/") + "/elsewhere"
    src = write_tree(tmp_path / "s", {"a.txt": "hello", "big.bin": BIG})
    d = Dataset.create(dataset_name="d", dataset_project="p", store=store)
    d.add_files(src)
    d.upload(show_progress=False, output_url=content_url)
    d.finalize()
    assert d.record.content_url == content_url
    assert not store.backend.list("packs") and not store.backend.list("objects")
    assert open_backend(content_url, opts).list("packs")
    assert read_tree(Dataset.get(dataset_id=d.id, store=fresh(store, tmp_path)).get_local_copy()) == read_tree(src)


def test_empty_files_round_trip(store, tmp_path):
    src = write_tree(tmp_path / "s", {"empty.txt": b"", "dir/also_empty": b"", "x.txt": "x"})
    v = version(store, src)
    got = Dataset.get(dataset_id=v.id, store=fresh(store, tmp_path))
    assert read_tree(got.get_local_copy()) == read_tree(src)
    assert got.read_bytes("empty.txt") == b""


def test_empty_and_regular_ranges_read_back_exactly(store):
    be = store.backend
    be.write("misc/blob", b"0123456789")
    assert be.read_ranges([("misc/blob", 3, 3), ("misc/blob", 2, 5), ("misc/blob", 9, 9)]) == [b"", b"234", b""]
    assert be.read_many(["misc/blob", "misc/absent"]) == {"misc/blob": b"0123456789"}
