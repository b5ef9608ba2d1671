"""Annotations on Dataset: set/get/iter, splits, the class list along the DAG, annotation-only
children, import_annotations into a draft, and that every change path keeps them."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest

from dagstore import Dataset, FormatError, InvalidPathError, Store
from dagstore.annotations import AnnotationError, ClassListError, ImportSourceError
from helpers import read_tree
from annotation_helpers import coco_set, image

BOX = {"media": {"kind": "image", "width": 64, "height": 48}, "regions": [{"id": "r1", "type": "box", "label": "cat", "xywh": [1, 2, 10, 5]}]}


def imported(tmp_path: Path, name: str = "pets", n: int = 4) -> Dataset:
    ds = Dataset.create(name, "vision")
    ds.import_annotations(coco_set(tmp_path / f"coco-{name}", n=n), "coco", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_set_get_and_remove_an_annotation(tmp_path):
    image(tmp_path / "src/a.jpg")
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat", "dog"])
    ds.set_annotation("a.jpg", {**BOX, "split": "train", "custom": 1})
    assert ds.get_annotation("a.jpg")["custom"] == 1
    again = Dataset.get(dataset_id=ds.id)  # persisted in the draft, across processes
    assert again.get_annotation("a.jpg")["regions"][0]["label"] == "cat"
    again.set_annotation("a.jpg", None)
    assert again.get_annotation("a.jpg") is None
    with pytest.raises(InvalidPathError, match="no such file"):
        again.set_annotation("missing.jpg", {"labels": ["cat"]})


def test_invalid_annotation_changes_nothing(tmp_path):
    image(tmp_path / "src/a.jpg")
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat"])
    ds.set_annotation("a.jpg", BOX)
    bad = {**BOX, "regions": [{"type": "box", "label": "cow", "xywh": [1, 2, 10, 5]}]}
    with pytest.raises(AnnotationError, match=r"a.jpg: regions\[0\].label: class 'cow'"):
        ds.set_annotation("a.jpg", bad)
    assert ds.get_annotation("a.jpg") == BOX
    assert Dataset.get(dataset_id=ds.id).get_annotation("a.jpg") == BOX


def test_iter_annotations_filters_in_path_order(tmp_path):
    for n in ("b.jpg", "a.jpg", "c.jpg", "d/e.jpg"):
        image(tmp_path / "src" / n)
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat", "dog"])
    ds.set_annotation("b.jpg", {**BOX, "split": "train"})
    ds.set_annotation("a.jpg", {"labels": ["dog"], "split": "valid"})
    ds.set_annotation("d/e.jpg", {"labels": ["cat"], "split": "train"})
    assert [p for p, _ in ds.iter_annotations()] == ["a.jpg", "b.jpg", "d/e.jpg"]
    assert [p for p, _ in ds.iter_annotations(split="train")] == ["b.jpg", "d/e.jpg"]
    assert [p for p, _ in ds.iter_annotations(labels=["cat"])] == ["b.jpg", "d/e.jpg"]  # region label and item label
    assert [p for p, _ in ds.iter_annotations(wildcard="d/*")] == ["d/e.jpg"]
    assert list(ds.iter_annotations(include_unannotated=True))[2] == ("c.jpg", {})


def test_set_split_counts_changes(tmp_path):
    for n in ("x/1.jpg", "x/2.jpg", "y/3.jpg"):
        image(tmp_path / "src" / n)
    ds = Dataset.create("d", "p")
    ds.add_files(tmp_path / "src", show_progress=False)
    assert ds.set_split("train") == 3
    assert ds.set_split("test", dataset_path="x", wildcard="*2.jpg") == 1
    assert ds.set_split("train") == 1
    assert {p: a["split"] for p, a in ds.iter_annotations()} == {"x/1.jpg": "train", "x/2.jpg": "train", "y/3.jpg": "train"}
    with pytest.raises(AnnotationError, match="split"):
        ds.set_split("a/b")
    ds.set_split("test", wildcard="y/*")
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.splits == ["train", "test"]


def test_annotation_only_child_uploads_nothing_and_diff_says_so(tmp_path):
    parent = imported(tmp_path)
    child = Dataset.create("pets", "vision", parent_datasets=[parent])
    ann = child.get_annotation("train/img0.jpg")
    ann["regions"][0]["label"] = "dog"
    child.set_annotation("train/img0.jpg", ann)
    child.upload(show_progress=False)
    child.finalize()
    assert child.record.packs == () and child.record.objects == ()
    assert child.list_modified_files() == ["train/img0.jpg"]
    d = child.diff(parent)
    assert d.modified == ["train/img0.jpg"] and d.annotation_only == ["train/img0.jpg"]
    assert parent.get_annotation("train/img0.jpg")["regions"][0]["label"] == "cat"
    assert Dataset.get(dataset_id=child.id).get_annotation("train/img0.jpg")["regions"][0]["label"] == "dog"
    assert read_tree(child.get_local_copy(show_progress=False)) == read_tree(parent.get_local_copy(show_progress=False))


def test_class_list_is_inherited_and_merged_along_the_dag(tmp_path):
    a = imported(tmp_path, "a")  # classes cat, dog (COCO ids 1, 3)
    assert a.classes == ["cat", "dog"]
    b = Dataset.create("b", "vision", parent_datasets=[a])
    b.add_classes(["cow"], colors={"cow": "#AA0000"})
    b.upload(show_progress=False)
    b.finalize()
    child = Dataset.create("c", "vision", parent_datasets=[a, b])
    assert child.classes == ["cat", "dog", "cow"] and child.class_colors["cow"] == "#aa0000"
    other = Dataset.create("o", "vision")
    other.add_classes(["dog", "cat"])
    other.finalize()
    drafts = len(a.store.drafts())
    with pytest.raises(ClassListError, match="disagree"):
        Dataset.create("m", "vision", parent_datasets=[a, other])
    assert len(a.store.drafts()) == drafts  # refused before any draft was written
    m = Dataset.create("m", "vision", parent_datasets=[a, other], classes=["dog", "cat", "bird"])
    assert m.classes == ["dog", "cat", "bird"]
    with pytest.raises(ClassListError, match="append-only"):
        Dataset.create("m", "vision", parent_datasets=[a, other], classes=["dog"])


def test_annotations_survive_merge_squash_and_sync(tmp_path):
    parent = imported(tmp_path)
    child = Dataset.create("pets", "vision", parent_datasets=[parent])
    child.set_split("test", wildcard="*img1.jpg")
    child.finalize()
    flat = Dataset.squash("flat", dataset_ids=[parent, child])
    assert flat.get_annotation("train/img1.jpg")["split"] == "test"
    assert flat.get_annotation("train/img0.jpg")["regions"][0]["label"] == "cat"
    assert flat.classes == ["cat", "dog"]
    # sync of an unchanged folder keeps every annotation
    copy = parent.get_mutable_local_copy(tmp_path / "copy")
    synced = Dataset.create("pets", "vision", parent_datasets=[child])
    assert synced.sync_folder(copy) == (0, 0, 0)
    assert synced.get_annotation("train/img1.jpg")["split"] == "test"


def test_a_version_with_annotations_is_columnar_and_refused_by_an_older_reader(tmp_path, monkeypatch):
    import zstandard

    from dagstore.core import columns, records

    ds = imported(tmp_path)
    raw = ds.store.backend.read(ds.record.manifest)
    table = columns.read_manifest(raw, "manifest")
    assert zstandard.ZstdDecompressor().decompress(raw)[:6] == b"ARROW1"
    assert table["annotation"].null_count < table.num_rows and "split" in table.column_names
    monkeypatch.setattr(records, "RECORD_FORMAT", 1)  # the release before format 3
    with pytest.raises(FormatError, match="newer than this dagstore"):
        Dataset.get(dataset_id=ds.id, store=Store(ds.store.url))
    monkeypatch.setattr(columns, "COLUMNAR_FORMAT", 2)
    with pytest.raises(FormatError, match="manifest format 3 is newer"):
        columns.read_manifest(raw, "manifest")


def test_dagstore_fs_info_shows_the_annotation(tmp_path):
    ds = imported(tmp_path)
    fs = fsspec.filesystem("dagstore", store=ds.store)
    info = fs.info(f"{ds.id}/train/img1.jpg")
    assert info["annotation"]["regions"][0]["label"] == "dog"
    assert "annotation" not in fs.info(f"{ds.id}/train") or fs.info(f"{ds.id}/train")["annotation"] is None


def test_import_report_and_content(tmp_path):
    ds = Dataset.create("pets", "vision")
    report = ds.import_annotations(coco_set(tmp_path / "c", n=3), "coco", dataset_path="coco", show_progress=False)
    assert report.to_dict() == {"format": "coco", "counts": {"train": 3}, "skipped": [], "classes_added": ["cat", "dog"], "files_added": 3}
    assert ds.list_files() == ["coco/train/img0.jpg", "coco/train/img1.jpg", "coco/train/img2.jpg"]
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.classes == ["cat", "dog"]
    assert read_tree(ds.get_local_copy(show_progress=False))["coco/train/img1.jpg"] == (tmp_path / "c/images/train/img1.jpg").read_bytes()


def test_failed_import_leaves_the_draft_unchanged(tmp_path):
    root = coco_set(tmp_path / "c", n=3)
    js = root / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["annotations"][2]["bbox"] = [60, 40, 30, 30]
    js.write_text(json.dumps(doc))
    ds = Dataset.create("pets", "vision")
    with pytest.raises(AnnotationError, match="outside"):
        ds.import_annotations(root, "coco", show_progress=False)
    (root / "annotations/instances_train.json").write_text("{not json")
    with pytest.raises(ImportSourceError):
        ds.import_annotations(root, "coco", show_progress=False)
    for d in (ds, Dataset.get(dataset_id=ds.id)):
        assert d.list_files() == [] and d.classes == []
    js.write_text(json.dumps(doc))
    report = ds.import_annotations(root, "coco", on_error="skip", show_progress=False)
    assert report.counts == {"train": 2} and report.skipped[0]["path"] == "instances_train.json: img2.jpg"


def test_import_text_items_from_a_zip(tmp_path):
    import zipfile

    z = tmp_path / "ner.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ner/train.json", json.dumps([{"id": 1, "name": "t1.txt", "text": "Zoë 😀 in 東京", "annotations": [{"start": 9, "end": 11, "label": "LOC"}]}]))
    ds = Dataset.create("ner", "text")
    ds.import_annotations(z, "spacy_ner", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    ann = ds.get_annotation("t1.txt")
    text = ds.read_bytes("t1.txt").decode()
    assert text[ann["regions"][0]["start"]:ann["regions"][0]["end"]] == "東京"
    child = Dataset.create("ner", "text", parent_datasets=[ds])
    with pytest.raises(AnnotationError, match="past the end"):  # the span check reads the stored text
        child.set_annotation("t1.txt", {"regions": [{"type": "span", "label": "LOC", "start": 9, "end": 40}]})


def test_set_annotations_validates_all_before_changing_any(tmp_path):
    parent = imported(tmp_path)
    child = Dataset.create("pets", "vision", parent_datasets=[parent])
    good = child.get_annotation("train/img0.jpg")
    good["regions"][0]["label"] = "dog"
    bad = {**good, "labels": ["unicorn"]}
    with pytest.raises(AnnotationError, match=r"train/img2.jpg: labels\[0\]"):
        child.set_annotations({"train/img0.jpg": good, "train/img2.jpg": bad})
    assert child.get_annotation("train/img0.jpg")["regions"][0]["label"] == "cat"
    assert child.set_annotations({"train/img0.jpg": good, "train/img2.jpg": None}) == 2
    assert Dataset.get(dataset_id=child.id).get_annotation("train/img2.jpg") is None
    assert child.list_modified_files() == ["train/img0.jpg", "train/img2.jpg"]


def test_spacy_ner_round_trip_keeps_record_ids_and_the_split_order(tmp_path):
    """SeeMe's records keep their ids and config.json keeps train, valid, test (issue 20)."""
    import spacy

    src = tmp_path / "seeme"
    src.mkdir()
    recs = {"train": [{"id": "a7f3", "name": "t/a.txt", "text": "Alice in Paris", "annotations": [{"start": 0, "end": 5, "label": "PER"}]},
                      {"id": 42, "name": "t/b.txt", "text": "Bob", "annotations": [{"start": 0, "end": 3, "label": "PER"}]}],
            "valid": [{"id": "v-9", "name": "v/c.txt", "text": "Paris", "annotations": [{"start": 0, "end": 5, "label": "LOC"}]}],
            "test": [{"id": "t-1", "name": "x/d.txt", "text": "Zoë", "annotations": []}]}
    for split, rows in recs.items():
        (src / f"{split}.json").write_text(json.dumps(rows), encoding="utf-8")
    (src / "config.json").write_text(json.dumps({"splits": ["train", "valid", "test"], "colors": {"PER": "#ff0000", "LOC": "#00ff00"}}), encoding="utf-8")
    ds = Dataset.create("ner-ids", "text")
    ds.import_annotations(src, "spacy_ner", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    out = tmp_path / "out"
    ds.export("SPACY_NER", out)
    assert json.loads((out / "config.json").read_text())["splits"] == ["train", "valid", "test"]
    nlp = spacy.blank("en")
    for split, rows in recs.items():
        got = json.loads((out / f"{split}.json").read_text())
        assert [(r["id"], r["name"], r["text"]) for r in got] == [(r["id"], r["name"], r["text"]) for r in rows]
        for r in got:
            doc = nlp(r["text"])
            assert [doc.char_span(a["start"], a["end"], label=a["label"]).text for a in r["annotations"]] == [r["text"][a["start"]:a["end"]] for a in r["annotations"]]


def test_labelstudio_keypoints_keep_their_parent_and_merge_into_the_box_on_coco_export(tmp_path):
    """The Label Studio SDK's keypoint export: three keypoints with parentID -> one COCO person
    annotation carrying three keypoints (issue 20: parentID was dropped)."""
    from pycocotools.coco import COCO

    from annotation_helpers import DATA, image

    media = tmp_path / "media"
    image(media / "image1.jpg", 216, 174)
    ds = Dataset.create("kp", "ls")
    ds.import_annotations(DATA / "label-studio-sdk/test_export_yolo/data_keypoints.json", "labelstudio", media=media, show_progress=False)
    regions = ds.get_annotation("image1.jpg")["regions"]
    box = next(r for r in regions if r["type"] == "box")
    assert box["id"] == "hplPm0Szvc"
    assert [r["parent"] for r in regions if r["type"] == "keypoints"] == [box["id"]] * 3
    ds.upload(show_progress=False)
    ds.finalize()
    ds.export("COCO", tmp_path / "coco")
    gt = COCO(str(tmp_path / "coco/annotations/train.json"))
    anns = gt.loadAnns(gt.getAnnIds())
    assert len(anns) == 1 and gt.loadCats(anns[0]["category_id"])[0]["name"] == "person"
    assert anns[0]["num_keypoints"] == 3 and len(anns[0]["keypoints"]) == 9
    x, y, w, h = anns[0]["bbox"]
    kx, ky = anns[0]["keypoints"][0:2]
    assert x <= kx <= x + w and y <= ky <= y + h and abs(kx - 64.4444 * 2.16) < 0.01
