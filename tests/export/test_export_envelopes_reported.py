"""What an export changes is reported in ``export.json``: a region a box-only format writes as its
bounding box (a polygon, a mask, a rotated box) and a COCO keypoint merged under another label."""

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


def test_coco_reports_keypoints_of_another_label_merged_into_their_parent_box(tmp_path: Path) -> None:
    regs = [{"id": "p", "type": "box", "label": "person", "xywh": [10.0, 10.0, 50.0, 50.0]},
            {"id": "k1", "type": "keypoints", "label": "nose", "parent": "p", "points": [[20.0, 20.0, 2]]},
            {"id": "k2", "type": "keypoints", "label": "person", "parent": "p", "points": [[30.0, 30.0, 2]]}]
    files = {"a.jpg": (image_bytes(100, 80), img_ann(100, 80, regions=regs))}
    rep = export_view(make_view(tmp_path / "src", files, ["person", "nose"]), "COCO", tmp_path / "out")
    # both points are merged into the box; only the one whose label COCO loses is reported
    assert [(s["region"], "'nose'" in s["reason"]) for s in rep.skipped] == [("k1", True)]
