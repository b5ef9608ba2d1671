"""A Label Studio import keeps each result's own control names (``from_name``, ``to_name``) and
the Label Studio exports (JSON, JSON_MIN) write them back, so the Label Studio SDK's converter,
given the project's own labelling config, reads our export as it reads the original; regions
and labels that came from elsewhere keep dagstore's names."""

from __future__ import annotations

import json
from pathlib import Path

from dagstore import Dataset
from annotation_helpers import image, write_json

CONFIG = """<View>
  <Image name="img" value="$image"/>
  <RectangleLabels name="bbox" toName="img"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <Choices name="weather" toName="img"><Choice value="sunny"/><Choice value="rainy"/></Choices>
  <Choices name="quality" toName="img"><Choice value="sharp"/><Choice value="blurry"/></Choices>
</View>"""


def _box(rid: str, label: str, x: float) -> dict:
    return {"id": rid, "type": "rectanglelabels", "from_name": "bbox", "to_name": "img", "original_width": 64, "original_height": 48,
            "value": {"x": x, "y": 25.0, "width": 25.0, "height": 50.0, "rotation": 0, "rectanglelabels": [label]}}


def _choice(name: str, value: str) -> dict:
    return {"id": f"c-{name}", "type": "choices", "from_name": name, "to_name": "img", "value": {"choices": [value]}}


TASKS = [{"id": 7, "data": {"image": "/data/local-files/?d=a.jpg"},
          "annotations": [{"id": 70, "created_at": "2026-01-02T03:04:05Z", "completed_by": 1,
                           "result": [_box("b1", "cat", 12.5), _choice("weather", "sunny"), _choice("quality", "blurry")]}],
          "predictions": [{"id": 71, "model_version": "m1", "result": [_box("p1", "dog", 50.0)]}]}]


def _names(task: dict) -> list[tuple[str, str, str]]:
    return sorted((r["type"], r["from_name"], r["to_name"]) for a in [*task["annotations"], *task["predictions"]] for r in a["result"])


def _json_min(tasks: Path, tmp: Path) -> list[dict]:
    from label_studio_sdk.converter import Converter

    (tmp / "config.xml").write_text(CONFIG, encoding="utf-8")
    Converter(config=str(tmp / "config.xml"), project_dir=str(tmp), download_resources=False).convert_to_json_min(
        str(tasks), str(tmp / "min"), is_dir=False)
    return json.loads(next((tmp / "min").glob("*.json")).read_text())


def _controls(row: dict) -> dict:
    """What the converter read under the config's control names (boxes rounded)."""
    return {"bbox": [(b["rectanglelabels"], round(b["x"], 6), round(b["width"], 6)) for b in row.get("bbox", [])],
            "weather": row.get("weather"), "quality": row.get("quality")}


def test_label_studio_control_names_survive_import_and_export(tmp_path):
    image(tmp_path / "media/a.jpg", 64, 48)
    source = write_json(tmp_path / "ls.json", TASKS)
    ds = Dataset.create("names", "ls")
    ds.import_annotations(source, "labelstudio", media=tmp_path / "media", show_progress=False)
    ds.finalize(auto_upload=True)

    ds.export("JSON", tmp_path / "json", include_media=False)
    ours = json.loads((tmp_path / "json/tasks.json").read_text())
    assert _names(ours[0]) == _names(TASKS[0]) == [("choices", "quality", "img"), ("choices", "weather", "img"),
                                                    ("rectanglelabels", "bbox", "img"), ("rectanglelabels", "bbox", "img")]
    # the SDK's converter, given the project's config, reads our export as it reads the original
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    theirs = _json_min(source, tmp_path / "a")
    again = _json_min(tmp_path / "json/tasks.json", tmp_path / "b")
    assert _controls(again[0]) == _controls(theirs[0]) == {"bbox": [(["cat"], 12.5, 25.0)], "weather": "sunny", "quality": "blurry"}

    ds.export("JSON_MIN", tmp_path / "min", include_media=False)
    row = json.loads((tmp_path / "min/tasks.json").read_text())[0]
    assert row["weather"] == "sunny" and row["quality"] == "blurry" and row["bbox"][0]["rectanglelabels"] == ["cat"]


def test_regions_and_labels_from_elsewhere_keep_dagstore_names(tmp_path):
    image(tmp_path / "media/a.jpg", 64, 48)
    ds = Dataset.create("names", "ls")
    ds.import_annotations(write_json(tmp_path / "ls.json", TASKS), "labelstudio", media=tmp_path / "media", show_progress=False)
    ds.finalize(auto_upload=True)
    child = Dataset.create("names", "ls", parent_datasets=[ds.id])
    ann = child.get_annotation("a.jpg")
    ann["regions"].append({"id": "new", "type": "box", "label": "dog", "xywh": [1, 2, 3, 4]})  # drawn in dagstore
    child.add_classes(["rainy"])
    ann["labels"].append("rainy")  # a label no Label Studio control gave
    child.set_annotation("a.jpg", ann)
    child.finalize(auto_upload=True)
    child.export("JSON", tmp_path / "json", include_media=False)
    results = json.loads((tmp_path / "json/tasks.json").read_text())[0]["annotations"][0]["result"]
    names = {r["id"]: (r["from_name"], r["to_name"], r["value"].get("choices")) for r in results}
    assert names == {"b1": ("bbox", "img", None), "new": ("label", "image", None), "choice": ("weather", "img", ["sunny"]),
                     "choice_1": ("quality", "img", ["blurry"]), "choice_2": ("choice", "image", ["rainy"])}
