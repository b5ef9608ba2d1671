"""Each export format, read back by the reader its users use."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dagstore.export import ExportError, ExportFormat, export_view
from export_fixtures import TEXT, classification_view, detection_view, image_bytes, img_ann, make_view, ner_view, unzip, wav_bytes
from helpers import read_tree


@pytest.fixture
def det(tmp_path: Path):
    return detection_view(tmp_path / "src")


def test_coco_is_read_by_pycocotools_with_ids_from_1_and_ap_1(det, tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rep = export_view(det, "coco", tmp_path / "out")
    out = tmp_path / "out"
    assert rep.counts == {"train": 3, "valid": 2}
    gt = COCO(str(out / "annotations" / "train.json"))
    assert sorted(gt.getCatIds()) == [1, 2, 3]
    assert min(gt.getAnnIds()) == 1 and min(gt.getImgIds()) == 1
    names = {img["file_name"] for img in gt.dataset["images"]}
    assert names == {"train/imgs/a.jpg", "train/more/a.jpg", "train/nosplit.jpg"}
    assert {i["file_name"] for i in COCO(str(out / "annotations" / "valid.json")).dataset["images"]} == {"valid/val/b.png", "valid/val/empty.jpg"}
    for name in names:
        assert (out / "images" / name).is_file()
    kp = [a for a in gt.dataset["annotations"] if "keypoints" in a]
    assert kp and kp[0]["keypoints"] == [15.0, 25.0, 2, 30.0, 50.0, 1] and kp[0]["num_keypoints"] == 2
    poly = [a for a in gt.dataset["annotations"] if "segmentation" in a][0]
    assert poly["area"] == 1600.0 and poly["bbox"] == [50.0, 10.0, 40.0, 40.0]
    dets = [dict(a, score=1.0) for a in gt.dataset["annotations"]]
    for a in dets:
        a.pop("segmentation", None)
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    val = COCO(str(out / "annotations" / "valid.json"))
    assert len(val.dataset["images"]) == 2  # the image without annotations is kept
    assert val.loadCats(3)[0]["name"] == "bird"


def test_coco_category_ids_follow_kept_coco_ids(tmp_path: Path) -> None:
    files = {"a.jpg": (image_bytes(10, 10), img_ann(10, 10, regions=[{"type": "box", "label": "c", "xywh": [1, 1, 2, 2]}]))}
    view = make_view(tmp_path / "src", files, [{"name": "a", "coco_id": 1}, {"name": "b", "coco_id": 4}, {"name": "c"}])
    rep = export_view(view, ExportFormat.COCO, tmp_path / "out")
    doc = json.loads((tmp_path / "out/annotations/train.json").read_text())
    assert [(c["id"], c["name"]) for c in doc["categories"]] == [(1, "a"), (4, "b"), (2, "c")]
    assert doc["annotations"][0]["category_id"] == 2
    assert rep.class_map == {"a": 1, "b": 4, "c": 2}


def test_yolo_ultralytics_data_yaml_and_labels(det, tmp_path: Path) -> None:
    import yaml

    export_view(det, "YOLO_ULTRALYTICS", tmp_path / "out")
    out = tmp_path / "out"
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in data
    assert data["train"] == "images/train" and data["val"] == "images/valid"
    assert data["names"] == {0: "cat", 1: "dog", 2: "bird"}
    tree = read_tree(out)
    # dataset paths are kept: same-named images in two folders have their own label files
    assert sorted(p for p in tree if p.startswith("images/train/")) == ["images/train/imgs/a.jpg", "images/train/more/a.jpg", "images/train/nosplit.jpg"]
    lines = {p: tree[p].decode().splitlines() for p in tree if p.startswith("labels/")}
    assert len(lines) == 5
    assert lines["labels/valid/val/b.txt"] == ["2 0.310000 0.210000 0.400000 0.200000"]
    assert lines["labels/valid/val/empty.txt"] == []
    assert len(lines["labels/train/imgs/a.txt"]) == 2 and len(lines["labels/train/more/a.txt"]) == 1


def test_yolo_ultralytics_images_sharing_a_stem_get_their_own_label_files(tmp_path: Path) -> None:
    files = {"train/a.jpg": (image_bytes(10, 10, seed=1), img_ann(10, 10)), "train/a.png": (image_bytes(10, 10, "PNG", seed=2), img_ann(10, 10))}
    export_view(make_view(tmp_path / "src", files, ["x"]), "YOLO_ULTRALYTICS", tmp_path / "out")
    tree = read_tree(tmp_path / "out")
    imgs = sorted(p for p in tree if p.startswith("images/"))
    assert len(imgs) == 2 and all(p.split("/")[-1][8] == "_" for p in imgs)
    assert len([p for p in tree if p.startswith("labels/")]) == 2


def test_yolo_ultralytics_obb_and_segments(tmp_path: Path) -> None:
    files = {"r.jpg": (image_bytes(100, 100), img_ann(100, 100, regions=[
        {"id": "b", "type": "box", "label": "a", "xywh": [10, 10, 20, 10], "rotation": 90},
        {"id": "p", "type": "polygon", "label": "a", "points": [[0, 0], [50, 0], [50, 50]]},
    ]))}
    view = make_view(tmp_path / "src", files, ["a"])
    export_view(view, "yolo_ultralytics", tmp_path / "obb", obb=True)
    obb = (tmp_path / "obb/labels/train/r.txt").read_text().splitlines()
    assert obb[0] == "0 0.100000 0.100000 0.100000 0.300000 0.000000 0.300000 0.000000 0.100000"
    export_view(view, "yolo_ultralytics", tmp_path / "seg", segments=True)
    seg = (tmp_path / "seg/labels/train/r.txt").read_text().splitlines()
    assert seg[1] == "0 0.000000 0.000000 0.500000 0.000000 0.500000 0.500000"


def _ultralytics_obb_line_ok(line: str) -> bool:
    """Ultralytics' OBB label rule (docs.ultralytics.com/datasets/obb): ``class_index x1 y1 x2
    y2 x3 y3 x4 y4``, four corners normalized to [0, 1]."""
    parts = line.split()
    return len(parts) == 9 and parts[0].isdigit() and all(0.0 <= float(v) <= 1.0 for v in parts[1:])


def test_yolo_ultralytics_obb_every_line_has_four_corners(tmp_path: Path) -> None:
    """Plain boxes, polygons and masks in an OBB file: four corners each, never a 4-value line (issue 20)."""
    files = {"r.jpg": (image_bytes(100, 100), img_ann(100, 100, regions=[
        {"id": "plain", "type": "box", "label": "a", "xywh": [10, 10, 20, 10]},
        {"id": "quad", "type": "polygon", "label": "a", "points": [[0, 0], [50, 0], [50, 50], [0, 50]]},
        {"id": "tri", "type": "polygon", "label": "a", "points": [[0, 0], [50, 0], [50, 50]]},
        {"id": "m", "type": "mask", "label": "a", "xywh": [5, 5, 10, 10], "rle": {"size": [100, 100], "counts": "0"}},
    ]))}
    view = make_view(tmp_path / "src", files, ["a"])
    rep = export_view(view, "yolo_ultralytics", tmp_path / "obb", obb=True)
    lines = (tmp_path / "obb/labels/train/r.txt").read_text().splitlines()
    assert len(lines) == 4 and all(_ultralytics_obb_line_ok(ln) for ln in lines), lines
    assert lines[0] == "0 0.100000 0.100000 0.300000 0.100000 0.300000 0.200000 0.100000 0.200000"
    assert lines[1] == "0 0.000000 0.000000 0.500000 0.000000 0.500000 0.500000 0.000000 0.500000"
    assert [(s["region"], "envelope" in s["reason"]) for s in rep.skipped] == [("tri", True), ("m", True)]
    with pytest.raises(ExportError, match="cannot be combined"):
        export_view(view, "yolo_ultralytics", tmp_path / "both", obb=True, segments=True)
    assert not (tmp_path / "both").exists()


def test_yolo_darknet_layout(det, tmp_path: Path) -> None:
    rep = export_view(det, "yolo", tmp_path / "out")
    out = tmp_path / "out"
    assert (out / f"{det.version_id}.names").read_text() == "cat\ndog\nbird\n"
    train = (out / "train.txt").read_text().splitlines()
    assert len(train) == 3 and all((out / p).is_file() for p in train)
    for p in train:
        assert (out / p).with_suffix(".txt").is_file()
    assert set(json.loads((out / "config.json").read_text())["colors"]) == {"cat", "dog", "bird"}
    assert any(s["region"] == "r3" for s in rep.skipped)  # keypoints are not YOLO boxes: listed


def test_voc_read_by_xmltodict_with_devkit_rounding(det, tmp_path: Path) -> None:
    import xmltodict

    export_view(det, "VOC", tmp_path / "out")
    out = tmp_path / "out"
    doc = xmltodict.parse((out / "Annotations/b.xml").read_bytes())["annotation"]
    assert doc["size"] == {"width": "50", "height": "50", "depth": "3"}
    bb = doc["object"]["bndbox"]
    assert (bb["xmin"], bb["ymin"], bb["xmax"], bb["ymax"]) == ("7", "7", "26", "16")  # round(5.5)+1, round(25.5)
    assert (out / "ImageSets/Main/valid.txt").read_text().splitlines() == ["b", "empty"]
    assert len((out / "ImageSets/Main/train.txt").read_text().splitlines()) == 3
    assert (out / "JPEGImages/b.png").is_file()


def test_folders_layout_and_collisions(tmp_path: Path) -> None:
    view = classification_view(tmp_path / "src")
    rep = export_view(view, "folders", tmp_path / "out")
    tree = read_tree(tmp_path / "out")
    files = sorted(p for p in tree if p != "export.json")
    assert files[0] == "test/dog/2.jpg" and files[1] == "train/3.jpg"
    cat = [p for p in files if p.startswith("train/cat/")]
    assert len(cat) == 2 and all(p.split("/")[-1][8] == "_" for p in cat)
    assert rep.counts == {"test": 1, "train": 3}


def test_folders_refuses_multi_label_pointing_to_csv(tmp_path: Path) -> None:
    files = {"a.jpg": (b"x", {"labels": ["cat", "dog"]})}
    view = make_view(tmp_path / "src", files, ["cat", "dog"])
    with pytest.raises(ExportError, match="CSV"):
        export_view(view, "FOLDERS", tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["src"]


@pytest.mark.parametrize("labels", [["a/b"], [".."], ["Cat", "cat"]])
def test_folders_refuses_labels_unsafe_as_folder_names(tmp_path: Path, labels: list[str]) -> None:
    view = make_view(tmp_path / "src", {"a.jpg": (b"x", {"labels": [labels[0]]})}, labels)
    with pytest.raises(ExportError, match="label"):
        export_view(view, "folders", tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_imagefolder_loads_with_hf_datasets(det, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import load_dataset

    export_view(det, "IMAGEFOLDER", tmp_path / "out")
    ds = load_dataset("imagefolder", data_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "hfc"))
    assert sorted(ds.keys()) == ["train", "validation"]
    assert ds["train"].num_rows == 3 and ds["validation"].num_rows == 2
    rows = {r["image"].size: r for r in ds["validation"]}
    assert rows[(50, 50)]["objects"] == {"bbox": [[5.5, 5.5, 20.0, 10.0]], "categories": [2]}


def test_csv_and_tsv_layout(tmp_path: Path) -> None:
    view = classification_view(tmp_path / "src")
    export_view(view, "CSV", tmp_path / "csv")
    cfg = json.loads((tmp_path / "csv/config.json").read_text())
    assert cfg == {"multi_label": False, "label_column": "labels", "split_column": "split", "label_separator": ",",
                   "filename": f"{view.version_id}.csv", "csv_separator": ","}
    raw = (tmp_path / "csv" / cfg["filename"]).read_bytes()
    assert b"\r\n" in raw
    rows = list(csv.DictReader(raw.decode().splitlines()))
    assert [r["filename"] for r in rows] == ["2.jpg", "3.jpg", "x/1.jpg", "y/1.jpg"]
    assert rows[0] == {"filename": "2.jpg", "labels": "dog", "split": "test", "caption": "a dog"}
    assert (tmp_path / "csv/media/x/1.jpg").is_file()
    export_view(view, "tsv", tmp_path / "tsv")
    tsv = (tmp_path / "tsv" / f"{view.version_id}.tsv").read_text()
    assert tsv.splitlines()[0] == "filename\tlabels\tsplit\tcaption"


def test_csv_refuses_a_label_containing_the_separator(tmp_path: Path) -> None:
    view = make_view(tmp_path / "src", {"a.jpg": (b"x", {"labels": ["a,b"]})}, ["a,b"])
    with pytest.raises(ExportError, match="separator"):
        export_view(view, "csv", tmp_path / "out")
    export_view(view, "csv", tmp_path / "out", label_separator="|")


def test_spacy_docbin_loads_and_aligns(tmp_path: Path) -> None:
    import spacy
    from spacy.tokens import DocBin

    view = ner_view(tmp_path / "src")
    files = {"odd.txt": ("Alicebob".encode(), {"regions": [{"id": "x", "type": "span", "label": "PER", "start": 0, "end": 5}]})}
    odd = make_view(tmp_path / "src2", files, ["PER"])
    rep = export_view(view, "SPACY", tmp_path / "out")
    nlp = spacy.blank("en")
    docs = list(DocBin().from_bytes((tmp_path / "out/train.spacy").read_bytes()).get_docs(nlp.vocab))
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Alice", "PER"), ("Bob", "PER"), ("Paris", "LOC"), ("New York", "LOC"), ("Café Zoë", "ORG")]
    assert docs[0].char_span(17, 22).text == "Paris"
    assert "spacy.blank('en')" in rep.info["tokenizer"]
    rep2 = export_view(odd, "SPACY", tmp_path / "out2")
    assert rep2.skipped == [{"path": "odd.txt", "reason": "span [0, 5) PER does not fall on token boundaries"}]


def test_spacy_ner_json(tmp_path: Path) -> None:
    view = ner_view(tmp_path / "src")
    export_view(view, "SPACY_NER", tmp_path / "out")
    rows = json.loads((tmp_path / "out/train.json").read_text())
    assert rows[0]["name"] == "docs/1.txt" and rows[0]["text"] == TEXT
    assert rows[0]["annotations"][0] == {"start": 0, "end": 5, "label": "PER"}
    cfg = json.loads((tmp_path / "out/config.json").read_text())
    assert cfg["splits"] == ["train", "test"] and set(cfg["colors"]) == {"PER", "LOC", "ORG"}  # the dataset's order
    assert not (tmp_path / "out/docs").exists()


def test_conll2003_iob2(tmp_path: Path) -> None:
    view = ner_view(tmp_path / "src")
    rep = export_view(view, "CONLL2003", tmp_path / "out")
    text = (tmp_path / "out/train.txt").read_text()
    lines = text.splitlines()
    assert lines[0] == "-DOCSTART- -X- O O"
    assert "Alice -X- _ B-PER" in lines and "New -X- _ B-LOC" in lines and "York -X- _ I-LOC" in lines
    assert "Café -X- _ B-ORG" in lines and "Zoë -X- _ I-ORG" in lines
    sentences = [s for s in text.split("\n\n") if s.strip() and not s.startswith("-DOCSTART-")]
    assert len(sentences) == 3
    assert rep.info["tokenizer"].startswith("dagstore-regex-1")


def test_conll_reports_overlapping_entities(tmp_path: Path) -> None:
    files = {"t.txt": (b"New York City", {"regions": [
        {"id": "a", "type": "span", "label": "LOC", "start": 0, "end": 8},
        {"id": "b", "type": "span", "label": "LOC", "start": 4, "end": 13}]})}
    view = make_view(tmp_path / "src", files, ["LOC"])
    rep = export_view(view, "conll2003", tmp_path / "out")
    assert len(rep.skipped) == 1 and "overlaps" in rep.skipped[0]["reason"]
    saved = json.loads((tmp_path / "out/export.json").read_text())
    assert saved["skipped"] == rep.skipped


def test_label_studio_json_percent_boxes_and_alternatives(det, tmp_path: Path) -> None:
    export_view(det, "JSON", tmp_path / "out")
    tasks = json.loads((tmp_path / "out/tasks.json").read_text())
    b = [t for t in tasks if t["data"]["image"].endswith("val/b.png")][0]
    res = b["annotations"][0]["result"][0]
    assert res["type"] == "rectanglelabels" and res["value"]["x"] == pytest.approx(11.0) and res["value"]["width"] == pytest.approx(40.0)
    assert res["original_width"] == 50
    assert (tmp_path / "out/media/val/b.png").is_file()


def test_label_studio_json_min_one_flat_object_per_item(det, tmp_path: Path) -> None:
    export_view(det, "JSON_MIN", tmp_path / "out")
    rows = json.loads((tmp_path / "out/tasks.json").read_text())
    assert len(rows) == 5
    b = [r for r in rows if r["image"].endswith("val/b.png")][0]
    assert b["label"][0]["rectanglelabels"] == ["bird"] and b["split"] == "valid"


def test_asr_manifest_durations_read_by_soundfile(tmp_path: Path) -> None:
    import soundfile

    files = {
        "a.wav": (wav_bytes(1.5), {"transcription": "hello there"}),
        "b.wav": (wav_bytes(3.0), {"split": "test", "regions": [{"id": "s", "type": "segment", "label": "speech", "start_s": 0.5, "end_s": 2.0, "text": "hi"}]}),
        "c.wav": (wav_bytes(1.0), None),
    }
    view = make_view(tmp_path / "src", files, ["speech"])
    rep = export_view(view, "ASR_MANIFEST", tmp_path / "out")
    lines = [json.loads(x) for x in (tmp_path / "out/train_manifest.json").read_text().splitlines()]
    assert lines == [{"audio_filepath": "audio/a.wav", "duration": 1.5, "text": "hello there"}]
    info = soundfile.info(str(tmp_path / "out" / lines[0]["audio_filepath"]))
    assert info.frames / info.samplerate == pytest.approx(lines[0]["duration"])
    seg = json.loads((tmp_path / "out/test_manifest.json").read_text())
    assert seg == {"audio_filepath": "audio/b.wav", "offset": 0.5, "duration": 1.5, "text": "hi"}
    assert rep.skipped == [{"path": "c.wav", "reason": "no transcription"}]


def test_brush_png_and_numpy(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    rle = {"size": [4, 3], "counts": [1, 2, 5, 4]}  # column-major: rows 1-2 of col 0, rows 3 of col1.. (uncompressed counts)
    files = {"m.jpg": (image_bytes(3, 4), img_ann(3, 4, regions=[{"id": "m", "type": "mask", "label": "fg", "rle": rle}]))}
    view = make_view(tmp_path / "src", files, ["fg"])
    export_view(view, "BRUSH_TO_PNG", tmp_path / "png")
    png = np.asarray(Image.open(tmp_path / "png/masks/m.jpg__fg.png"))
    export_view(view, "BRUSH_TO_NUMPY", tmp_path / "npy")
    arr = np.load(tmp_path / "npy/masks/m.jpg__fg.npy")
    assert arr.shape == (4, 3) and int(arr.sum()) == 6
    assert (png > 0).astype(np.uint8).tolist() == arr.tolist()
    assert arr[:, 0].tolist() == [0, 1, 1, 0] and arr[:, 2].tolist() == [1, 1, 1, 1]


def test_coco_writes_mask_images_as_rle_that_pycocotools_decodes(tmp_path: Path) -> None:
    import io

    import numpy as np
    from PIL import Image
    from pycocotools.coco import COCO

    m = np.zeros((6, 8), dtype=np.uint8)
    m[2:5, 1:4] = 255
    buf = io.BytesIO()
    Image.fromarray(m, mode="L").save(buf, format="PNG")
    files = {"a.jpg": (image_bytes(8, 6), img_ann(8, 6, regions=[{"id": "m", "type": "mask", "label": "x", "path": "masks/a.png"}])),
             "masks/a.png": (buf.getvalue(), {"split": "masks"})}
    export_view(make_view(tmp_path / "src", files, ["x"]), "coco", tmp_path / "out", include_media=False)
    gt = COCO(str(tmp_path / "out/annotations/train.json"))
    ann = gt.dataset["annotations"][0]
    assert ann["area"] == 9 and ann["bbox"] == [1.0, 2.0, 3.0, 3.0]
    assert (gt.annToMask(ann) == (m > 0)).all()


def test_rle_decoding_agrees_with_pycocotools() -> None:
    import numpy as np
    from pycocotools import mask as cmask

    from dagstore.export import rle

    m = np.zeros((7, 9), dtype=np.uint8, order="F")
    m[1:5, 2:7] = 1
    m[6, 8] = 1
    enc = cmask.encode(m)
    enc["counts"] = enc["counts"].decode()
    assert rle.to_array(enc).tolist() == m.tolist()
    assert rle.area(enc) == int(cmask.area(cmask.encode(m)))
    assert rle.bbox(enc) == [float(v) for v in cmask.toBbox(cmask.encode(m))]
    assert rle.to_array(rle.encode(m)).tolist() == m.tolist()
    assert rle.area(rle.encode(m)) == rle.area(enc)


@pytest.mark.parametrize("fmt", [f.value for f in ExportFormat if f.value not in ("SPACY", "BRUSH_TO_PNG", "BRUSH_TO_NUMPY", "ASR_MANIFEST", "SPACY_NER", "CONLL2003")])
def test_same_version_same_options_give_the_same_bytes(det, tmp_path: Path, fmt: str) -> None:
    if fmt in ("FOLDERS", "IMAGEFOLDER"):
        det = classification_view(tmp_path / "cls")
    a = export_view(det, fmt, tmp_path / "a.zip")
    b = export_view(det, fmt, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    export_view(det, fmt, tmp_path / "dir")
    assert read_tree(unzip(tmp_path / "a.zip", tmp_path / "ua")) == read_tree(tmp_path / "dir")
    assert a.to_dict() == b.to_dict()
    assert "path" not in json.dumps(a.to_dict()) or a.path not in json.dumps(a.to_dict())
