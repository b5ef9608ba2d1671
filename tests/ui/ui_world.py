"""A small store for the UI tests: images with boxes, polygons and keypoints, text, JSON, CSV
and Parquet files, a file named with ``<script>``, a child version, another dataset, a draft."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from dagstore import Dataset, Store

XSS = "<script>alert('x')<\\script><img src=x onerror=alert(2)>.txt"
CLASSES = ["cat", "dog", "bird"]


@dataclass
class World:
    url: str
    storage_options: dict[str, Any]
    cache_dir: str
    first: str  # version ids
    child: str
    other: str
    draft: str

    def store(self) -> Store:
        return Store(self.url, storage_options=self.storage_options or None, cache_dir=self.cache_dir)


def _image(path: Path, color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), color).save(path)


def _ann(i: int) -> dict[str, Any]:
    regions: list[dict[str, Any]] = [{"type": "box", "xywh": [4, 4, 20, 16], "label": CLASSES[i % 3], "id": "r1"}]
    if i % 4 == 1:
        regions.append({"type": "polygon", "points": [[30, 5], [60, 10], [40, 40]], "label": "dog", "id": "r2"})
    if i % 4 == 2:
        regions.append({"type": "keypoints", "points": [[10, 10, 2], [20, 30, 2]], "label": "bird", "id": "r3"})
    return {"split": "train" if i < 8 else "test", "media": {"kind": "image", "width": 64, "height": 48}, "regions": regions}


def build(root: Path, url: str, storage_options: dict[str, Any] | None = None) -> World:
    src = root / "src"
    for i in range(12):
        _image(src / "images" / f"img_{i:02d}.jpg", (20 * i % 255, 120, 200 - 10 * i))
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "readme.txt").write_text("hello dagstore\n" * 3)
    (src / "docs" / XSS).write_text("<b>not bold</b>")
    (src / "docs" / "meta.json").write_text(json.dumps({"a": [1, 2, 3], "b": "<i>x</i>"}))
    (src / "tables").mkdir()
    (src / "tables" / "scores.csv").write_text("id,score,name\n" + "".join(f"{i},{i / 3:.3f},n{i % 4}\n" for i in range(40)))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": list(range(50)), "y": [i * 2.5 for i in range(50)], "tag": [f"t{i % 3}" for i in range(50)]}),
                   src / "tables" / "data.parquet")
    cache = str(root / "cache")
    st = Store(url, storage_options=storage_options or None, cache_dir=cache)
    ds = Dataset.create("pets", "vision", store=st, classes=CLASSES, dataset_tags=["curated"], description="Pets <em>v1</em>")
    ds.add_files(src, show_progress=False)
    ds.set_annotations({f"images/img_{i:02d}.jpg": _ann(i) for i in range(12)})
    ds.upload(show_progress=False)
    ds.finalize()
    child = Dataset.create("pets", "vision", store=st, parent_datasets=[ds])
    ann = _ann(3)
    ann["regions"][0]["label"] = "dog"
    child.set_annotation("images/img_03.jpg", ann)
    child.remove_files("docs/readme.txt")
    child.upload(show_progress=False)
    child.finalize()
    child.publish()
    other = Dataset.create("logs", "text", store=st, dataset_tags=["raw"])
    other.add_files(src / "docs", show_progress=False)
    other.upload(show_progress=False)
    other.finalize()
    draft = Dataset.create("pets", "vision", store=st, parent_datasets=[child])
    return World(url, dict(storage_options or {}), cache, ds.id, child.id, other.id, draft.id)
