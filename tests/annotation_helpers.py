"""Generated inputs for the annotation tests."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

DATA = Path(__file__).parent / "data" / "annotations"


def image(path: Path, w: int = 64, h: int = 48, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (w, h), (10, 20, 30)).save(path, fmt)
    return path


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def coco_set(root: Path, n: int = 3, split: str = "train", w: int = 64, h: int = 48) -> Path:
    """``root/annotations/instances_<split>.json`` + ``root/images/<split>/img<i>.jpg`` with one
    box per image (category ids 1, 3 with a gap)."""
    images, anns = [], []
    for i in range(n):
        image(root / "images" / split / f"img{i}.jpg", w, h)
        images.append({"id": i + 1, "file_name": f"img{i}.jpg", "width": w, "height": h})
        anns.append({"id": 100 + i, "image_id": i + 1, "category_id": 1 if i % 2 == 0 else 3, "bbox": [1.0, 2.0, 10.0, 5.0], "area": 50.0, "iscrowd": 0, "segmentation": []})
    write_json(root / "annotations" / f"instances_{split}.json", {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}]})
    return root


def huge_png(width: int = 30000, height: int = 20000, color_type: int = 2) -> bytes:
    """A PNG header of ``width`` x ``height`` 8-bit pixels (RGB; 0: grey) and no pixel data:
    600 Mpx by default, over twice Pillow's ``MAX_IMAGE_PIXELS``, so nothing may decode it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
