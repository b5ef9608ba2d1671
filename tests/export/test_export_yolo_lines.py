"""YOLO label files formatted in bulk (export/formats/yolo_boxes.py): the same bytes as one line
at a time (``_box_line``, ``%.6f``), rounding and ties included, and every other region still
written or reported line by line."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dagstore.export import export_view
from dagstore.export.base import ExportContext
from dagstore.export.formats import yolo
from dagstore.export.formats.yolo import LabelFiles, _box_line, label_lines
from dagstore.export.formats.yolo_boxes import box_text
from dagstore.export.sinks import FolderSink
from dagstore.export.view import Item
from export_fixtures import image_bytes, img_ann, make_view
from helpers import read_tree


def _python(cls: list[int], boxes: list[list[Any]], sizes: list[tuple[float, float]]) -> bytes:
    return "".join(_box_line(c, b, s) + "\n" for c, b, s in zip(cls, boxes, sizes)).encode()


def _bulk(cls: list[int], boxes: list[list[Any]], sizes: list[tuple[float, float]]) -> tuple[bytes, list[int]]:
    text, offsets = box_text(np.array(cls, dtype=np.int64), np.array(boxes, dtype=np.float64).reshape(-1, 4),
                             np.array(sizes, dtype=np.float64).reshape(-1, 2))
    return text, offsets.tolist()


def test_rounding_is_that_of_percent_six_f_ties_to_even() -> None:
    # 1/128 = 0.0078125 and 3/128 = 0.0234375 are exact ties at six decimals: %.6f gives the even digit
    boxes = [[0.0, 0.0, 1.0, 3.0], [5.0, 0.0, 0.0, 0.0], [1.0, 1.0, 126.0, 126.0]]
    text, offsets = _bulk([0, 1, 2], boxes, [(128.0, 128.0)] * 3)
    assert text.decode().splitlines() == ["0 0.003906 0.011719 0.007812 0.023438",
                                          "1 0.039062 0.000000 0.000000 0.000000",
                                          "2 0.500000 0.500000 0.984375 0.984375"]
    assert offsets == [0, 38, 76, 114]
    # a value one ulp either side of a tie rounds away from it, as Python does
    for v in (np.nextafter(0.0000125, 0.0), 0.0000125, np.nextafter(0.0000125, 1.0), np.nextafter(0.9999995, 0.0), np.nextafter(0.9999995, 1.0)):
        line = _bulk([3], [[float(v), 0.0, 0.0, 0.0]], [(1.0, 1.0)])[0].decode()
        assert line == f"3 {float(v):.6f} 0.000000 0.000000 0.000000\n"
    assert _bulk([0], [[0.0000125, 0.0, 0.0, 0.0]], [(1.0, 1.0)])[0] == b"0 0.000013 0.000000 0.000000 0.000000\n"


def test_boxes_are_clipped_and_clamped_and_class_ids_of_any_width_kept() -> None:
    text, offsets = _bulk([7, 10, 12345], [[-10, -10, 20, 20], [90, 70, 50, 50], [10.5, 20.25, 30, 40]], [(100.0, 80.0)] * 3)
    assert text.decode().splitlines() == ["7 0.050000 0.062500 0.100000 0.125000",
                                          "10 0.950000 0.937500 0.100000 0.125000",
                                          "12345 0.255000 0.503125 0.300000 0.500000"]
    assert offsets == [0, 38, 77, 119]


def test_random_boxes_give_the_bytes_of_line_by_line_formatting() -> None:
    rng = random.Random(19)
    cls: list[int] = []
    boxes: list[list[Any]] = []
    sizes: list[tuple[float, float]] = []
    for i in range(60_000):
        w, h = rng.choice([(640, 480), (1280, 720), (800, 600), (1, 1), (3, 7), (1000.5, 333.3)])
        kind = i % 5
        if kind == 0:  # two decimals, as COCO imports give: many exact ties at six decimals
            b = [round(rng.uniform(-5, w), 2), round(rng.uniform(-5, h), 2), round(rng.uniform(0, w), 2), round(rng.uniform(0, h), 2)]
        elif kind == 1:  # integers
            b = [rng.randint(-3, int(w)), rng.randint(-3, int(h)), rng.randint(0, int(w) + 5), rng.randint(0, int(h) + 5)]
        elif kind == 2:  # binary fractions of the image: exact ties
            b = [rng.randint(0, 64) / 128 * w, rng.randint(0, 64) / 256 * h, rng.randint(0, 64) / 128 * w, rng.randint(0, 32) / 64 * h]
        elif kind == 3:  # anywhere, also outside the image and negative sizes
            b = [rng.uniform(-w, 2 * w), rng.uniform(-h, 2 * h), rng.uniform(-w, w), rng.uniform(-h, h)]
        else:  # signed zeros and NaN: lines Python formats (-0.000000, nan)
            b = [rng.choice([-0.0, 0.0, 1.0]), rng.choice([-0.0, 2.0, float("nan")]), rng.choice([-0.0, 0.0, 2.0]), -0.0]
        cls.append(rng.choice([0, 1, 9, 10, 99, 100, 4321]))
        boxes.append(b)
        sizes.append((float(w), float(h)))
    text, offsets = _bulk(cls, boxes, sizes)
    assert text == _python(cls, boxes, sizes)
    assert offsets[1:] == np.cumsum([len(_box_line(c, b, s)) + 1 for c, b, s in zip(cls, boxes, sizes)]).tolist()
    assert b"-0.000000" in text and b"nan" in text
    assert _bulk([], [], []) == (b"", [0])


def _items(n: int) -> list[Any]:
    """Items mixing plain boxes with what only label_lines writes or reports."""
    rng = random.Random(n)
    out = []
    for i in range(n):
        regions: list[dict[str, Any]] = []
        for k in range(rng.randint(0, 6)):
            r: dict[str, Any] = {"id": f"r{k}", "type": "box", "label": rng.choice(["a", "b", "c"]),
                                 "xywh": [round(rng.uniform(-2, 60), 2), round(rng.uniform(0, 40), 2), rng.randint(0, 30), round(rng.uniform(0, 30), 3)]}
            odd = rng.random()
            if odd < 0.03:
                r = {"id": f"p{k}", "type": "polygon", "label": "a", "points": [[1, 2], [30, 4], [10, 35]]}
            elif odd < 0.05:
                r["label"] = "unknown"
            elif odd < 0.07:
                r["rotation"] = 30.0
            elif odd < 0.08 and i < 1000:  # in the first chunk only: the others are formatted by numpy
                r["xywh"][1] = 2 ** 60  # beyond float64's exact integers: Python's arithmetic decides
            regions.append(r)
        ann = img_ann(64, 48, regions=regions) if i % 17 else {"split": "train", "regions": regions}  # no size: reported
        out.append(Item(f"img/{i:05d}.jpg", ann, "0" * 32, 1))
    return out


@pytest.mark.parametrize("obb, segments", [(False, False), (True, False), (False, True)])
def test_label_files_hold_label_lines_with_the_same_report(tmp_path: Path, obb: bool, segments: bool) -> None:
    view = make_view(tmp_path / "src", {}, ["a", "b", "c"])
    items = _items(2500)  # three chunks
    want_ctx = ExportContext(view, FolderSink(str(tmp_path / "unused")), {}, False, lambda it: it)
    want = {f"{it.path}.txt": "".join(line + "\n" for line in label_lines(want_ctx, it, "F", obb, segments)).encode() for it in items}
    sink = FolderSink(str(tmp_path / "out"))
    ctx = ExportContext(view, sink, {}, False, lambda it: it)
    files = LabelFiles(ctx, "F", obb, segments)
    for it in items:
        files.add(it, f"media/{it.path}", f"{it.path}.txt")
    files.flush()
    sink.commit()
    assert read_tree(tmp_path / "out") == want
    assert ctx.skipped == want_ctx.skipped and len(want_ctx.skipped) > 50


def test_a_coordinate_that_is_not_a_number_fails_as_line_by_line(tmp_path: Path) -> None:
    view = make_view(tmp_path / "src", {}, ["a"])
    item = Item("x.jpg", img_ann(10, 10, regions=[{"type": "box", "label": "a", "xywh": ["1", 2, 3, 4]}]), "0" * 32, 1)
    ctx = ExportContext(view, FolderSink(str(tmp_path / "out")), {}, False, lambda it: it)
    with pytest.raises(TypeError) as line_by_line:
        label_lines(ctx, item, "F")
    files = LabelFiles(ctx, "F")
    files.add(item, "x.jpg", "x.txt")
    with pytest.raises(TypeError) as bulk:
        files.flush()
    assert str(bulk.value) == str(line_by_line.value)


@pytest.mark.parametrize("fmt", ["YOLO", "YOLO_ULTRALYTICS"])
def test_an_export_across_chunks_writes_each_item_its_own_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(yolo, "_CHUNK", 4)  # several chunks, one item of mixed regions in the middle of one
    files = {f"img/{i}.jpg": (image_bytes(8, 8, seed=i), img_ann(100, 80, regions=[
        {"id": f"b{i}", "type": "box", "label": "b", "xywh": [i, 2 * i, 10.5, 7.25]}])) for i in range(10)}
    files["img/5.jpg"][1]["regions"].append({"id": "p", "type": "polygon", "label": "a", "points": [[0, 0], [50, 0], [50, 40]]})
    files["img/6.jpg"][1]["regions"].append({"id": "x", "type": "box", "label": "nope", "xywh": [1, 1, 2, 2]})
    rep = export_view(make_view(tmp_path / "src", files, ["a", "b"]), fmt, tmp_path / "out")
    tree = read_tree(tmp_path / "out")
    label = (lambda i: f"train/{i}.txt") if fmt == "YOLO" else (lambda i: f"labels/train/img/{i}.txt")
    for i in range(10):
        want = f"1 {(i + 5.25) / 100:.6f} {(2 * i + 3.625) / 80:.6f} 0.105000 0.090625\n"
        want += "0 0.250000 0.250000 0.500000 0.500000\n" if i == 5 else ""
        assert tree[label(i)].decode() == want, i
    assert [(s["path"], s["region"]) for s in rep.skipped] == [("img/5.jpg", "p"), ("img/6.jpg", "x")]  # the polygon written as its box is reported
    assert rep.total == 10 and json.loads(tree["export.json"])["counts"] == {"train": 10}
