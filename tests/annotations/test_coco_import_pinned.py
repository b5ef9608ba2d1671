"""A COCO import's result is pinned: a fixed source always gives the same finalized manifest
(its key is the hash of its bytes), the same report and the same stored annotation texts, on
the direct way for plain boxes (coordinates' texts remembered, JPEG headers remembered) and
the full way alike. The images are JPEG headers built byte by byte (no encoder's version in
the result): plain and unusual boxes, EXIF orientations, sizes alternating and repeating."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.annotations.importers import coco
from dagstore.annotations.jpeg import JpegProbe, probe_jpeg
from annotation_helpers import write_json

# The manifest key and report this source got from main at 77be29e (before the import's third pass).
PINNED_MANIFEST = "manifests/54a40e80fe4069d3c030b2fb8929aedc"
PINNED_COUNTS = {"train": 35}
PINNED_SKIPPED = [
    ("instances_train.json", "annotations[image_id=999]: refers to an image that is not in images"),
    ("instances_train.json: 017.jpg", "file_name: image not found under images/ (annotation without its image)"),
    ("instances_train.json: 026.jpg", "annotations[id=260].category_id: unknown class id 9 (not in categories)"),
    ("instances_train.json: 030.jpg", "annotations[id=5001].category_id: unknown class id None (not in categories)"),
    ("instances_train.json: 010.jpg", "regions[0].xywh: point (63.4, 47.5) lies outside the 48x64 image"),
    ("instances_train.json: 022.jpg", "regions[1].id: duplicate region id '220'"),
]


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def _exif(orientation: int) -> bytes:
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, orientation) + b"\0\0\0\0"
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd


def jpeg(w: int, h: int, seed: int, orientation: int | None = None, gray: bool = False) -> bytes:
    """A baseline JPEG's header (JFIF, optional EXIF, quantization table, frame, scan) and
    ``seed``'s bytes as its scan: what the header probe reads, the same on every machine."""
    comps = b"\x01\x11\x00" if gray else b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out = b"\xff\xd8" + _segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    if orientation is not None:
        out += _segment(0xE1, _exif(orientation))
    out += _segment(0xDB, b"\0" + bytes(range(1, 65)))
    out += _segment(0xC0, struct.pack(">BHHB", 8, h, w, len(comps) // 3) + comps)
    out += _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return out + hashlib.blake2b(str(seed).encode(), digest_size=64).digest() * 3 + b"\xff\xd9"


BOXES: list[Any] = [[1, 2, 3, 4], [0.1, 0.2, 30.25, 20.5], [-0.0, 0.0, 1e-7, 5], [-0.5, -0.4, 10, 10], [63.4, 47.5, 0.6, 0.5],
                    [12.345678901234567, 3.3, 4.4, 5.5], [1, 2, 70, 4], [float("nan"), 1, 1, 1], [True, 1, 2, 3], ["3", 1, 2, 3]]


def source(root: Path) -> Path:
    """40 images: repeated and alternating sizes, EXIF orientations (one swaps the size), a
    gray one; boxes good and bad, out of id order, duplicate ids, polygons, keypoints, scores,
    crowds, captions, unknown classes, a missing image and an annotation of no image."""
    images, anns = [], []
    for i in range(40):
        w, h = (64, 48) if i % 5 else (48, 64)
        data = jpeg(w, h, i, orientation=6 if i % 11 == 3 else (1 if i % 7 == 2 else None), gray=i % 13 == 4)
        if i != 17:  # image 17 is missing
            (root / "images" / "train").mkdir(parents=True, exist_ok=True)
            (root / "images" / "train" / f"{i:03d}.jpg").write_bytes(data)
        images.append({"id": i + 1, "file_name": f"{i:03d}.jpg", "width": w, "height": h})
        for j in range(i % 4):
            a: dict[str, Any] = {"id": 1000 - 10 * i - j if i % 3 == 0 else 10 * i + j, "image_id": i + 1, "category_id": 1 + (i + j) % 3,
                                 "bbox": list(BOXES[(i + 3 * j) % 6]), "area": 1.0, "iscrowd": 0, "segmentation": []}
            if i % 9 == 1 and j == 1:
                a["bbox"] = list(BOXES[6 + i % 4])  # out of the image, NaN, a bool, a string
            if i % 8 == 5:
                a.update(segmentation=[[1, 1, 5, 1, 5, 5]])
            if i % 10 == 6 and j == 0:
                a.update(keypoints=[2, 2, 2, 3, 3, 1], score=0.75)
            if i % 12 == 7:
                a.update(iscrowd=1)
            if i == 22 and j == 1:
                a["id"] = anns[-1]["id"]  # a duplicate region id
            if i == 26 and j == 0:
                a["category_id"] = 9  # not a class
            anns.append(a)
    anns.append({"id": 5000, "image_id": 999, "category_id": 1, "bbox": [1, 1, 1, 1]})
    anns.append({"id": 5001, "image_id": 31, "caption": "two boxes"})
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "it's \"odd\" é"}, {"id": 3, "name": "dog"}]
    write_json(root / "annotations" / "instances_train.json", {"images": images, "annotations": anns, "categories": cats})
    return root


