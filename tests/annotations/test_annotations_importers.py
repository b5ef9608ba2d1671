"""Each importer on the public sample exports (tests/data/annotations) and on generated data,
through the pure layer (``read_source``): items, classes, geometry, splits and problems."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import fsspec
import pytest
import yaml

from dagstore.annotations import AnnotationError, ImportSourceError
from dagstore.annotations.importers import get_importer, importer_names, read_source

from annotation_helpers import DATA, coco_set, image, write_json


def load(source, fmt, **kw):
    ctx, stack = read_source(source, fmt, **kw)
    stack.close()
    return ctx


def test_registry_knows_every_contract_format():
    assert set(importer_names()) >= {"labelstudio", "coco", "yolo", "voc", "folders", "csv", "spacy_ner", "conll2003"}
    for name in importer_names():
        assert get_importer(name).name == name
    with pytest.raises(ImportSourceError, match="unknown import format"):
        get_importer("nope")


def test_unknown_option_is_refused():
    with pytest.raises(ImportSourceError, match="not an option"):
        load(DATA / "datumaro/coco_dataset/coco_instances", "coco", colour=1)


# -- COCO ----------------------------------------------------------------------------------------


def test_coco_fixture_keeps_category_ids_polygons_and_rle():
    ctx = load(DATA / "datumaro/coco_dataset/coco_instances", "coco")
    assert ctx.classes.names == ("a", "b", "c")
    assert dict(ctx.classes.coco_ids) == {"a": 1, "b": 2, "c": 4}
    a, b = ctx.items["train/a.jpg"].annotation, ctx.items["val/b.jpg"].annotation
    assert a["split"] == "train" and b["split"] == "val"
    assert a["regions"] == [{"id": "1", "label": "b", "type": "box", "xywh": [2.0, 2.0, 3.0, 1.0]}]
    poly, mask = b["regions"]
    assert poly["type"] == "polygon" and poly["points"] == [[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [0.0, 2.0]] and poly["xywh"] == [0.0, 0.0, 1.0, 2.0]
    assert poly["attrs"] == {"x": 1, "y": "hello"}
    assert mask["type"] == "mask" and mask["rle"] == {"size": [10, 5], "counts": [0, 20, 30]} and mask["attrs"] == {"iscrowd": 1}
    assert b["media"]["width"] == 5 and b["media"]["height"] == 10


def test_coco_keypoints_become_a_child_region():
    ctx = load(DATA / "datumaro/coco_dataset/coco_person_keypoints", "coco")
    regions = ctx.items["train/a.jpg"].annotation["regions"]
    assert regions[1] == {"id": "1.kp", "type": "keypoints", "label": "b", "parent": "1", "points": [[0, 0, 0], [0, 2, 1], [4, 1, 2]]}


@pytest.mark.parametrize("layout", ["coco_roboflow", "mmdet_coco"])
def test_coco_layout_variants(layout):
    ctx = load(DATA / "datumaro/coco_dataset" / layout, "coco")
    assert sorted(ctx.items) == ["train/a.jpg", "val/b.jpg"]


def test_coco_from_an_fsspec_url_and_a_zip(tmp_path):
    src = coco_set(tmp_path / "coco")
    mem = fsspec.filesystem("memory")
    for f in src.rglob("*"):
        if f.is_file():
            mem.pipe(f"/cocoset/{f.relative_to(src).as_posix()}", f.read_bytes())
    ctx = load("memory://cocoset", "coco")
    assert sorted(ctx.items) == ["train/img0.jpg", "train/img1.jpg", "train/img2.jpg"]
    assert ctx.items["train/img1.jpg"].annotation["regions"][0]["label"] == "dog"
    z = tmp_path / "coco.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in src.rglob("*"):
            if f.is_file():
                zf.write(f, f"coco/{f.relative_to(src).as_posix()}")
    assert sorted(load(z, "coco").items) == sorted(ctx.items)


def test_coco_unknown_category_names_file_and_field(tmp_path):
    root = coco_set(tmp_path / "c")
    js = root / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["annotations"][1]["category_id"] = 7
    write_json(js, doc)
    with pytest.raises(AnnotationError) as ei:
        load(root, "coco")
    assert "instances_train.json: img1.jpg" in str(ei.value) and ei.value.field == "annotations[id=101].category_id"
    ctx = load(root, "coco", on_error="skip")
    assert sorted(ctx.items) == ["train/img0.jpg", "train/img2.jpg"]
    assert ctx.skipped == [{"path": "instances_train.json: img1.jpg", "reason": "annotations[id=101].category_id: unknown class id 7 (not in categories)"}]


def test_coco_box_outside_the_image_is_an_item_problem(tmp_path):
    root = coco_set(tmp_path / "c")
    js = root / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["annotations"][0]["bbox"] = [60.0, 2.0, 10.0, 5.0]
    write_json(js, doc)
    with pytest.raises(AnnotationError, match=r"regions\[0\]\.xywh.*outside the 64x48 image"):
        load(root, "coco")
    ctx = load(root, "coco", on_error="skip")
    assert "train/img0.jpg" not in ctx.items and len(ctx.skipped) == 1 and "outside" in ctx.skipped[0]["reason"]


def test_coco_missing_image_traversal_and_symlink_out(tmp_path):
    root = coco_set(tmp_path / "c", n=4)
    outside = image(tmp_path / "secret.jpg")
    (root / "images/train/img3.jpg").unlink()
    os.symlink(outside, root / "images/train/img3.jpg")
    js = root / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["images"][1]["file_name"] = "../../../secret.jpg"
    doc["images"][2]["file_name"] = "gone.jpg"
    write_json(js, doc)
    ctx = load(root, "coco", on_error="skip")
    assert sorted(ctx.items) == ["train/img0.jpg"]
    reasons = {s["path"].split(": ")[1]: s["reason"] for s in ctx.skipped}
    assert "escapes the media root" in reasons["../../../secret.jpg"]
    assert "annotation without its image" in reasons["gone.jpg"]
    assert "symlink out of the media root" in reasons["img3.jpg"]
    with pytest.raises(AnnotationError, match="escapes the media root"):
        load(root, "coco")


def test_malformed_sources_raise(tmp_path):
    root = coco_set(tmp_path / "c")
    (root / "annotations/instances_train.json").write_text('{"images": [', encoding="utf-8")
    with pytest.raises(ImportSourceError, match="instances_train.json: malformed JSON"):
        load(root, "coco")
    with pytest.raises(ImportSourceError, match="source not found"):
        load(tmp_path / "missing", "coco")
    (tmp_path / "v/Annotations").mkdir(parents=True)
    (tmp_path / "v/Annotations/x.xml").write_text("<annotation><object>", encoding="utf-8")
    with pytest.raises(ImportSourceError, match="x.xml: malformed XML"):
        load(tmp_path / "v", "voc")
    (tmp_path / "y").mkdir()
    (tmp_path / "y/data.yaml").write_text("names: [a, b\ntrain: images", encoding="utf-8")
    with pytest.raises(ImportSourceError, match="data.yaml: malformed YAML"):
        load(tmp_path / "y", "yolo")


def test_zip_slip_entry_refuses_the_whole_archive(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("coco/annotations/instances_train.json", "{}")
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(ImportSourceError, match="escapes the target folder"):
        load(z, "coco")
    assert not (tmp_path.parent / "escaped.txt").exists()


# -- YOLO ----------------------------------------------------------------------------------------


def test_yolo_darknet_fixture():
    ctx = load(DATA / "datumaro/yolo_dataset/strict", "yolo")
    assert ctx.classes.names[:3] == ("label_0", "label_1", "label_2") and len(ctx.classes) == 10
    ann = ctx.items["obj_train_data/1.jpg"].annotation
    assert ann["split"] == "train" and ann["media"]["width"] == 15 and ann["media"]["height"] == 10
    assert [r["label"] for r in ann["regions"]] == ["label_2", "label_4"]
    assert ann["regions"][0]["xywh"] == pytest.approx([0.0, 2.0, 4.0, 2.0], abs=1e-4)


def test_yolo_images_labels_layout_fixtures():
    ctx = load(DATA / "datumaro/yolo_dataset/labels", "yolo")
    assert sorted(ctx.items) == ["train/1.jpg", "val/1.jpg"]
    ctx = load(DATA / "label-studio-sdk/test_import_yolo_data_unif_dims", "yolo")
    assert ctx.classes.names == ("closed_door", "opened_door", "bus", "number")
    first = ctx.items["img_1.jpg"].annotation["regions"][0]
    assert first["label"] == "bus" and first["xywh"] == pytest.approx([10.0, 9.0, 617.0, 286.0], abs=1e-3)


def test_yolo_ultralytics_data_yaml_obb_segments_and_problems(tmp_path):
    root = tmp_path / "u"
    for split in ("train", "val"):
        image(root / "images" / split / "a.jpg", 100, 50)
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/val").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n", encoding="utf-8")
    (root / "labels/val/a.txt").write_text("0 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": {0: "car", 1: "boat"}}), encoding="utf-8")
    ctx = load(root, "yolo", obb=True)
    assert ctx.classes.names == ("car", "boat")
    box = ctx.items["train/a.jpg"].annotation["regions"][0]
    assert box["type"] == "box" and box["rotation"] == 0.0 and box["xywh"] == pytest.approx([10.0, 10.0, 40.0, 20.0])
    assert ctx.items["val/a.jpg"].annotation == {"media": {"kind": "image", "width": 100, "height": 50, "depth": 3}, "split": "val",
                                                 "regions": [{"id": "r1", "type": "box", "label": "car", "xywh": [40.0, 20.0, 20.0, 10.0]}]}
    poly = load(root, "yolo").items["train/a.jpg"].annotation["regions"][0]
    assert poly["type"] == "polygon" and poly["points"][2] == [50.0, 30.0]
    (root / "labels/train/orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n", encoding="utf-8")
    (root / "labels/val/a.txt").write_text("5 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    ctx = load(root, "yolo", on_error="skip")
    reasons = sorted(s["path"] + " " + s["reason"] for s in ctx.skipped)
    assert reasons == ["labels/train/orphan.txt label file without its image", "labels/val/a.txt:1 line: unknown class index 5 (the names list has 2 classes)"]
    (root / "labels/val/a.txt").write_text("0 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match="orphan.txt: label file without its image"):
        load(root, "yolo")


def test_yolo_rotated_obb_box(tmp_path):
    root = tmp_path / "o"
    image(root / "images/train/a.jpg", 100, 100)
    (root / "labels/train").mkdir(parents=True)
    # a 20x10 box at (50, 20) rotated 90 degrees clockwise: corners (50,20) (50,40) (40,40) (40,20)
    (root / "labels/train/a.txt").write_text("0 0.5 0.2 0.5 0.4 0.4 0.4 0.4 0.2\n", encoding="utf-8")
    (root / "data.yaml").write_text("train: images/train\nnames: [thing]\n", encoding="utf-8")
    box = load(root, "yolo", obb=True).items["train/a.jpg"].annotation["regions"][0]
    assert box["rotation"] == pytest.approx(90.0) and box["xywh"] == pytest.approx([50.0, 20.0, 20.0, 10.0])


# -- VOC, folders, CSV, spaCy NER, CoNLL -------------------------------------------------------


def test_voc_fixture_boxes_are_pixels():
    ctx = load(DATA / "datumaro/voc_dataset/voc_dataset1", "voc")
    ann = ctx.items["2007_000001.jpg"].annotation
    assert ann["split"] == "train"
    cat, person, head = ann["regions"]
    assert cat["label"] == "cat" and cat["xywh"] == [0.0, 1.0, 3.0, 3.0] and cat["attrs"]["truncated"] == 1
    assert person["attrs"]["actions"]["jumping"] == 0
    assert head["parent"] == person["id"] and head["xywh"] == [4.5, 5.0, 3.0, 3.0]


def test_voc_without_images_reports_each_file():
    ctx = load(DATA / "datumaro/voc_dataset/voc_dataset2", "voc", on_error="skip")
    assert ctx.items == {} and len(ctx.skipped) == 5 and all("not found" in s["reason"] for s in ctx.skipped)
    assert ctx.classes.names[:2] == ("background", "aeroplane")


def test_folders_imagenet_fixture_and_split_layout_with_metadata(tmp_path):
    ctx = load(DATA / "datumaro/imagenet_dataset", "folders")
    assert ctx.items["label_1/label_1_1/label_1_1.jpg"].annotation["labels"] == ["label_1"]
    assert "labels" not in ctx.items["label_0_2.jpg"].annotation
    root = tmp_path / "f"
    image(root / "train/cat/1.png")
    image(root / "train/dog/1.png")
    image(root / "valid/2.png")
    (root / "train/metadata.jsonl").write_text(json.dumps({"file_name": "cat/1.png", "caption": "a cat", "objects": {"bbox": [[1, 2, 3, 4]], "categories": ["cat"]}}) + "\n", encoding="utf-8")
    ctx = load(root, "folders")
    assert ctx.classes.names == ("cat", "dog")
    cat = ctx.items["train/cat/1.png"].annotation
    assert cat["split"] == "train" and cat["labels"] == ["cat"] and cat["fields"] == {"caption": "a cat"}
    assert cat["regions"] == [{"id": "r1", "type": "box", "label": "cat", "xywh": [1.0, 2.0, 3.0, 4.0]}]
    assert ctx.items["valid/2.png"].annotation["split"] == "valid" and "labels" not in ctx.items["valid/2.png"].annotation


def _seeme_text_layout(root):
    """SeeMe's text classification folders (as its docs show, the IMDB layout): splits
    ``train/ test/ unsup/``, each holding ``pos/ neg/`` class folders of .txt files."""
    for split in ("train", "test", "unsup"):
        for label in ("pos", "neg"):
            (root / split / label).mkdir(parents=True)
            (root / split / label / f"0_{label}.txt").write_text(f"a {label} review", encoding="utf-8")
    return root


def test_folders_recognises_seeme_text_split_folders_and_reports_the_guess(tmp_path):
    root = _seeme_text_layout(tmp_path / "imdb")
    ctx = load(root, "folders")
    assert sorted(ctx.items) == [f"{s}/{lab}/0_{lab}.txt" for s in ("test", "train", "unsup") for lab in ("neg", "pos")]
    assert ctx.items["unsup/pos/0_pos.txt"].annotation["split"] == "unsup"
    assert ctx.items["unsup/pos/0_pos.txt"].annotation["labels"] == ["pos"]
    assert set(ctx.classes.names) == {"pos", "neg"}
    guess = ctx.guessed["split_level"]
    assert guess["value"] is True and guess["splits"] == ["test", "train", "unsup"] and "split_level=False" in guess["reason"]
    # the option overrides the guess: top folders as classes
    ctx = load(root, "folders", split_level=False)
    assert set(ctx.classes.names) == {"test", "train", "unsup"} and "split_level" not in ctx.guessed
    with pytest.raises(ImportSourceError, match="split_level"):
        load(root, "folders", split_level="maybe")
    # class folders that hold files only stay classes, even when one is called "test"
    flat = tmp_path / "flat"
    image(flat / "test/1.png")
    image(flat / "cat/1.png")
    ctx = load(flat, "folders")
    assert ctx.classes.names == ("cat", "test") and ctx.guessed["split_level"]["value"] is False


def test_csv_seeme_with_config(tmp_path):
    root = tmp_path / "csv"
    image(root / "media/imgs/a.jpg")
    image(root / "media/imgs/b.jpg")
    write_json(root / "config.json", {"multi_label": True, "label_column": "labels", "split_column": "split", "label_separator": "|", "filename": "v1.csv", "csv_separator": ";", "colors": {"cat": "#112233"}})
    (root / "v1.csv").write_text('filename;labels;split;note\nimgs/a.jpg;cat|dog;train;"x;y"\nimgs/b.jpg;;test;\n', encoding="utf-8")
    ctx = load(root, "csv")
    a = ctx.items["imgs/a.jpg"].annotation
    assert a["labels"] == ["cat", "dog"] and a["split"] == "train" and a["fields"] == {"note": "x;y"}
    assert ctx.classes.colors == {"cat": "#112233"}
    (root / "v1.csv").write_text("filename;labels;split\n../x.jpg;cat;train\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match="v1.csv:2: filename: media path '../x.jpg' escapes"):
        load(root, "csv")


def test_spacy_ner_emoji_and_cjk_offsets_are_code_points(tmp_path):
    text = "😀 Anna met 東京 friends"
    write_json(tmp_path / "n/train.json", [{"id": 1, "name": "doc1.txt", "text": text, "annotations": [{"start": 2, "end": 6, "label": "PER"}, {"start": 11, "end": 13, "label": "LOC"}]}])
    write_json(tmp_path / "n/config.json", {"splits": ["train"], "colors": {"PER": "#ff0000", "LOC": "#00ff00"}})
    ctx = load(tmp_path / "n", "spacy_ner")
    item = ctx.items["doc1.txt"]
    assert item.data.decode() == text and ctx.classes.names == ("PER", "LOC")
    spans = [(r["start"], r["end"]) for r in item.annotation["regions"]]
    assert [text[s:e] for s, e in spans] == ["Anna", "東京"]
    write_json(tmp_path / "n/train.json", [{"id": 1, "name": "doc1.txt", "text": text, "annotations": [{"start": 2, "end": 60, "label": "PER"}]}])
    with pytest.raises(AnnotationError, match=r"train.json\[0\]: regions\[0\].end: span 2..60 runs past the end"):
        load(tmp_path / "n", "spacy_ner")


def test_conll2003_documents_and_iob_tags(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c/train.txt").write_text(
        "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
        "-DOCSTART- -X- O O\n\nParis NNP B-NP I-LOC\n",
        encoding="utf-8",
    )
    ctx = load(tmp_path / "c", "conll2003")
    assert sorted(ctx.items) == ["train/train_00001.txt", "train/train_00002.txt"]
    one = ctx.items["train/train_00001.txt"]
    text = one.data.decode()
    assert text == "EU rejects German call\nPeter Blackburn"
    assert [(r["label"], text[r["start"]:r["end"]]) for r in one.annotation["regions"]] == [("ORG", "EU"), ("MISC", "German"), ("PER", "Peter Blackburn")]
    assert ctx.items["train/train_00002.txt"].annotation["regions"][0]["label"] == "LOC"
    assert ctx.classes.names == ("ORG", "MISC", "PER", "LOC")


# -- Label Studio --------------------------------------------------------------------------------


def test_labelstudio_fixture_with_media_converts_percent_to_pixels(tmp_path):
    image(tmp_path / "media/test_image1.jpg", 500, 320)
    ctx = load(DATA / "label-studio-sdk/test_export_coco/data.json", "labelstudio", media=tmp_path / "media", label_config=str(DATA / "label-studio-sdk/test_export_coco/label_config.xml"))
    assert ctx.classes.names == ("rectangle_label", "polygon_label", "keypoint_label1", "keypoint_label2")
    ann = ctx.items["test_image1.jpg"].annotation
    box, poly, kp1, _ = ann["regions"]
    assert box["xywh"] == pytest.approx([159.709619, 13.163121, 31.760436, 31.77305], abs=1e-5)
    assert poly["points"][0] == pytest.approx([208.711434, 11.347518], abs=1e-5)
    assert kp1["type"] == "keypoints" and kp1["points"][0][2] == 2
    assert ann["source"]["annotation_id"] == 60205850 and ann["source"]["task_id"] == 175210175


def test_labelstudio_two_annotations_policy(tmp_path):
    image(tmp_path / "m/image1", 2800, 2800, "PNG")
    image(tmp_path / "m/image2", 2800, 2800, "PNG")
    src = DATA / "label-studio-sdk/test_export_yolo/data.json"
    ctx = load(src, "labelstudio", media=tmp_path / "m")
    t1 = ctx.items["image1"].annotation
    assert t1["source"]["annotation_id"] == 2  # latest created_at
    assert [a["source"]["annotation_id"] for a in t1["alternatives"]] == [1] and t1["alternatives"][0]["kind"] == "annotation"
    t1b = load(src, "labelstudio", media=tmp_path / "m", policy="annotator:2").items["image1"].annotation
    assert t1b["source"]["annotation_id"] == 1


def _ls_task(tid, data, annotations=(), predictions=(), drafts=()):
    return {"id": tid, "data": data, "annotations": list(annotations), "predictions": list(predictions), "drafts": list(drafts)}


def _choice(aid, label, created, **kw):
    return {"id": aid, "completed_by": kw.pop("by", 1), "created_at": created, "result": [{"type": "choices", "from_name": "c", "to_name": "image", "value": {"choices": [label]}}], **kw}


def test_labelstudio_policies_with_annotations_predictions_and_drafts(tmp_path):
    image(tmp_path / "m/a.jpg")
    task = _ls_task(
        7, {"image": "/data/upload/3/a.jpg"},
        annotations=[_choice(1, "cat", "2024-01-01T00:00:00Z", ground_truth=True, by=5), _choice(2, "dog", "2024-02-01T00:00:00Z", by=6),
                     _choice(3, "cow", "2024-03-01T00:00:00Z", was_cancelled=True, by=7)],
        predictions=[{**_choice(9, "dog", "2024-01-05T00:00:00Z"), "score": 0.8, "model_version": "m1"}],
        drafts=[_choice(11, "cow", "2024-04-01T00:00:00Z", by=6)],
    )
    write_json(tmp_path / "ls.json", [task])
    gt = load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m").items["a.jpg"].annotation
    assert gt["labels"] == ["cat"] and gt["source"]["ground_truth"] is True and gt["source"]["annotator"] == 5
    kinds = [(a["kind"], a["source"]["annotation_id"], a["cancelled"]) for a in gt["alternatives"]]
    assert kinds == [("annotation", 2, False), ("annotation", 3, True), ("prediction", 9, False), ("draft", 11, False)]
    assert gt["alternatives"][2]["score"] == 0.8
    assert load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m", policy="latest").items["a.jpg"].annotation["labels"] == ["dog"]
    assert load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m", policy="annotator:7").items["a.jpg"].annotation.get("labels") is None
    with pytest.raises(ImportSourceError, match="policy"):
        load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m", policy="best")


def test_labelstudio_text_task_utf16_offsets(tmp_path):
    text = "👍🏽 Zoë in 北京 😀 now"
    def u16(cp):
        return len(text[:cp].encode("utf-16-le")) // 2
    s1, e1 = text.index("Zoë"), text.index("Zoë") + 3
    s2, e2 = text.index("北京"), text.index("北京") + 2
    res = [{"id": "a", "type": "labels", "from_name": "ner", "to_name": "text", "value": {"start": u16(s1), "end": u16(e1), "labels": ["PER"]}},
           {"id": "b", "type": "labels", "from_name": "ner", "to_name": "text", "value": {"start": u16(s2), "end": u16(e2), "labels": ["LOC"]}}]
    write_json(tmp_path / "t.json", [_ls_task(51, {"text": text}, annotations=[{"id": 1, "result": res, "created_at": "2024"}])])
    item = load(tmp_path / "t.json", "labelstudio").items["51.txt"]
    assert item.data.decode() == text
    got = [(r["label"], text[r["start"]:r["end"]]) for r in item.annotation["regions"]]
    assert got == [("PER", "Zoë"), ("LOC", "北京")]
    res[0]["value"]["end"] = 400
    write_json(tmp_path / "t.json", [_ls_task(51, {"text": text}, annotations=[{"id": 1, "result": res}])])
    with pytest.raises(AnnotationError, match="span offsets do not fit"):
        load(tmp_path / "t.json", "labelstudio")


def test_labelstudio_rotated_box_and_cloud_links(tmp_path):
    res = {"id": "r", "type": "rectanglelabels", "original_width": 200, "original_height": 100, "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 45.0, "rectanglelabels": ["car"]}}
    write_json(tmp_path / "ls.json", [_ls_task(1, {"image": "s3://bucket/dir/x.jpg"}, annotations=[{"id": 1, "result": [res]}])])
    item = load(tmp_path / "ls.json", "labelstudio").items["dir/x.jpg"]
    assert item.url == "s3://bucket/dir/x.jpg" and item.local is None
    box = item.annotation["regions"][0]
    assert box["xywh"] == [20.0, 20.0, 60.0, 40.0] and box["rotation"] == 45.0
    assert item.annotation["media"] == {"kind": "image", "width": 200.0, "height": 100.0}


def test_labelstudio_duplicate_names_after_flattening(tmp_path):
    image(tmp_path / "m/x.jpg")
    write_json(tmp_path / "ls.json", [_ls_task(1, {"image": "/data/upload/1/x.jpg"}), _ls_task(2, {"image": "/data/upload/2/x.jpg"})])
    with pytest.raises(AnnotationError, match="duplicate file name"):
        load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m")
    ctx = load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m", on_error="skip")
    assert list(ctx.items) == ["x.jpg"] and ctx.skipped[0]["path"] == "ls.json: task 2"


def test_labelstudio_local_files_url_and_missing_media(tmp_path):
    image(tmp_path / "m/sub/y.jpg")
    write_json(tmp_path / "ls.json", [_ls_task(1, {"image": "/data/local-files/?d=sub/y.jpg"}), _ls_task(2, {"image": "/data/local-files/?d=sub/none.jpg"})])
    ctx = load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m", on_error="skip")
    assert list(ctx.items) == ["sub/y.jpg"] and "not found" in ctx.skipped[0]["reason"]


def test_labelstudio_downloads_http_media_from_a_real_server(tmp_path):
    import functools
    import http.server
    import threading

    image(tmp_path / "www/pics/p.jpg", 30, 20)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/pics/p.jpg"
        write_json(tmp_path / "ls.json", [_ls_task(1, {"image": url}), _ls_task(2, {"image": url.replace("p.jpg", "gone.jpg")})])
        ctx, stack = read_source(tmp_path / "ls.json", "labelstudio", on_error="skip")
        with stack:
            item = ctx.items["p.jpg"]
            assert Path(item.local).read_bytes() == (tmp_path / "www/pics/p.jpg").read_bytes()
            assert item.annotation["media"]["width"] == 30
            assert "download of" in ctx.skipped[0]["reason"] and "404" in ctx.skipped[0]["reason"]
            downloads = Path(item.local).parent.parent
        assert not downloads.exists()  # temporary downloads are removed after the import
    finally:
        srv.shutdown()


def test_labelstudio_audio_segments_and_transcription(tmp_path):
    import wave

    (tmp_path / "m").mkdir()
    with wave.open(str(tmp_path / "m/a.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 32000)
    res = [{"id": "s", "type": "labels", "from_name": "l", "to_name": "audio", "value": {"start": 0.5, "end": 1.25, "labels": ["speech"]}},
           {"id": "t", "type": "textarea", "from_name": "tr", "to_name": "audio", "value": {"text": ["hello there"]}}]
    write_json(tmp_path / "ls.json", [_ls_task(3, {"audio": "/data/upload/1/a.wav"}, annotations=[{"id": 1, "result": res}])])
    ann = load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m").items["a.wav"].annotation
    assert ann["media"] == {"kind": "audio", "duration_s": 2.0, "sample_rate": 16000}
    assert ann["regions"] == [{"id": "s", "type": "segment", "label": "speech", "start_s": 0.5, "end_s": 1.25,
                               "control": {"from_name": "l", "to_name": "audio"}}]
    assert ann["transcription"] == "hello there" and ann["controls"] == {"transcription": {"from_name": "tr", "to_name": "audio"}}
    res[0]["value"]["end"] = 3.5
    write_json(tmp_path / "ls.json", [_ls_task(3, {"audio": "/data/upload/1/a.wav"}, annotations=[{"id": 1, "result": res}])])
    with pytest.raises(AnnotationError, match="after the end of the audio"):
        load(tmp_path / "ls.json", "labelstudio", media=tmp_path / "m")


def test_folders_symlink_out_of_the_root_and_yolo_bad_line(tmp_path):
    secret = image(tmp_path / "secret.jpg")
    image(tmp_path / "f/train/cat/ok.jpg")
    os.symlink(secret, tmp_path / "f/train/cat/leak.jpg")
    with pytest.raises(AnnotationError, match="leak.jpg: path: media path 'train/cat/leak.jpg' is a symlink out of the media root"):
        load(tmp_path / "f", "folders")
    assert list(load(tmp_path / "f", "folders", on_error="skip").items) == ["train/cat/ok.jpg"]
    root = tmp_path / "y"
    image(root / "images/train/a.jpg")
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").write_text("0 0.5 zero 0.1 0.1\n", encoding="utf-8")
    (root / "data.yaml").write_text("train: images/train\nnames: [a]\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"labels/train/a.txt:1: line: not a YOLO label line"):
        load(root, "yolo")


def test_voc_non_numeric_flag_is_an_item_problem(tmp_path):
    root = tmp_path / "voc"
    image(root / "JPEGImages/a.jpg", 20, 10)
    (root / "Annotations").mkdir()
    (root / "Annotations/a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>cat</name><difficult>yes</difficult>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>", encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"Annotations/a.xml: object\[0\]: difficult: must be 0 or 1, not 'yes'"):
        load(root, "voc")
    (root / "Annotations/a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>cat</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>5</ymax></bndbox></object></annotation>", encoding="utf-8")
    with pytest.raises(AnnotationError, match="outside the 20x10 image"):
        load(root, "voc")


def test_unexpected_shapes_deep_in_a_source_are_one_clear_error(tmp_path):
    root = coco_set(tmp_path / "c")
    js = root / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["categories"] = [{"id": "one"}]  # no name, id not a number
    write_json(js, doc)
    with pytest.raises(ImportSourceError, match="malformed coco source"):
        load(root, "coco")


def test_voc_image_listed_in_a_split_without_xml_is_an_unannotated_item(tmp_path):
    """Datumaro imports such an image as an item of its split with no annotations (issue 20)."""
    import xmltodict

    root = tmp_path / "voc"
    image(root / "JPEGImages/a.jpg", 20, 10)
    image(root / "JPEGImages/b.jpg", 30, 12)
    (root / "Annotations").mkdir()
    (root / "Annotations/a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>cat</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>", encoding="utf-8")
    assert xmltodict.parse((root / "Annotations/a.xml").read_text())["annotation"]["filename"] == "a.jpg"
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "ImageSets/Main/train.txt").write_text("a\n", encoding="utf-8")
    (root / "ImageSets/Main/test.txt").write_text("b\nmissing\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match="missing: image: listed in test.txt but it has no XML and no image"):
        load(root, "voc")
    ctx = load(root, "voc", on_error="skip")
    assert sorted(ctx.items) == ["a.jpg", "b.jpg"]
    b = ctx.items["b.jpg"].annotation
    assert b["split"] == "test" and "regions" not in b and b["media"]["width"] == 30
    assert ctx.items["a.jpg"].annotation["split"] == "train"
    assert [s["path"] for s in ctx.skipped] == ["ImageSets/Main/test.txt: missing"]
