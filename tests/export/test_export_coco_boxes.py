"""COCO plain boxes formatted in bulk (export/formats/coco_boxes.py): the same bytes as one box at
a time (``box_tail``: ``repr(round(v, 4))``), ties, signs and odd values included, and an export
across chunks of items that mix plain boxes with regions written the long way."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dagstore.export import export_view
from dagstore.export.formats import coco
from dagstore.export.formats.coco_boxes import box_tail, box_tails
from export_fixtures import image_bytes, img_ann, make_view
from helpers import read_tree


def _python(cats: list[int], nums: list[Any]) -> list[str]:
    return [box_tail(c, *(float(v) for v in nums[4 * i:4 * i + 4])) for i, c in enumerate(cats)]


def test_rounding_is_that_of_round_to_four_decimals_ties_to_even() -> None:
    # 1/32 = 0.03125 and 3/32 = 0.09375 are exact ties at four decimals: round() keeps the even digit
    tails = box_tails([3, 12], [0.03125, 0.09375, 2.0, -0.0, 1e-05, -4e-05, 640, 0.5])
    assert tails == ['"category_id":3,"iscrowd":0,"bbox":[0.0312,0.0938,2.0,-0.0],"area":-0.0}',
                     '"category_id":12,"iscrowd":0,"bbox":[0.0,-0.0,640.0,0.5],"area":320.0}']
    for v in (np.nextafter(0.03125, 0.0), np.nextafter(0.03125, 1.0), np.nextafter(1.00005, 0.0), 1.00005, np.nextafter(1.00005, 2.0)):
        assert box_tails([1], [float(v), 0, 1, 1]) == _python([1], [float(v), 0, 1, 1])


def _value(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.2:
        return round(rng.uniform(-5, 2000), 2)
    if r < 0.3:
        return rng.randrange(-100, 5000) / 32  # exact binary ties
    if r < 0.4:
        return (rng.randrange(0, 10 ** 7) + 0.5) / 1e4  # near ties
    if r < 0.45:
        return rng.choice([0.0, -0.0, 1e-5, -5e-5, 0.00015, 429496.7, 429497.0, -429496.72, 1e300, float("nan"), float("inf"), 2.675])
    if r < 0.5:
        return rng.randrange(-10, 10 ** 6)  # ints, some beyond six integer digits
    if r < 0.55:
        return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]  # any double
    return rng.uniform(-1000, 1000)


def test_random_boxes_give_the_bytes_of_one_by_one_formatting() -> None:
    rng = random.Random(19)
    for n in (0, 1, 7, 5000):
        cats = [rng.choice([0, 1, 7, 12, 1000, -3]) for _ in range(n)]
        nums = [_value(rng) for _ in range(4 * n)]
        assert box_tails(cats, nums) == _python(cats, nums)


def test_numbers_float_takes_are_formatted_and_others_fail_as_one_by_one() -> None:
    assert box_tails([1], ["1.5", 2, True, 4.25]) == _python([1], ["1.5", 2, True, 4.25])
    assert box_tails([2 ** 64 - 1, 5], [1.5] * 8) == _python([2 ** 64 - 1, 5], [1.5] * 8)  # an id beyond int64 (orjson reads up to 2**64 - 1)
    for bad in ("abc", None, 2 ** 1100, [1]):
        with pytest.raises((TypeError, ValueError, OverflowError)) as one_by_one:
            _python([1], [bad, 0, 1, 1])
        with pytest.raises(type(one_by_one.value)) as bulk:
            box_tails([1], [bad, 0, 1, 1])
        assert str(bulk.value) == str(one_by_one.value)


def _files() -> dict[str, tuple[bytes, dict[str, Any]]]:
    files = {f"img/{i}.jpg": (image_bytes(8, 8, seed=i), img_ann(100, 80, split="val" if i % 3 == 0 else "train", regions=[
        {"id": f"b{i}", "type": "box", "label": "b", "xywh": [i + 0.03125, 2 * i, 10.5, 7.25]},
        {"id": f"c{i}", "type": "box", "label": "a", "xywh": [1, 1, i, 0.09375]}])) for i in range(11)}
    files["img/5.jpg"][1]["regions"].append({"id": "p", "type": "polygon", "label": "a", "points": [[0, 0], [50, 0], [50, 40]]})
    files["img/6.jpg"][1]["regions"].append({"id": "x", "type": "box", "label": "nope", "xywh": [1, 1, 2, 2]})
    files["img/7.jpg"][1]["regions"] = []
    files["img/8.jpg"][1]["regions"][0]["rotation"] = 30.0
    return files


def test_an_export_across_chunks_gives_the_bytes_of_one_by_one_formatting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    view = make_view(tmp_path / "src", _files(), ["a", "b"])
    monkeypatch.setattr(coco, "_CHUNK", 4)  # several chunks, items written the long way inside them
    rep = export_view(view, "coco", tmp_path / "bulk")
    monkeypatch.setattr(coco, "box_tails", _python)
    one_by_one = export_view(view, "coco", tmp_path / "python")
    bulk, want = read_tree(tmp_path / "bulk"), read_tree(tmp_path / "python")
    assert {k: v for k, v in bulk.items() if k != "export.json"} == {k: v for k, v in want.items() if k != "export.json"}
    assert rep.skipped == one_by_one.skipped and [(s["path"], s["region"]) for s in rep.skipped] == [("img/6.jpg", "x"), ("img/8.jpg", "b8")]
    doc = json.loads(bulk["annotations/train.json"])
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    first = next(a for a in doc["annotations"] if a["image_id"] == 1)
    assert first["bbox"] == [1.0312, 2.0, 10.5, 7.25] and first["area"] == 76.125 and first["category_id"] == 2
    for split in ("train", "val"):  # each image's boxes are its own, in its regions' order
        doc = json.loads(bulk[f"annotations/{split}.json"])
        for img in doc["images"]:
            i = int(img["file_name"].rsplit("/", 1)[1].split(".")[0])
            boxes = [a["bbox"] for a in doc["annotations"] if a["image_id"] == img["id"]]
            want = [] if i == 7 else [[round(i + 0.03125, 4), 2 * i, 10.5, 7.25], [1.0, 1.0, i, 0.0938]]
            assert boxes[1:2] == want[1:] if i == 8 else boxes[:2] == want, i  # img/8's first box is rotated: its envelope
