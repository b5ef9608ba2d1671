"""Views built from the annotation schema (DESIGN-annotations 1.1) for the export tests."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagstore.export import ClassInfo, LocalView
from dagstore.export.view import class_infos
from dagstore import Dataset
from helpers import write_tree


def image_bytes(width: int, height: int, fmt: str = "JPEG", seed: int = 0) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, 120))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    import numpy as np
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(int(seconds * rate), dtype="float32"), rate, format="WAV")
    return buf.getvalue()


def make_view(root: Path, files: Mapping[str, tuple[bytes, dict[str, Any] | None]], classes: list[Any], version_id: str = "v" * 32) -> LocalView:
    """A view over ``root`` holding ``files`` (path → (content, annotation)) in path order."""
    for path, (data, _) in files.items():
        f = root.joinpath(*path.split("/"))
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    anns = sorted((p, a) for p, (_, a) in files.items())
    return LocalView(version_id, str(root), lambda: iter(anns), class_infos(classes), name="pets", project="tests")


def img_ann(w: int, h: int, split: str | None = "train", **extra: Any) -> dict[str, Any]:
    ann: dict[str, Any] = {"media": {"kind": "image", "width": w, "height": h, "depth": 3}}
    if split:
        ann["split"] = split
    ann.update(extra)
    return ann


def detection_view(root: Path) -> LocalView:
    """Images with boxes, a polygon, keypoints on a box, a same-named image in another folder,
    an image without annotations and one without a split."""
    files = {
        "imgs/a.jpg": (image_bytes(100, 80, seed=1), img_ann(100, 80, regions=[
            {"id": "r1", "type": "box", "label": "cat", "xywh": [10.0, 20.0, 30.0, 40.0]},
            {"id": "r2", "type": "polygon", "label": "dog", "points": [[50, 10], [90, 10], [90, 50], [50, 50]]},
            {"id": "r3", "type": "keypoints", "label": "cat", "points": [[15, 25, 2], [30, 50, 1]], "parent": "r1"},
        ])),
        "more/a.jpg": (image_bytes(60, 40, seed=2), img_ann(60, 40, regions=[
            {"id": "r1", "type": "box", "label": "dog", "xywh": [0.0, 0.0, 60.0, 40.0]},
        ])),
        "val/b.png": (image_bytes(50, 50, "PNG", seed=3), img_ann(50, 50, split="valid", regions=[
            {"id": "r1", "type": "box", "label": "bird", "xywh": [5.5, 5.5, 20.0, 10.0]},
        ])),
        "val/empty.jpg": (image_bytes(40, 30, seed=4), img_ann(40, 30, split="valid")),
        "nosplit.jpg": (image_bytes(32, 32, seed=5), img_ann(32, 32, split=None, regions=[
            {"id": "r1", "type": "box", "label": "cat", "xywh": [1.0, 2.0, 3.0, 4.0]},
        ])),
    }
    return make_view(root, files, ["cat", "dog", "bird"])


def classification_view(root: Path) -> LocalView:
    files = {
        "x/1.jpg": (image_bytes(20, 20, seed=1), img_ann(20, 20, labels=["cat"], fields={"caption": "a cat"})),
        "y/1.jpg": (image_bytes(20, 20, seed=2), img_ann(20, 20, labels=["cat"])),
        "2.jpg": (image_bytes(20, 20, seed=3), img_ann(20, 20, split="test", labels=["dog"], fields={"caption": "a dog"})),
        "3.jpg": (image_bytes(20, 20, seed=4), img_ann(20, 20)),
    }
    return make_view(root, files, ["cat", "dog"])


TEXT = "Alice met Bob in Paris. Then they flew to New York!\nCafé Zoë opened."


def ner_view(root: Path) -> LocalView:
    files = {
        "docs/1.txt": (TEXT.encode(), {"split": "train", "regions": [
            {"id": "a", "type": "span", "label": "PER", "start": 0, "end": 5},
            {"id": "b", "type": "span", "label": "PER", "start": 10, "end": 13},
            {"id": "c", "type": "span", "label": "LOC", "start": 17, "end": 22},
            {"id": "d", "type": "span", "label": "LOC", "start": 42, "end": 50},
            {"id": "e", "type": "span", "label": "ORG", "start": 52, "end": 60},
        ]}),
        "docs/2.txt": ("Bob likes Paris".encode(), {"split": "test", "regions": [
            {"id": "a", "type": "span", "label": "PER", "start": 0, "end": 3},
        ]}),
    }
    return make_view(root, files, ["PER", "LOC", "ORG"])


def unzip(path: str | os.PathLike[str], dest: Path) -> Path:
    with zipfile.ZipFile(path) as z:
        z.extractall(dest)
    return dest


__all__ = ["ClassInfo", "make_view", "detection_view", "classification_view", "ner_view", "image_bytes", "wav_bytes", "img_ann", "unzip", "ls_media", "TEXT"]


def ls_media(folder: Path, tasks_json: Path) -> Path:
    """Blank images of the sizes a Label Studio export's results give, named as its tasks
    refer to them (the SDK's test data ships no images)."""
    import json as _json

    folder.mkdir(parents=True, exist_ok=True)
    for t in _json.loads(tasks_json.read_text()):
        sizes = [(r["original_width"], r["original_height"]) for a in t["annotations"] for r in a["result"] if "original_width" in r]
        name = str(t["data"]["image"]).rsplit("/", 1)[-1]
        (folder / name).write_bytes(image_bytes(*sizes[0]))
    return folder


__all__ = ["ClassInfo", "make_view", "detection_view", "classification_view", "ner_view", "image_bytes", "wav_bytes", "img_ann", "unzip", "ls_media", "TEXT"]


def ls_view(root: Path, tasks_json: Path, classes: list[str]) -> tuple[LocalView, dict[str, str]]:
    """A view made from a Label Studio export (the latest annotation of each task, boxes and
    polygons converted from percent to pixels), with blank images of the tasks' sizes. Test
    scaffolding for comparing exports with the Label Studio converter; returns the view and
    a map from dataset path to the task's image name."""
    import json as _json

    tasks = _json.loads(tasks_json.read_text())
    files: dict[str, tuple[bytes, dict[str, Any] | None]] = {}
    names: dict[str, str] = {}
    for t in tasks:
        ann = max(t["annotations"], key=lambda a: (a.get("created_at") or "", a["id"]))
        w = h = None
        regions = []
        for r in ann["result"]:
            w, h = r.get("original_width", w), r.get("original_height", h)
            v = r["value"]
            if r["type"] == "rectanglelabels":
                regions.append({"id": r["id"], "type": "box", "label": v["rectanglelabels"][0],
                                "xywh": [v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100, v["height"] * h / 100],
                                "rotation": float(v.get("rotation") or 0)})
            elif r["type"] == "polygonlabels":
                regions.append({"id": r["id"], "type": "polygon", "label": v["polygonlabels"][0],
                                "points": [[x * w / 100, y * h / 100] for x, y in v["points"]]})
        path = f"{t['id']}.jpg"
        names[path] = str(t["data"]["image"]).rsplit("/", 1)[-1]
        files[path] = (image_bytes(int(w), int(h)), img_ann(int(w), int(h), regions=regions))
    return make_view(root, files, classes), names


BOXES = [[2.0, 3.0, 10.0, 8.0], [20.0, 10.0, 5.0, 5.0]]


def labelled(tmp_path: Path, name: str = "pets", n: int = 6) -> Dataset:
    """A final version: n images in two folders (same names in both), boxes, splits."""
    files = {}
    for i in range(n):
        files[f"{'a' if i % 2 else 'b'}/img{i // 2}.jpg"] = image_bytes(40, 30, seed=i)
    write_tree(tmp_path / name, files)
    ds = Dataset.create(name, "vision")
    ds.add_files(tmp_path / name, show_progress=False)
    ds.add_classes(["cat", "dog"])
    for i, path in enumerate(sorted(files)):
        regions = [{"id": f"r{k}", "type": "box", "label": ("cat", "dog")[k], "xywh": BOXES[k]} for k in range(i % 3)]
        ds.set_annotation(path, {"split": ("train", "train", "test")[i % 3], "media": {"kind": "image", "width": 40, "height": 30}, "regions": regions})
    ds.upload(show_progress=False)
    ds.finalize()
    return ds