"""Export → import (the annotations importers) → export gives the same bytes, for what each
format can express. Version ids (in `.names`/`.csv` file names, config and export.json) are
the only difference allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore import Dataset
from export_fixtures import image_bytes
from helpers import read_tree, write_tree

IMG = {"kind": "image", "width": 100, "height": 80, "depth": 3}


def _final(ds: Dataset) -> Dataset:
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def detection(tmp_path: Path) -> Dataset:
    files = {"train/a.jpg": image_bytes(100, 80, seed=1), "train/sub/b.jpg": image_bytes(100, 80, seed=2), "val/c.jpg": image_bytes(100, 80, seed=3)}
    write_tree(tmp_path / "det", files)
    ds = Dataset.create("det", "rt")
    ds.add_files(tmp_path / "det", show_progress=False)
    ds.add_classes(["cat", "dog"])
    boxes = {"train/a.jpg": [("cat", [10, 20, 30, 40]), ("dog", [50, 0, 50, 40])], "train/sub/b.jpg": [("dog", [0, 0, 25, 20])], "val/c.jpg": []}
    for path, regs in boxes.items():
        regions = [{"id": f"r{i}", "type": "box", "label": lab, "xywh": [float(v) for v in xywh]} for i, (lab, xywh) in enumerate(regs)]
        ds.set_annotation(path, {"split": path.split("/")[0], "media": IMG, **({"regions": regions} if regions else {})})
    return _final(ds)


def classification(tmp_path: Path) -> Dataset:
    files = {"train/cat/1.jpg": image_bytes(20, 20, seed=1), "train/dog/2.jpg": image_bytes(20, 20, seed=2), "test/cat/3.jpg": image_bytes(20, 20, seed=3)}
    write_tree(tmp_path / "cls", files)
    ds = Dataset.create("cls", "rt")
    ds.add_files(tmp_path / "cls", show_progress=False)
    ds.add_classes(["cat", "dog"])
    for path in files:
        split, label, _ = path.split("/")
        ds.set_annotation(path, {"split": split, "labels": [label]})
    return _final(ds)


def ner(tmp_path: Path) -> Dataset:
    files = {"train/1.txt": "Alice met Bob in Paris .\nThen they flew to New York .", "test/2.txt": "Bob likes Paris"}
    write_tree(tmp_path / "ner", files)
    ds = Dataset.create("ner", "rt")
    ds.add_files(tmp_path / "ner", show_progress=False)
    ds.add_classes(["PER", "LOC"])
    spans = {"train/1.txt": [(0, 5, "PER"), (10, 13, "PER"), (17, 22, "LOC"), (43, 51, "LOC")], "test/2.txt": [(0, 3, "PER"), (10, 15, "LOC")]}
    for path, ss in spans.items():
        ds.set_annotation(path, {"split": path.split("/")[0], "regions": [{"id": f"s{i}", "type": "span", "label": lab, "start": s, "end": e} for i, (s, e, lab) in enumerate(ss)]})
    return _final(ds)


def _tree(root: Path, version_id: str) -> dict[str, bytes]:
    out = {}
    for p, data in read_tree(root).items():
        out[p.replace(version_id, "<id>")] = data.replace(version_id.encode(), b"<id>")
    return out


CASES = [
    ("COCO", "coco", detection, {}),
    ("YOLO_ULTRALYTICS", "yolo", detection, {}),
    ("VOC", "voc", detection, {}),
    ("FOLDERS", "folders", classification, {}),
    ("CSV", "csv", classification, {}),
    ("SPACY_NER", "spacy_ner", ner, {}),
    ("CONLL2003", "conll2003", ner, {}),
    ("IMAGEFOLDER", "folders", classification, {}),
    ("TSV", "csv", classification, {}),
    ("YOLO", "yolo", detection, {}),
    ("JSON", "labelstudio", detection, {"media": "media", "source": "tasks.json"}),
]


@pytest.mark.parametrize("fmt,importer,make,opts", CASES, ids=[c[0] for c in CASES])
def test_export_import_export_gives_the_same_bytes(tmp_path: Path, fmt: str, importer: str, make, opts: dict) -> None:
    ds = make(tmp_path)
    ds.export(fmt, tmp_path / "a")
    again = Dataset.create(f"{ds.name}-again", "rt")
    opts = dict(opts)
    if "media" in opts:
        opts["media"] = str(tmp_path / "a" / opts["media"])
    again.import_annotations(str(tmp_path / "a" / opts.pop("source", "")), importer, **opts)
    _final(again)
    again.export(fmt, tmp_path / "b")
    assert _tree(tmp_path / "b", again.id) == _tree(tmp_path / "a", ds.id)
