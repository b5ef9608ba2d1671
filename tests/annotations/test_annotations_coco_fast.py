"""COCO images whose annotations are all plain boxes are stored as text written and checked
directly (no region objects, no schema pass): the same stored annotations, the same errors
and skips as the full way, for good and bad input alike."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.annotations import AnnotationError
from dagstore.annotations.importers import coco
from dagstore.annotations.schema import box_inside
from annotation_helpers import image, write_json

VALUES: list[Any] = [0, 1, 2.5, 10.25, 63.4, 63.6, 64.6, -0.4, -0.6, 1e-7, 30, float("nan"), True, "3"]


def _source(root: Path, seed: int) -> Path:
    """Images of 64x48 with boxes good and bad: out of the image, NaN, strings, unordered and
    duplicate ids, extra fields (score, attributes, keypoints, polygons), odd class names."""
    rnd = random.Random(seed)
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "it's \"odd\" é"}, {"id": 3, "name": "dog"}, {"id": 4.0, "name": "float id"}]
    images, anns = [], []
    for i in range(30):
        image(root / "images" / "train" / f"i{i}.jpg", 64, 48)
        images.append({"id": i + 1 if i % 13 else f"s{i}", "file_name": f"i{i}.jpg", "width": 64, "height": 48})
        for _ in range(rnd.choice([0, 1, 2, 3])):
            a: dict[str, Any] = {"id": rnd.choice([len(anns) + 1, len(anns) + 1, 500 - len(anns), 7]), "image_id": images[-1]["id"],
                                 "category_id": rnd.choice([1, 1, 1, 2, 3, 4, 9]), "bbox": [rnd.choice(VALUES[:4]) for _ in range(4)],
                                 "area": 1.0, "iscrowd": rnd.choice([0] * 9 + [1]), "segmentation": rnd.choice([[]] * 6 + [None, [[1, 1, 5, 1, 5, 5]]])}
            if rnd.random() < 0.2:  # a bad or borderline coordinate
                a["bbox"][rnd.randrange(4)] = rnd.choice(VALUES)
            for key, value in (("score", 0.5), ("attributes", {"occluded": True}), ("keypoints", [2, 2, 2]), ("caption", "c")):
                if rnd.random() < 0.05:
                    a[key] = value
            anns.append(a)
    write_json(root / "annotations" / "instances_train.json", {"images": images, "annotations": anns, "categories": cats})
    return root


def _import(root: Path, tmp: Path, **kw: Any) -> Any:
    st = Store(str(tmp / "store"), cache_dir=str(tmp / "cache"))
    ds = Dataset.create("c", "p", store=st)
    try:
        report = ds.import_annotations(str(root), "coco", show_progress=False, **kw)
    except AnnotationError as exc:
        return ("error", str(exc))
    state = ds._v.current()
    return sorted((p, e.hash, e.annotation) for p, e in state.items()), report.skipped, report.counts


@pytest.mark.parametrize("seed", range(2))
def test_plain_boxes_store_what_the_full_way_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    root = _source(tmp_path / "src", seed)
    fast = [_import(root, tmp_path / f"fast{i}", **kw) for i, kw in enumerate([{"on_error": "skip"}, {}, {"on_error": "skip", "split": "mine"}])]
    monkeypatch.setattr(coco, "plain_text", lambda *a: None)  # every image the full way
    full = [_import(root, tmp_path / f"full{i}", **kw) for i, kw in enumerate([{"on_error": "skip"}, {}, {"on_error": "skip", "split": "mine"}])]
    assert fast == full
    assert len(fast[0][0]) > 10 and fast[0][1]  # some images imported, some skipped


def test_most_images_of_a_plain_detection_set_take_the_direct_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _source(tmp_path / "src", 0)
    calls: list[bool] = []
    real = coco.plain_text

    def counted(*args: Any) -> str | None:
        text = real(*args)
        calls.append(text is not None)
        return text

    monkeypatch.setattr(coco, "plain_text", counted)
    _import(root, tmp_path / "t", on_error="skip")
    assert len(calls) == 30 and sum(calls) >= 10


def test_plain_text_is_the_canonical_encoding(tmp_path: Path) -> None:
    from dagstore.annotations.schema import encode

    media = {"kind": "image", "width": 64, "height": 48, "depth": 3}
    anns = [{"id": 9, "category_id": 2, "bbox": [1, 2.5, 3, 4], "segmentation": []}, {"id": 3, "category_id": 1, "bbox": [0.1, 0.2, 0.3, 0.4]}]
    labels = {1: coco._json_text("cat"), 2: coco._json_text("it's")}
    text = coco.plain_text(media, 7, anns, "val", labels)
    assert text == encode({"media": media, "source": {"tool": "coco", "image_id": 7}, "split": "val", "regions": [
        {"id": "3", "type": "box", "label": "cat", "xywh": [0.1, 0.2, 0.3, 0.4]},
        {"id": "9", "type": "box", "label": "it's", "xywh": [1.0, 2.5, 3.0, 4.0]}]})
    assert coco.plain_text(media, 7, [], None, labels) == encode({"media": media, "source": {"tool": "coco", "image_id": 7}})
    assert coco.plain_text(media, 7, anns + [dict(anns[0])], None, labels) is None  # duplicate ids: the full way reports
    assert json.loads(text.translate(str.maketrans({'"': "'", "'": '"'})))["regions"][1]["label"] == "it's"


EDGES: list[Any] = [-0.5, -0.5000001, 0, -0.0, 5e-324, -5e-324, 1.25, 63.5, 64.5, 64.5000001, 48.5, 48.5000001,
                    float("inf"), float("-inf"), float("nan"), True, "1"]


def test_a_plain_box_is_taken_exactly_when_the_full_ways_check_accepts_it() -> None:
    labels = {1: coco._json_text("cat")}
    taken = 0
    for bbox in itertools.product(EDGES, repeat=4):  # each corner on, just inside and just outside the tolerance
        plain = coco._plain_regions([{"id": 1, "category_id": 1, "bbox": list(bbox)}], (64.0, 48.0), labels)
        assert (plain is not None) == box_inside(list(bbox), (64, 48)), bbox
        taken += plain is not None
    assert 0 < taken < len(EDGES) ** 4


def _boxes_text(ids: list[int]) -> list[str] | None:
    anns = [{"id": i, "category_id": 1, "bbox": [1, 2, 3, 4]} for i in ids]
    return coco._plain_regions(anns, (64.0, 48.0), {1: coco._json_text("cat")})


def test_plain_boxes_come_in_the_order_of_their_ids() -> None:
    ids = [-10**30, 5, 10**30]  # the first id below any float bound
    expected = [f"{{'id':'{i}','label':'cat','type':'box','xywh':[1.0,2.0,3.0,4.0]}}" for i in ids]
    assert _boxes_text(ids) == _boxes_text([10**30, -10**30, 5]) == expected
    assert _boxes_text([3, 5, 3]) is None and _boxes_text([4, 4]) is None  # duplicate ids: the full way reports them
