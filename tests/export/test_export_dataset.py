"""Exports of real versions: Dataset.export, download_dataset, export jobs across processes,
snapshots, and the complaint cases from the issue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from dagstore import ConflictError, Dataset, DraftError, InvalidPathError, Store
from dagstore.export import ExportError, jobs
from dagstore.export.download import download_dataset
from export_fixtures import image_bytes, labelled
from helpers import read_tree, write_tree





def test_exporting_a_draft_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.jpg": image_bytes(8, 8)})
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    with pytest.raises(DraftError, match="draft"):
        ds.export("COCO", tmp_path / "out")
    with pytest.raises(DraftError):
        ds.create_export("COCO")
    assert not (tmp_path / "out").exists()


def test_export_to_folder_and_zip_give_the_same_bytes_every_time(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    rep = ds.export("yolo_ultralytics", tmp_path / "a.zip")
    again = Dataset.get(dataset_id=ds.id).export("YOLO_ULTRALYTICS", tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert rep.counts == {"test": 2, "train": 4} and again.to_dict() == rep.to_dict()
    ds.export("yolo_ultralytics", tmp_path / "dir")
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert {n: z.read(n) for n in z.namelist()} == read_tree(tmp_path / "dir")


def test_yolo_label_files_of_same_named_images_do_not_overwrite_each_other(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    ds.export("YOLO", tmp_path / "out")
    labels = [p for p in read_tree(tmp_path / "out") if p.endswith(".txt") and "/" in p]
    assert len(labels) == 6  # a/img0.jpg and b/img0.jpg: two label files, prefixed by their content hash


def test_coco_ids_start_at_1_and_images_without_annotations_are_kept(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    ds = labelled(tmp_path)
    ds.export("COCO", tmp_path / "out")
    gt = COCO(str(tmp_path / "out/annotations/train.json"))
    assert min(gt.getAnnIds()) == 1 and min(gt.getImgIds()) == 1 and sorted(gt.getCatIds()) == [1, 2]
    assert len(gt.dataset["images"]) == 4 and len(gt.getImgIds(catIds=[])) == 4
    assert sum(1 for i in gt.getImgIds() if not gt.getAnnIds(imgIds=[i])) == 2


def test_coco_lists_images_only_and_reports_the_files_left_out(tmp_path: Path) -> None:
    """A non-image file (no suffix, text, audio by its media) is no COCO image: pycocotools,
    Ultralytics and Detectron2 open every ``images`` entry as one. It is left out, reported."""
    from PIL import Image
    from pycocotools.coco import COCO

    write_tree(tmp_path / "src", {"train/a.jpg": image_bytes(40, 30), "train/b.png": image_bytes(20, 10, "PNG"),
                                  "train/notes": "not an image", "train/readme.txt": "text", "train/clip": b"RIFF0000WAVE"})
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat"])
    ds.set_annotation("train/a.jpg", {"media": {"kind": "image", "width": 40, "height": 30}, "regions": [{"type": "box", "label": "cat", "xywh": [1, 1, 5, 5]}]})
    ds.set_annotation("train/clip", {"media": {"kind": "audio"}, "labels": ["cat"]})
    ds.upload(show_progress=False)
    ds.finalize()
    rep = ds.export("COCO", tmp_path / "out")
    gt = COCO(str(tmp_path / "out/annotations/train.json"))
    names = sorted(img["file_name"] for img in gt.loadImgs(gt.getImgIds()))
    assert names == ["train/a.jpg", "train/b.png"] and len(gt.getAnnIds()) == 1 and rep.counts == {"train": 2}
    for name in names:
        with Image.open(tmp_path / "out/images" / name) as im:
            im.verify()
    assert sorted(os.listdir(tmp_path / "out/images/train")) == ["a.jpg", "b.png"]
    left = {s["path"]: s["reason"] for s in rep.skipped}
    assert sorted(left) == ["train/clip", "train/notes", "train/readme.txt"]
    assert all(r.startswith("not an image: COCO lists images only") for r in left.values())


@pytest.mark.parametrize(("fmt", "written"), [
    ("YOLO", ["train.txt", "train/a.jpg", "train/a.txt"]),  # readme.txt's label file was its own path: the export failed
    ("YOLO_ULTRALYTICS", ["data.yaml", "images/train/a.jpg", "labels/train/a.txt"]),
    ("VOC", ["Annotations/a.xml", "ImageSets/Main/train.txt", "JPEGImages/a.jpg", "labelmap.txt"]),
])
def test_yolo_and_voc_write_images_only_and_report_the_files_left_out(tmp_path: Path, fmt: str, written: list[str]) -> None:
    write_tree(tmp_path / "src", {"train/a.jpg": image_bytes(40, 30), "train/notes": "not an image", "train/readme.txt": "text"})
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat"])
    ds.set_annotation("train/a.jpg", {"media": {"kind": "image", "width": 40, "height": 30}, "regions": [{"type": "box", "label": "cat", "xywh": [1, 1, 5, 5]}]})
    ds.upload(show_progress=False)
    ds.finalize()
    rep = ds.export(fmt, tmp_path / "out")
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert [f for f in files if f != "export.json" and not f.endswith((".names", "config.json"))] == written
    assert rep.counts == {"train": 1} and [s["path"] for s in rep.skipped] == ["train/notes", "train/readme.txt"]
    assert rep.skipped[0]["reason"] == f"not an image: {fmt} lists images only, so it was left out (no entry, no file)"


def test_class_order_is_the_class_list_not_the_order_items_appear(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.jpg": image_bytes(8, 8)})
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["zebra", "ant", "dog"])
    ds.set_annotation("a.jpg", {"media": {"kind": "image", "width": 8, "height": 8}, "regions": [{"type": "box", "label": "dog", "xywh": [1, 1, 2, 2]}]})
    ds.upload(show_progress=False)
    ds.finalize()
    rep = ds.export("yolo_ultralytics", tmp_path / "out")
    assert rep.class_map == {"zebra": 0, "ant": 1, "dog": 2}
    assert (tmp_path / "out/labels/train/a.txt").read_text().startswith("2 ")


def test_nothing_is_dropped_silently(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    rep = ds.export("CSV", tmp_path / "out")
    assert len(rep.skipped) == sum(i % 3 for i in range(6))  # every box, listed, since CSV has no regions
    assert json.loads((tmp_path / "out/export.json").read_text())["skipped"] == rep.skipped


def test_download_dataset_native_layout_of_one_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = labelled(tmp_path)
    monkeypatch.chdir(tmp_path)
    folder = download_dataset("vision/pets", split_id="test")
    assert folder == str(tmp_path / "data") and not (tmp_path / "dataset.zip").exists()
    lines = [json.loads(x) for x in (tmp_path / "data/annotations.jsonl").read_text().splitlines()]
    assert [x["path"] for x in lines] == ["a/img2.jpg", "b/img2.jpg"]
    assert all(x["annotation"]["split"] == "test" for x in lines)
    assert json.loads((tmp_path / "data/classes.json").read_text())["classes"] == [{"name": "cat"}, {"name": "dog"}]
    assert (tmp_path / "data/a/img2.jpg").read_bytes() == (tmp_path / "pets/a/img2.jpg").read_bytes()
    st = Store.default()
    out = st.download_dataset(ds.id, ds.version, extract_to_folder=str(tmp_path / "coco"), download_file=str(tmp_path / "keep.zip"),
                              remove_download_file=False, export_format="coco")
    assert Path(out, "annotations/train.json").is_file() and zipfile.is_zipfile(tmp_path / "keep.zip")


def test_download_dataset_empty_format_is_the_default_and_a_kept_zip_does_not_block_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labelled(tmp_path)
    monkeypatch.chdir(tmp_path)
    first = download_dataset("vision/pets", split_id="test", export_format="", remove_download_file=False)  # SeeMe's own call
    assert {p.name for p in Path(first).iterdir()} == {"a", "b", "annotations.jsonl", "classes.json", "export.json"}
    second = download_dataset("vision/pets", split_id="train", extract_to_folder="other", remove_download_file=False)
    assert Path(second, "annotations.jsonl").read_text().count("\n") == 4
    with zipfile.ZipFile(tmp_path / "dataset.zip") as z:
        assert "a/img0.jpg" in z.namelist()  # the kept zip now holds the second download
    Path("mine.zip").write_bytes(b"not an earlier download")
    with pytest.raises(InvalidPathError, match="already exists"):
        download_dataset("vision/pets", extract_to_folder="third", download_file="mine.zip")
    assert Path("mine.zip").read_bytes() == b"not an earlier download" and not Path("third").exists()


def test_download_dataset_refuses_unknown_format_without_falling_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labelled(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExportError, match="unknown export format 'pascal'"):
        download_dataset("vision/pets", export_format="pascal")
    with pytest.raises(ExportError, match="nothing .* expressible in CONLL2003"):
        download_dataset("vision/pets", export_format="CONLL2003")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pets"]


def _py(code: str, env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_job_created_in_one_process_is_polled_from_another_and_downloaded_from_a_third(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    env = dict(os.environ)
    job_id = _py(f"from dagstore import Dataset; print(Dataset.get(dataset_id={ds.id!r}).create_export('coco', splits=['train']).id)", env)
    status = _py(f"from dagstore import Store; j = Store.default().get_export({job_id!r}).wait(timeout=60); print(j.status, *j.progress)", env)
    assert status == "completed 4 4"
    env["DAGSTORE_CACHE_DIR"] = str(tmp_path / "other-host-cache")
    path = _py(f"from dagstore import Store; print(Store.default().get_export({job_id!r}).download({str(tmp_path / 'job')!r}))", env)
    assert path == str(tmp_path / "job")
    assert json.loads((tmp_path / "job/export.json").read_text())["counts"] == {"train": 4}
    assert [j.id for j in Store.default().list_exports(dataset_id=ds.id)] == [job_id]
    job = Store.default().get_export(job_id)
    job.download(tmp_path / "job.zip")
    assert zipfile.is_zipfile(tmp_path / "job.zip")


def test_a_job_whose_worker_died_is_failed_and_can_be_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = labelled(tmp_path)
    real_popen = subprocess.Popen

    def stalled_worker(args, **kw):  # a worker that hangs before doing anything, then is killed
        return real_popen([sys.executable, "-c", "import time; time.sleep(120)"], **kw)

    monkeypatch.setattr(jobs.subprocess, "Popen", stalled_worker)
    job = ds.create_export("yolo")
    monkeypatch.setattr(jobs.subprocess, "Popen", real_popen)
    os.kill(jobs._children[-1].pid, signal.SIGKILL)
    jobs._children[-1].wait()
    monkeypatch.setattr(jobs, "STALE_S", 1.0)
    time.sleep(1.5)
    assert job.refresh().status == "failed" and "worker stopped" in (job.error or "")
    job.retry()
    monkeypatch.setattr(jobs, "STALE_S", 45.0)  # the new worker beats every 10 s
    assert job.wait(timeout=60).status == "completed"
    with pytest.raises(DraftError, match="only a failed job"):
        job.retry()


def test_a_failed_export_job_reports_its_error(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    job = ds.create_export("CONLL2003").wait(timeout=60)
    assert job.status == "failed" and "nothing" in job.error
    with pytest.raises(DraftError, match="failed"):
        job.download(tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_snapshots_are_stored_selections_that_always_yield_the_same_items(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    snap = ds.create_snapshot(filters={"splits": ["test"], "tasks": "annotated"})
    assert snap.name.startswith("vision-pets-at-") and snap.dataset_id == ds.id
    with pytest.raises(ConflictError):
        ds.create_snapshot(name=snap.name)
    st = Store.default()
    got = st.get_snapshot(snap.name)
    assert got == snap and [s.name for s in st.list_snapshots()] == [snap.name]
    a = got.export("COCO", tmp_path / "a.zip")
    b = snap.export("COCO", tmp_path / "b.zip")
    assert a.counts == b.counts == {"test": 2} and (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert snap.create_export("coco").wait(timeout=60).report["counts"] == {"test": 2}


def test_an_annotation_change_is_a_new_version_that_exports_differently(tmp_path: Path) -> None:
    ds = labelled(tmp_path)
    child = Dataset.create("pets", "vision", parent_datasets=[ds.id])
    child.set_annotation("a/img0.jpg", {"split": "test", "media": {"kind": "image", "width": 40, "height": 30}})
    child.upload(show_progress=False)
    child.finalize()
    assert child.export("coco", tmp_path / "c").counts == {"test": 3, "train": 3}
    assert ds.export("coco", tmp_path / "p").counts == {"test": 2, "train": 4}


def test_an_unsafe_label_for_folders_changes_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.jpg": image_bytes(8, 8)})
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["../up"])
    ds.set_annotation("a.jpg", {"labels": ["../up"]})
    ds.upload(show_progress=False)
    ds.finalize()
    with pytest.raises(ExportError, match="cannot be used as a folder name"):
        ds.export("FOLDERS", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"] or not (tmp_path / "out").exists()
    with pytest.raises(InvalidPathError):
        ds.export("COCO", tmp_path / "src")


def test_export_to_an_object_store_and_a_job_in_a_store_on_s3(tmp_path: Path, s3_server) -> None:
    import fsspec

    root = s3_server.new_root()
    st = Store(root, storage_options=dict(s3_server.storage_options), cache_dir=str(tmp_path / "cache"))
    write_tree(tmp_path / "src", {"train/a.jpg": image_bytes(20, 10)})
    ds = Dataset.create("d", "s3", store=st)
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["x"])
    ds.set_annotation("train/a.jpg", {"split": "train", "media": {"kind": "image", "width": 20, "height": 10},
                                      "regions": [{"type": "box", "label": "x", "xywh": [1, 1, 4, 4]}]})
    ds.upload(show_progress=False)
    ds.finalize()
    target = f"{root}/exports-out/yolo"
    rep = ds.export("YOLO_ULTRALYTICS", target, storage_options=dict(s3_server.storage_options))
    fs, path = fsspec.core.url_to_fs(target, **s3_server.storage_options)
    assert fs.exists(f"{path}/_SUCCESS") and fs.cat_file(f"{path}/labels/train/a.txt").startswith(b"0 ")
    assert rep.path == target and "secret" not in json.dumps(rep.to_dict()).lower()
    job = ds.create_export("coco").wait(timeout=120)
    assert job.status == "completed", job.error
    record = st.backend.read(f"exports/{job.id}.json").decode()
    assert s3_server.storage_options.get("secret", "@@") not in record
    assert Path(job.download(tmp_path / "coco.zip")).is_file()
