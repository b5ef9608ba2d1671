"""Exports fanned out over a real LocalCluster: the same bytes as a single-process export."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset
from dagstore.core import fanout
from dagstore.export import ExportError
from export_fixtures import image_bytes, labelled
from helpers import write_tree
from scale_trees import tree_bytes

pytestmark = pytest.mark.usefixtures("small_slices")


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "TASK_FILES", 5)  # 22 items: 5 slices


@pytest.fixture
def pets(tmp_path: Path) -> Dataset:
    return labelled(tmp_path, n=22)


@pytest.mark.parametrize("fmt", ["COCO", "YOLO", "YOLO_ULTRALYTICS", "VOC", "IMAGEFOLDER"])
def test_folder_export_on_workers_has_the_bytes_of_one_process(pets: Dataset, tmp_path: Path, executor: Any, fmt: str) -> None:
    one = pets.export(fmt, tmp_path / "one")
    many = pets.export(fmt, tmp_path / "many", executor=executor)
    assert many.counts == one.counts and many.skipped == one.skipped
    got, want = tree_bytes(tmp_path / "many"), tree_bytes(tmp_path / "one")
    assert sorted(got) == sorted(want)
    assert got == want
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]  # the parts' folders are gone


@pytest.mark.parametrize("fmt", ["COCO", "YOLO"])
def test_zip_export_on_workers_is_assembled_with_the_bytes_of_one_process(pets: Dataset, tmp_path: Path, executor: Any, fmt: str) -> None:
    pets.export(fmt, tmp_path / "one.zip")
    pets.export(fmt, tmp_path / "many.zip", executor=executor)
    assert (tmp_path / "many.zip").read_bytes() == (tmp_path / "one.zip").read_bytes()


def test_coco_ids_are_offset_at_the_merge(pets: Dataset, tmp_path: Path, executor: Any) -> None:
    import json

    pets.export("COCO", tmp_path / "many", executor=executor)
    doc = json.loads((tmp_path / "many" / "annotations" / "train.json").read_text())
    ids = [im["id"] for im in doc["images"]]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 5  # several slices, one id sequence
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    assert {a["image_id"] for a in doc["annotations"]} <= set(ids)


def test_a_failing_part_leaves_no_export_and_no_parts(pets: Dataset, tmp_path: Path, executor: Any) -> None:
    with pytest.raises(ExportError, match="obb=True and segments=True cannot be combined"):
        pets.export("YOLO_ULTRALYTICS", tmp_path / "out", executor=executor, obb=True, segments=True)
    assert os.listdir(tmp_path) == ["pets"]  # neither the target nor a staging or part folder


@pytest.mark.parametrize("fmt", ["COCO", "YOLO"])
def test_a_filtered_export_on_workers_has_the_bytes_of_one_process(pets: Dataset, tmp_path: Path, executor: Any, fmt: str) -> None:
    one = pets.export(fmt, tmp_path / "one", splits=["train", "test"], filters={"labels": ["cat"]})
    many = pets.export(fmt, tmp_path / "many", splits=["train", "test"], filters={"labels": ["cat"]}, executor=executor)
    assert many.counts == one.counts == {"train": 7, "test": 7}  # 14 of 22 items have a cat box: the driver walks once
    assert tree_bytes(tmp_path / "many") == tree_bytes(tmp_path / "one")


def test_a_part_is_given_its_paths_and_reads_no_other_item(pets: Dataset, tmp_path: Path) -> None:
    from dagstore.core.store import Store as CoreStore
    from dagstore.export.source import slice_view

    st = CoreStore(pets.store.url)
    paths = sorted(pets.list_files())[7:12]
    view, items = slice_view(st, pets.id, paths)
    got = list(items())
    assert [it.path for it in got] == paths
    assert got[0].annotation == pets.get_annotation(paths[0]) and got[0].size == len(pets.read_bytes(paths[0]))
    assert len(list(view.items())) == 22  # a format's first pass still sees every item
    again, _ = slice_view(st, pets.id, paths[:1])
    assert again.entries is view.entries  # the version is opened once per worker process


@pytest.mark.parametrize("fmt", ["COCO", "VOC"])
def test_sizes_read_from_headers_on_workers_match_one_process(tmp_path: Path, executor: Any, fmt: str) -> None:
    """Unannotated images (no size in the version), media left out: each worker reads the
    headers of its slice in place, and the export has the bytes and report of one process."""
    files = {f"i{k:02d}.jpg": image_bytes(10 + k, 20 - k) for k in range(11)}
    write_tree(tmp_path / "src", {**files, "bad.jpg": b"not an image"})
    ds = Dataset.create("unsized", "vision")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    one = ds.export(fmt, tmp_path / "one", include_media=False)
    many = ds.export(fmt, tmp_path / "many", include_media=False, executor=executor)
    assert many.counts == one.counts and many.skipped == one.skipped
    assert [s["path"] for s in one.skipped] == ["bad.jpg"]
    assert tree_bytes(tmp_path / "many") == tree_bytes(tmp_path / "one")
    text = tree_bytes(tmp_path / "one")["annotations/train.json" if fmt == "COCO" else "Annotations/i10.xml"].decode()
    assert ('"width":20,"height":10' if fmt == "COCO" else "<width>20</width>\n    <height>10</height>") in text
