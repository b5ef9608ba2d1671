"""Ingestion fanned out over a real LocalCluster: the same version as one process makes."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core import layout
from dagstore.core.packs import decode_header
from dagstore.errors import InvalidPathError
from scale_trees import make_tree, tree_bytes


def one_process(tmp_path: Path, src: Path) -> Dataset:
    st = Store(str(tmp_path / "single-store"), cache_dir=str(tmp_path / "single-cache"))
    ds = Dataset.create("data", "scale", store=st)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_add_files_on_workers_makes_the_version_one_process_makes(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src")
    ref = one_process(tmp_path, src)
    st = Store(str(tmp_path / "store"))
    ds = Dataset.create("data", "scale", store=st)
    assert ds.add_files(src, show_progress=False, executor=executor) == 151
    assert not ds.is_dirty()  # the workers sent everything: nothing left pending
    ds.finalize()
    assert ds.record.manifest == ref.record.manifest  # same delta manifest, byte for byte (its key is its hash)
    assert ds.record.stats == ref.record.stats
    assert {p: (e.hash, e.size) for p, e in ds.file_entries_dict.items()} == {p: (e.hash, e.size) for p, e in ref.file_entries_dict.items()}
    assert len(ds.record.packs) >= 4  # 150 files in tasks of 40: every worker task wrote its own pack
    assert tree_bytes(ds.get_local_copy(show_progress=False)) == tree_bytes(src)
    assert st.verify(read_data=True) == []


def test_upload_of_pending_files_on_workers_then_close(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src", large=False)
    ref = one_process(tmp_path, src)
    st = Store(str(tmp_path / "store"))
    ds = Dataset.create("data", "scale", store=st)
    ds.add_files(src, show_progress=False)
    assert ds.is_dirty()
    ds.upload(show_progress=False, executor=executor)
    assert not ds.is_dirty()
    ds.finalize()
    assert ds.record.manifest == ref.record.manifest
    assert tree_bytes(ds.get_local_copy(show_progress=False)) == tree_bytes(src)


def test_sync_folder_on_workers_sends_only_changes(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src", n=80, large=False)
    st = Store(str(tmp_path / "store"))
    first = Dataset.create("data", "scale", store=st)
    first.sync_folder(src, show_progress=False, executor=executor)
    first.finalize()
    (src / "d0" / "e0" / "f0000.bin").write_bytes(b"changed")
    os.remove(src / "d1" / "e1" / "f0001.bin")
    child = Dataset.create("data", "scale", parent_datasets=[first.id], store=st)
    assert child.sync_folder(src, show_progress=False, executor=executor) == (1, 0, 1)
    child.finalize()
    assert child.list_modified_files() == ["d0/e0/f0000.bin"] and child.list_removed_files() == ["d1/e1/f0001.bin"]
    assert tree_bytes(child.get_local_copy(show_progress=False)) == tree_bytes(src)


def test_a_file_changed_since_add_fails_the_whole_upload_on_its_worker_and_nothing_is_lost(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src", n=60, large=False)
    st = Store(str(tmp_path / "store"))
    ds = Dataset.create("data", "scale", store=st)
    ds.add_files(src, show_progress=False)
    (src / "d2" / "e2" / "f0002.bin").write_bytes(b"edited after add_files")
    with pytest.raises(InvalidPathError, match="f0002.bin: changed after it was added"):
        ds.upload(show_progress=False, executor=executor)
    again = Dataset.get(ds.id, store=st)
    assert again.is_dirty() and len(again.list_files()) == 60  # the draft still lists every file as pending


def _stored_blobs(st: Store) -> list[str]:
    """The hash of every blob in every pack of ``st`` (a blob packed twice is listed twice)."""
    be = st.backend
    return [h for k in be.list(layout.INDEX) for h in decode_header(layout.leaf(k), be.read(k))]


def _added_on_workers(st: Store, name: str, src: Path, executor: Any) -> Dataset:
    ds = Dataset.create(name, "scale", store=st)
    ds.add_files(src, show_progress=False, executor=executor)
    ds.finalize()
    return ds


def test_a_task_packs_each_content_once(tmp_path: Path, executor: Any) -> None:
    src = tmp_path / "flat"
    src.mkdir()
    for i in range(30):  # one unit (< 40 names): one task, 10 distinct contents
        (src / f"f{i:02d}.bin").write_bytes(bytes([i % 10]) * 3000)
    st = Store(str(tmp_path / "store"))
    ds = _added_on_workers(st, "data", src, executor)
    assert sorted(_stored_blobs(st)) == sorted({e.hash for e in ds.file_entries_dict.values()}) and len(_stored_blobs(st)) == 10


def test_workers_pack_nothing_the_store_holds(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src", n=120, large=False)
    st = Store(str(tmp_path / "store"))
    first = _added_on_workers(st, "data", src, executor)
    blobs = _stored_blobs(st)
    assert set(blobs) == {e.hash for e in first.file_entries_dict.values()}
    copy = shutil.copytree(src, tmp_path / "copy")  # new paths: the workers' stat cache knows none of them
    again = _added_on_workers(st, "copy", copy, executor)
    assert sorted(_stored_blobs(st)) == sorted(blobs)  # read and hashed again, but nothing sent: the store holds it all
    assert tree_bytes(again.get_local_copy(show_progress=False)) == tree_bytes(src)
