"""Export targets: atomic folders and zips, fsspec URLs with _SUCCESS last, the report, filters."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from dagstore.errors import InvalidPathError, StorageError
from dagstore.export import ExportError, export_view
from export_fixtures import classification_view, detection_view, image_bytes, img_ann, make_view
from helpers import read_tree


@pytest.fixture
def det(tmp_path: Path):
    return detection_view(tmp_path / "src")


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != "src")


def test_export_json_is_deterministic_and_complete(det, tmp_path: Path) -> None:
    rep = export_view(det, "yolo_ultralytics", tmp_path / "a")
    saved = json.loads((tmp_path / "a/export.json").read_text())
    assert saved == rep.to_dict()
    assert saved["version_id"] == det.version_id and saved["format"] == "YOLO_ULTRALYTICS"
    assert saved["classes"] == {"cat": 0, "dog": 1, "bird": 2}
    assert saved["counts"] == {"train": 3, "valid": 2}
    assert saved["options"] == {"default_split": "train", "obb": False, "segments": False, "include_media": True}
    assert {"path": "imgs/a.jpg", "region": "r3", "reason": "keypoints regions are not expressible in YOLO_ULTRALYTICS"} in saved["skipped"]
    text = (tmp_path / "a/export.json").read_text()
    assert str(tmp_path) not in text and "created" not in text


def test_media_are_hardlinked_from_the_local_copy(det, tmp_path: Path) -> None:
    export_view(det, "coco", tmp_path / "out")
    src = tmp_path / "src/val/b.png"
    dst = tmp_path / "out/images/valid/val/b.png"
    assert os.stat(src).st_ino == os.stat(dst).st_ino


def test_include_media_false_writes_annotations_only(det, tmp_path: Path) -> None:
    export_view(det, "coco", tmp_path / "out", include_media=False)
    assert not (tmp_path / "out/images").exists()
    assert (tmp_path / "out/annotations/train.json").is_file()


def test_zip_output_is_a_valid_archive_with_stored_media(det, tmp_path: Path) -> None:
    rep = export_view(det, "coco", tmp_path / "x.zip")
    assert rep.path == str(tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "x.zip") as z:
        assert z.testzip() is None
        names = z.namelist()
        assert names[-1] == "export.json"
        assert z.getinfo("images/valid/val/b.png").compress_type == zipfile.ZIP_STORED
        assert z.getinfo("annotations/train.json").compress_type == zipfile.ZIP_DEFLATED
    assert _leftovers(tmp_path) == ["x.zip"]


@pytest.mark.parametrize("target", ["out", "out.zip"])
def test_an_existing_target_is_refused_unless_overwrite(det, tmp_path: Path, target: str) -> None:
    t = tmp_path / target
    if target.endswith(".zip"):
        t.write_bytes(b"old")
    else:
        t.mkdir()
        (t / "keep.txt").write_text("old")
    with pytest.raises(InvalidPathError, match="already exists"):
        export_view(det, "yolo", t)
    assert (t.read_bytes() == b"old") if t.is_file() else (t / "keep.txt").read_text() == "old"
    assert _leftovers(tmp_path) == [target]
    export_view(det, "yolo", t, overwrite=True)
    assert not (t / "keep.txt").exists() if t.is_dir() else zipfile.is_zipfile(t)
    assert _leftovers(tmp_path) == [target]


def test_an_empty_existing_folder_is_filled(det, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    export_view(det, "yolo", tmp_path / "out")
    assert (tmp_path / "out/export.json").is_file()


def test_an_empty_selection_is_an_error_not_an_empty_zip(det, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="empty"):
        export_view(det, "coco", tmp_path / "x.zip", splits=["nope"])
    assert _leftovers(tmp_path) == []


def test_a_failure_half_way_leaves_nothing_visible(det, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagstore.export.formats import coco

    calls = {"n": 0}
    real = coco.item_annotations

    def boom(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(coco, "item_annotations", boom)
    for target in ("out", "out.zip"):
        calls["n"] = 0
        with pytest.raises(OSError, match="disk full"):
            export_view(det, "coco", tmp_path / target)
    assert _leftovers(tmp_path) == []


def test_unknown_format_and_option_are_clear_errors(det, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'yolo9'.*COCO"):
        export_view(det, "yolo9", tmp_path / "out")
    with pytest.raises(ExportError, match="takes no option 'obb'"):
        export_view(det, "coco", tmp_path / "out", obb=True)
    with pytest.raises(ExportError, match="unknown filter"):
        export_view(det, "coco", tmp_path / "out", filters={"split": ["train"]})
    assert _leftovers(tmp_path) == []


def test_format_that_cannot_express_anything_is_refused(tmp_path: Path) -> None:
    view = make_view(tmp_path / "src", {"a.jpg": (image_bytes(8, 8), img_ann(8, 8))}, ["x"])
    with pytest.raises(ExportError, match="nothing of version .* is expressible in ASR_MANIFEST"):
        export_view(view, "asr_manifest", tmp_path / "out.zip")
    assert _leftovers(tmp_path) == []


def test_boxes_without_image_sizes_are_reported(tmp_path: Path) -> None:
    files = {"a.jpg": (image_bytes(8, 8), {"regions": [{"id": "r", "type": "box", "label": "x", "xywh": [1, 1, 2, 2]}]})}
    view = make_view(tmp_path / "src", files, ["x"])
    rep = export_view(view, "yolo_ultralytics", tmp_path / "out")
    assert rep.skipped == [{"path": "a.jpg", "region": "r", "reason": "boxes without image size (media.width/height) cannot be normalized"}]


class FlakyMemoryFS(MemoryFileSystem):
    """A real in-memory fsspec filesystem whose writes start failing after a budget."""

    protocol = "flakymem"
    store: dict[str, Any] = {}
    pseudo_dirs = [""]
    budget = 10**9

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return super()._strip_protocol(path.replace("flakymem://", "memory://", 1))

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        if FlakyMemoryFS.budget <= 0:
            raise ConnectionError("connection reset by peer")
        FlakyMemoryFS.budget -= 1
        super().pipe_file(path, value, **kwargs)

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        with open(lpath, "rb") as f:
            self.pipe_file(rpath, f.read())


@pytest.fixture
def flaky():
    fsspec.register_implementation("flakymem", FlakyMemoryFS, clobber=True)
    fs = FlakyMemoryFS()
    fs.store.clear()
    FlakyMemoryFS.budget = 10**9
    yield fs
    fs.store.clear()


def test_fsspec_target_gets_success_marker_last(det, flaky: FlakyMemoryFS) -> None:
    order: list[str] = []
    real = FlakyMemoryFS.pipe_file

    def spy(self: Any, path: str, value: bytes, **kw: Any) -> None:
        order.append(path.rsplit("/", 1)[-1])
        real(self, path, value, **kw)

    FlakyMemoryFS.pipe_file = spy  # type: ignore[method-assign]
    try:
        rep = export_view(det, "yolo", "flakymem://bucket/exp")
    finally:
        FlakyMemoryFS.pipe_file = real  # type: ignore[method-assign]
    assert order[-1] == "_SUCCESS" and order[-2] == "export.json"
    assert rep.path == "flakymem://bucket/exp"
    assert json.loads(flaky.cat_file("/bucket/exp/export.json"))["format"] == "YOLO"


def test_fsspec_target_failing_half_way_leaves_no_success_and_no_files(det, flaky: FlakyMemoryFS) -> None:
    FlakyMemoryFS.budget = 4
    with pytest.raises(StorageError, match="flakymem://bucket/exp.*ConnectionError"):
        export_view(det, "yolo", "flakymem://bucket/exp")
    assert not flaky.exists("/bucket/exp/_SUCCESS")
    assert [p for p in flaky.store if p.startswith("/bucket/exp/")] == []


def test_fsspec_existing_target_is_refused(det, flaky: FlakyMemoryFS) -> None:
    flaky.pipe_file("/bucket/exp/old.txt", b"x")
    with pytest.raises(InvalidPathError, match="already exists"):
        export_view(det, "yolo", "flakymem://bucket/exp")
    assert flaky.cat_file("/bucket/exp/old.txt") == b"x"
    export_view(det, "yolo", "flakymem://bucket/exp", overwrite=True)
    assert not flaky.exists("/bucket/exp/old.txt") and flaky.exists("/bucket/exp/_SUCCESS")


def test_filters_select_by_split_label_wildcard_and_annotated(det, tmp_path: Path) -> None:
    assert export_view(det, "coco", tmp_path / "a", splits=["valid"]).counts == {"valid": 2}
    assert export_view(det, "coco", tmp_path / "b", filters={"labels": ["bird"]}).counts == {"valid": 1}
    assert export_view(det, "coco", tmp_path / "c", filters={"wildcard": ["*.png"]}).counts == {"valid": 1}
    assert export_view(det, "coco", tmp_path / "d", filters={"wildcard": ["imgs/*"]}).counts == {"train": 1}
    assert export_view(det, "coco", tmp_path / "e", filters={"tasks": "annotated", "splits": ["valid"]}).counts == {"valid": 1}
    view = classification_view(tmp_path / "cls")
    assert export_view(view, "csv", tmp_path / "f", filters={"tasks": "annotated"}).counts == {"test": 1, "train": 2}


def test_filters_on_alternatives_and_user_details(tmp_path: Path) -> None:
    ann = {"labels": ["a"], "source": {"tool": "label-studio", "annotator": "u7", "annotation_id": 3, "reviewed": True},
           "alternatives": [
               {"kind": "prediction", "labels": ["b"], "score": 0.5, "source": {"annotation_id": 9, "model_version": "m1"}},
               {"kind": "annotation", "labels": ["b"], "cancelled": True, "source": {"annotation_id": 4, "annotator": "u8"}},
               {"kind": "draft", "labels": ["a"], "source": {"annotation_id": 5}}]}
    files = {"t.txt": (b"hello", ann), "u.txt": (b"bye", {"labels": ["b"]})}
    view = make_view(tmp_path / "src", files, ["a", "b"])
    rep = export_view(view, "JSON", tmp_path / "full")
    task = json.loads((tmp_path / "full/tasks.json").read_text())[0]
    assert [len(task[k]) for k in ("annotations", "predictions", "drafts")] == [1, 1, 1]
    assert task["annotations"][0]["completed_by"] == "u7"
    export_view(view, "JSON", tmp_path / "min", filters={"predictions": "none", "drafts": "ids", "annotations": ["annotations", "skipped"], "remove_user_details": True})
    task = json.loads((tmp_path / "min/tasks.json").read_text())[0]
    assert [len(task[k]) for k in ("annotations", "predictions", "drafts")] == [2, 0, 1]
    assert task["drafts"][0]["result"] == []
    assert "u7" not in (tmp_path / "min/tasks.json").read_text() and "u8" not in (tmp_path / "min/tasks.json").read_text()
    assert export_view(view, "csv", tmp_path / "rev", filters={"tasks": "reviewed"}).counts == {"train": 1}
    assert rep.filters["predictions"] == "full"


def _many_images(root: Path, n: int) -> Any:
    """``n`` tiny images with a box each, 80/20 train/val (past the file writer's threshold)."""
    files = {f"{'val' if i % 5 == 0 else 'train'}/{i:05d}.jpg": (b"\xff\xd8" + i.to_bytes(4, "big"), img_ann(
        64, 48, split="val" if i % 5 == 0 else "train", regions=[{"id": "r", "type": "box", "label": "cat" if i % 2 else "dog",
                                                                  "xywh": [1.5, 2.0, 10.0 + i % 7, 12.25]}])) for i in range(n)}
    return make_view(root, files, ["cat", "dog"])


@pytest.mark.parametrize("fmt", ["yolo_ultralytics", "yolo", "coco"])
def test_a_large_folder_export_holds_the_bytes_of_the_zip_export(tmp_path: Path, fmt: str) -> None:
    view = _many_images(tmp_path / "src", 1500)  # a folder's files made by the helper process, a zip's here
    export_view(view, fmt, tmp_path / "out")
    export_view(view, fmt, tmp_path / "out.zip")
    folder = read_tree(tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "out.zip") as z:
        zipped = {n: z.read(n) for n in z.namelist()}
    assert len(folder) == len(zipped) > 1500
    assert {n: d for n, d in folder.items() if n != "export.json"} == {n: d for n, d in zipped.items() if n != "export.json"}
    media = next(n for n in folder if n.endswith("00007.jpg"))
    assert os.stat(tmp_path / "out" / media).st_ino == os.stat(tmp_path / "src/train/00007.jpg").st_ino
    assert _leftovers(tmp_path) == ["out", "out.zip"]


def test_a_media_file_missing_at_link_time_fails_the_export_and_leaves_nothing(tmp_path: Path) -> None:
    view = _many_images(tmp_path / "src", 1500)
    view.entries = {p: ("0" * 32, 6) for p, _ann in view.annotations()}  # content known: files are not read before linking
    os.unlink(tmp_path / "src/train/01401.jpg")
    with pytest.raises(FileNotFoundError) as exc:
        export_view(view, "yolo_ultralytics", tmp_path / "out")
    assert exc.value.filename == str(tmp_path / "src/train/01401.jpg")
    assert _leftovers(tmp_path) == []
