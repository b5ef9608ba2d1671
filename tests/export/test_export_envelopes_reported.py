"""A region a box-only format writes as its bounding box (a polygon, a mask, a rotated box) is
reported in ``export.json``, as VOC does: YOLO, Ultralytics and ImageFolder ``objects`` too."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore.export import export_view
from export_fixtures import image_bytes, img_ann, make_view

_REGIONS = [
    {"id": "b", "type": "box", "label": "cat", "xywh": [10.0, 10.0, 20.0, 20.0]},
    {"id": "p", "type": "polygon", "label": "dog", "points": [[50, 10], [90, 10], [70, 50]]},
    {"id": "r", "type": "box", "label": "cat", "xywh": [30.0, 30.0, 20.0, 10.0], "rotation": 30.0},
]


@pytest.mark.parametrize("fmt", ["YOLO", "YOLO_ULTRALYTICS", "IMAGEFOLDER"])
def test_polygons_and_rotated_boxes_written_as_boxes_are_reported(tmp_path: Path, fmt: str) -> None:
    files = {"a.jpg": (image_bytes(100, 80), img_ann(100, 80, regions=_REGIONS))}
    rep = export_view(make_view(tmp_path / "src", files, ["cat", "dog"]), fmt, tmp_path / "out")
    reasons = {s["region"]: s["reason"] for s in rep.skipped}
    assert set(reasons) == {"p", "r"}  # the plain box is exact; the other two are envelopes
    assert "polygon written as its bounding box" in reasons["p"]
    assert "envelope" in reasons["r"]
    if fmt == "YOLO_ULTRALYTICS":
        assert "segments=True" in reasons["p"]
