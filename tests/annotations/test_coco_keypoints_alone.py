"""A COCO annotation holding keypoints alone (a bbox without size, as the COCO export writes a
keypoints region of its own) imports as that keypoints region, with no empty box beside it; a
keypoints annotation with a real box keeps both."""

from __future__ import annotations

from pathlib import Path

from dagstore.annotations.importers import read_source

from annotation_helpers import image, write_json


def test_keypoints_without_a_box_import_as_keypoints_only(tmp_path: Path) -> None:
    image(tmp_path / "images" / "train" / "a.jpg", 64, 48)
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [5.0, 6.0, 0.0, 0.0], "area": 0.0,
             "keypoints": [5.0, 6.0, 2], "num_keypoints": 1},
            {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "bbox": [1.0, 2.0, 30.0, 20.0], "area": 600.0,
             "keypoints": [10.0, 10.0, 2], "num_keypoints": 1}]
    write_json(tmp_path / "annotations" / "instances_train.json",
               {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}], "annotations": anns,
                "categories": [{"id": 1, "name": "nose"}, {"id": 2, "name": "person"}]})
    ctx, stack = read_source(str(tmp_path), "coco")
    stack.close()
    regions = ctx.items["train/a.jpg"].annotation["regions"]
    assert regions == [{"id": "1", "type": "keypoints", "label": "nose", "points": [[5.0, 6.0, 2]]},
                       {"id": "2", "label": "person", "type": "box", "xywh": [1.0, 2.0, 30.0, 20.0]},
                       {"id": "2.kp", "type": "keypoints", "label": "person", "parent": "2", "points": [[10.0, 10.0, 2]]}]