def _import(root: Path, tmp: Path) -> tuple[str, Any, Any, list[tuple[str, str | None]]]:
    st = Store(str(tmp / "store"), cache_dir=str(tmp / "cache"))
    ds = Dataset.create("c", "p", store=st)
    report = ds.import_annotations(str(root), "coco", show_progress=False, on_error="skip")
    texts = sorted((p, e.annotation) for p, e in ds._v.current().items())
    ds.upload(show_progress=False)
    ds.finalize()
    return st.record(ds.id).manifest, report.skipped, report.counts, texts


def test_a_fixed_coco_source_always_gets_the_same_manifest(tmp_path: Path) -> None:
    manifest, skipped, counts, texts = _import(source(tmp_path / "src"), tmp_path / "a")
    assert (manifest, counts) == (PINNED_MANIFEST, PINNED_COUNTS)
    assert [(s["path"], s["reason"]) for s in skipped] == PINNED_SKIPPED
    assert any("'xywh':[-0.0,0.0,1e-07,5.0]" in (t or "") for _p, t in texts)  # -0.0 kept apart from 0.0
    assert sum("'width':64" in (t or "") and "'height':48" in (t or "") for _p, t in texts) >= 20


def test_the_direct_way_and_its_memories_store_what_the_full_way_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = source(tmp_path / "src")
    monkeypatch.setattr(coco._Reprs, "LIMIT", 3)  # the coordinates' texts forgotten every few values
    small = _import(root, tmp_path / "small")
    monkeypatch.setattr(coco, "plain_text", lambda *a: None)  # every image the full way
    full = _import(root, tmp_path / "full")
    assert small == full and small[0] == PINNED_MANIFEST
    assert not coco._REPRS  # nothing kept after the import


def test_the_remembered_jpeg_header_answers_as_the_probe_does() -> None:
    probe = JpegProbe()
    files = [jpeg(64, 48, 1), jpeg(64, 48, 2), jpeg(48, 64, 3), jpeg(64, 48, 4, orientation=6), jpeg(64, 48, 5, orientation=6),
             jpeg(64, 48, 6), b"\xff\xd8\xff\xe0 not a jpeg", jpeg(64, 48, 7)[:40], jpeg(64, 48, 8, gray=True), jpeg(64, 48, 9)]
    for data in files:
        expected = probe_jpeg(data)
        got = probe(data)
        assert got == expected
        if got is not None:
            got["width"] = -1  # a fresh object each time: changing it changes nothing remembered
    assert probe(files[0]) == {"kind": "image", "width": 64, "height": 48, "depth": 3}
    assert probe(files[3]) == {"kind": "image", "width": 48, "height": 64, "depth": 3}
