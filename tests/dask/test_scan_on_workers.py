"""A folder added on a real LocalCluster: the workers scan their own sub-trees and return
tables; the version is the one a single process makes, and bad input changes nothing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core import fanscan
from dagstore.errors import InvalidPathError
from scale_trees import make_tree


def _made(tmp_path: Path, name: str, executor: Any, src: Path, parent: Dataset | None = None, **kw: Any) -> tuple[Dataset, int]:
    st = Store(str(tmp_path / f"{name}-store"), cache_dir=str(tmp_path / f"{name}-cache"))
    ds = Dataset.create("data", "scan", store=st)
    n = ds.add_files(src, show_progress=False, executor=executor, **kw)
    if executor is None:
        ds.upload(show_progress=False)
    ds.finalize()
    return ds, n


@pytest.mark.parametrize("kw", [
    {},
    {"wildcard": "*1.bin"},
    {"wildcard": ["d1/*", "f0002.bin"]},
    {"dataset_path": "under/here"},
    {"recursive": False},
], ids=["all", "wildcard", "wildcards-on-paths", "dataset-path", "not-recursive"])
def test_options_give_the_version_one_process_makes(tmp_path: Path, executor: Any, kw: dict[str, Any]) -> None:
    src = make_tree(tmp_path / "src", n=90)
    (src / "top.txt").write_bytes(b"at the top")
    ref, n_ref = _made(tmp_path, "one", None, src, **kw)
    got, n = _made(tmp_path, "many", executor, src, **kw)
    assert n == n_ref and got.record.manifest == ref.record.manifest and got.record.stats == ref.record.stats


def test_a_sub_folder_with_local_base_folder_keeps_its_relative_paths(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src", n=60, large=False)
    ref, _ = _made(tmp_path, "one", None, src / "d1", local_base_folder=src, wildcard="d1/e2/*")
    got, _ = _made(tmp_path, "many", executor, src / "d1", local_base_folder=src, wildcard="d1/e2/*")
    assert got.record.manifest == ref.record.manifest
    assert got.list_files() and all(p.startswith("d1/e2/") for p in got.list_files())
    with pytest.raises(InvalidPathError, match="is not inside local_base_folder"):
        Dataset.create("x", "scan", store=Store(str(tmp_path / "s3"))).add_files(src, local_base_folder=src / "d1", executor=executor)


def test_a_flat_folder_is_split_into_units_of_file_names(tmp_path: Path, executor: Any) -> None:
    src = tmp_path / "flat"
    src.mkdir()
    for i in range(130):
        (src / f"f{i:03d}.txt").write_text(f"file {i}\n" * (i % 7 + 1))
    units = fanscan.plan(str(src), "", True, 8)
    assert [len(u[2] or ()) for u in units] == [40, 40, 40, 10]  # TASK_FILES = 40 names a unit, never stat-ed by the driver
    ref, _ = _made(tmp_path, "one", None, src)
    got, _ = _made(tmp_path, "many", executor, src)
    assert got.record.manifest == ref.record.manifest
    assert len(got.record.packs) == 4  # one pack per unit


def test_folders_are_listed_breadth_first_until_each_worker_has_a_few_units(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", n=30)  # big.bin at the top, d0..d4, each with e0..e2
    assert [(u[1], u[2]) for u in fanscan.plan(str(src), "", True, 4)] == [("", ("big.bin",))] + [(f"d{i}/", None) for i in range(5)]
    deeper = fanscan.plan(str(src), "", True, 8)
    assert len(deeper) == 16 and all(u[2] is None for u in deeper[1:]) and deeper[1][1] == "d0/e0/"


def _unchanged(ds: Dataset) -> None:
    again = Dataset.get(ds.id, store=ds.store)
    assert again.list_files() == ["keep.txt"] and not again.is_dirty()


@pytest.fixture
def draft(tmp_path: Path) -> Dataset:
    ds = Dataset.create("data", "bad", store=Store(str(tmp_path / "store")))
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "keep.txt").write_text("kept")
    ds.add_files(keep, show_progress=False)
    ds.upload(show_progress=False)
    return ds


def test_a_symbolic_link_loop_is_refused_and_nothing_changes(tmp_path: Path, executor: Any, draft: Dataset) -> None:
    src = make_tree(tmp_path / "src", n=20, large=False)
    os.symlink(src, src / "d0" / "e0" / "back")
    with pytest.raises(InvalidPathError, match="symbolic link loop"):
        draft.add_files(src, show_progress=False, executor=executor)
    _unchanged(draft)


def test_a_special_file_is_refused_and_nothing_changes(tmp_path: Path, executor: Any, draft: Dataset) -> None:
    src = make_tree(tmp_path / "src", n=20, large=False)
    os.mkfifo(src / "d2" / "e1" / "pipe")
    with pytest.raises(InvalidPathError, match="special file"):
        draft.add_files(src, show_progress=False, executor=executor)
    _unchanged(draft)


def test_a_broken_link_among_a_folders_files_is_refused(tmp_path: Path, executor: Any, draft: Dataset) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    os.symlink(tmp_path / "nowhere", src / "b.txt")
    with pytest.raises(InvalidPathError, match="broken symbolic link"):
        draft.add_files(src, show_progress=False, executor=executor)
    _unchanged(draft)


def test_a_file_where_the_parent_has_a_folder_is_refused_and_nothing_changes(tmp_path: Path, executor: Any) -> None:
    st = Store(str(tmp_path / "store"))
    parent = Dataset.create("data", "fit", store=st)
    a = tmp_path / "a"
    (a / "x").mkdir(parents=True)
    (a / "x" / "y.txt").write_text("y")
    parent.add_files(a, show_progress=False, executor=executor)
    parent.finalize()
    b = tmp_path / "b"
    b.mkdir()
    (b / "x").write_text("a file named like the parent's folder")
    child = Dataset.create("data", "fit", parent_datasets=[parent.id], store=st)
    with pytest.raises(InvalidPathError, match="both a file and a folder"):
        child.add_files(b, show_progress=False, executor=executor)
    assert Dataset.get(child.id, store=st).list_files() == ["x/y.txt"]


def test_a_child_keeps_annotations_and_counts_only_changes(tmp_path: Path, executor: Any) -> None:
    src = make_tree(tmp_path / "src", n=50, large=False, dupes=False)
    st = Store(str(tmp_path / "store"))
    parent = Dataset.create("data", "child", store=st)
    parent.add_files(src, show_progress=False, executor=executor)
    parent.set_annotation("d0/e0/f0000.bin", {"split": "val"})
    parent.finalize()
    (src / "d0" / "e0" / "f0000.bin").write_bytes(b"new bytes")
    (src / "new.txt").write_text("new")
    child = Dataset.create("data", "child", parent_datasets=[parent.id], store=st)
    assert child.add_files(src, show_progress=False, executor=executor) == 2  # one modified, one added
    child.finalize()
    assert child.list_modified_files() == ["d0/e0/f0000.bin"] and child.list_added_files() == ["new.txt"]
    assert child.get_annotation("d0/e0/f0000.bin") == {"split": "val"}  # a file added again keeps its annotation
    assert child.read_bytes("d0/e0/f0000.bin") == b"new bytes"
