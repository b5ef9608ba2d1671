"""COCO instances: ``annotations/<split>.json`` per split and media at ``images/<split>/<dataset path>``.
Image, annotation and category ids start at 1 (category ids from ``coco_id`` where kept).
The JSON is streamed: images and annotations go to scratch files, assembled per split."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import rle as rlemod
from ..base import BaseExporter, ExportContext, ExportFormat, box_corners, envelope, image_items, region_id, regions, under_split
from ..view import ClassInfo, Item
from .coco_boxes import box_tails


def coco_category_ids(classes: Sequence[ClassInfo]) -> dict[str, int]:
    """``coco_id`` where a class kept one; every other class gets the smallest id from 1 still free."""
    used = {c.coco_id for c in classes if c.coco_id is not None}
    out: dict[str, int] = {}
    nxt = 1
    for c in classes:
        if c.coco_id is not None:
            out[c.name] = int(c.coco_id)
            continue
        while nxt in used:
            nxt += 1
        out[c.name] = nxt
        used.add(nxt)
    return out


def _r(v: float) -> float:
    return round(float(v), 4)


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _mask_file_rle(ctx: ExportContext, path: str) -> dict[str, Any]:
    from PIL import Image

    with ctx.view.open(path) as f:
        img = Image.open(f)
        img.load()
    return rlemod.encode((np.asarray(img.convert("L")) > 0).astype(np.uint8))


_PLAIN_BOX = ["category_id", "iscrowd", "bbox", "area"]
_CHUNK = 1024  # items whose plain boxes are formatted together


def _annotation_tail(ann: dict[str, Any]) -> str:
    """One annotation's JSON after its ``{"id":N,"image_id":M,`` (the ids are the writer's): a
    plain box (the common case) formatted directly, with the bytes ``json.dumps`` gives."""
    if list(ann) == _PLAIN_BOX:
        x, y, w, h = ann["bbox"]
        return f'"category_id":{ann["category_id"]},"iscrowd":{ann["iscrowd"]},"bbox":[{x!r},{y!r},{w!r},{h!r}],"area":{ann["area"]!r}}}'
    return _dump(ann)[1:]


def _image_json(image_id: int, rel: str, size: tuple[float, float] | None) -> str:
    """One image entry, with the bytes ``_dump`` gives (without a size only when none is known)."""
    wh = f',"width":{int(size[0])},"height":{int(size[1])}' if size else ""
    return f'{{"id":{image_id},"file_name":{json.dumps(rel, ensure_ascii=False)}{wh}}}'


def _plain_boxes(item: Item, cat_ids: dict[str, int], cats: list[int], nums: list[Any]) -> int | None:
    """When every region of the item is a plain box (and it has no item labels), append their
    category ids and ``xywh`` (``coco_boxes.box_tails`` formats them) and return how many;
    else None, nothing appended."""
    ann = item.annotation or {}
    if ann.get("labels"):
        return None
    start = len(cats)
    regs = ann.get("regions") or ()
    for r in regs:
        if type(r) is not dict or not _is_plain_box(r, cat_ids) or type(r["xywh"]) is not list or len(r["xywh"]) != 4:
            del cats[start:], nums[4 * start:]
            return None
        cats.append(cat_ids[r["label"]])
        nums += r["xywh"]
    return len(regs)


def _is_plain_box(r: dict[str, Any], cat_ids: dict[str, int]) -> bool:
    """An unrotated box without attributes of a known class: the common case, written directly."""
    return (r.get("type") == "box" and r.get("label") in cat_ids and not r.get("rotation")
            and not r.get("attrs") and bool(r.get("xywh")))


def _plain_box(r: dict[str, Any], category_id: int) -> dict[str, Any]:
    x, y, w, h = (float(v) for v in r["xywh"])
    return {"category_id": category_id, "iscrowd": 0, "bbox": [_r(x), _r(y), _r(w), _r(h)], "area": _r(w * h)}


def _keypoint_points(r: dict[str, Any]) -> list[list[Any]]:
    """``[x, y, v]`` per point (visibility 2 when the region gives none)."""
    return [[float(p[0]), float(p[1]), int(p[2]) if len(p) > 2 else 2] for p in r["points"]]


def _set_keypoints(ann: dict[str, Any], pts: list[list[Any]], add: bool = False) -> None:
    """COCO keypoints of ``pts``; ``add`` appends them to those ``ann`` already has."""
    ann["keypoints"] = (ann.get("keypoints", []) if add else []) + [_r(c) if j % 3 < 2 else int(c) for p in pts for j, c in enumerate(p)]
    ann["num_keypoints"] = (ann.get("num_keypoints", 0) if add else 0) + sum(1 for p in pts if p[2] > 0)


def _box(ctx: ExportContext, item: Item, r: dict[str, Any], rid: str, ann: dict[str, Any]) -> None:
    """bbox and area; a rotated box becomes its envelope plus the rotated polygon (reported)."""
    x, y, w, h = (float(v) for v in r["xywh"])
    rot = float(r.get("rotation") or 0.0)
    if rot:
        corners = box_corners(x, y, w, h, rot)
        ann["bbox"] = [_r(v) for v in envelope(corners)]
        ann["segmentation"] = [[_r(c) for p in corners for c in p]]
        ctx.skip(item.path, "rotation is not expressible in COCO: the envelope bbox and the rotated polygon were written", rid)
    else:
        ann["bbox"] = [_r(x), _r(y), _r(w), _r(h)]
    ann["area"] = _r(w * h)


def _polygon(r: dict[str, Any], ann: dict[str, Any]) -> None:
    pts = r["points"]
    ann["segmentation"] = [[_r(c) for p in pts for c in p[:2]]]
    ann["area"] = _r(rlemod.polygon_area(pts))
    ann["bbox"] = [_r(v) for v in (r.get("xywh") or envelope(pts))]


def _mask(ctx: ExportContext, r: dict[str, Any], ann: dict[str, Any]) -> None:
    rle = r.get("rle") or _mask_file_rle(ctx, str(r["path"]))
    ann["segmentation"] = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}
    ann["area"] = rlemod.area(rle)
    ann["bbox"] = [_r(v) for v in (r.get("xywh") or rlemod.bbox(rle))]


def _keypoints(r: dict[str, Any], ann: dict[str, Any]) -> None:
    """A keypoints region of its own: bbox and area from its visible points (all when none is)."""
    pts = _keypoint_points(r)
    box = envelope([p for p in pts if p[2] > 0] or pts)
    ann["bbox"] = [_r(v) for v in box]
    ann["area"] = _r(box[2] * box[3])
    _set_keypoints(ann, pts)


def _geometry(ctx: ExportContext, item: Item, r: dict[str, Any], rid: str, ann: dict[str, Any]) -> bool:
    """Fill ``ann`` from the region's geometry; False when COCO cannot express the region."""
    t = r.get("type")
    if t == "box" and r.get("xywh"):
        _box(ctx, item, r, rid, ann)
    elif t == "polygon" and r.get("points"):
        _polygon(r, ann)
    elif t == "mask" and (r.get("rle") or r.get("path")):
        _mask(ctx, r, ann)
    elif t == "keypoints" and r.get("points"):
        _keypoints(r, ann)
    else:
        return False
    return True


def _region_annotation(ctx: ExportContext, item: Item, r: dict[str, Any], rid: str, cat_ids: dict[str, int],
                       pending_kp: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """One region's annotation, or None when skipped (reported) or keypoints held for their parent."""
    label, t = r.get("label"), r.get("type")
    if label not in cat_ids:
        ctx.skip(item.path, f"region label {label!r} is not in the class list", rid)
        return None
    ann: dict[str, Any] = {"category_id": cat_ids[label], "iscrowd": int((r.get("attrs") or {}).get("iscrowd", 0))}
    if t == "keypoints" and r.get("points") and r.get("parent"):
        pending_kp.append((str(r["parent"]), {"rid": rid, "pts": _keypoint_points(r), "category_id": cat_ids[label], "label": label}))
        return None
    if not _geometry(ctx, item, r, rid, ann):
        ctx.skip(item.path, f"{t} regions are not expressible in COCO", rid)
        return None
    if (r.get("attrs") or {}):
        ann["attributes"] = {k: v for k, v in sorted(r["attrs"].items()) if k != "iscrowd"}
    return ann


def item_annotations(ctx: ExportContext, item: Item, cat_ids: dict[str, int], cats: list[int], nums: list[Any]) -> list[str] | int:
    """COCO annotations of one item as JSON without their ids (``_annotation_tail``), keypoints
    merged into their parent box; or, when all its regions are plain boxes, their count, their
    category ids and numbers appended to ``cats`` and ``nums`` (``_write_annotations`` formats them)."""
    count = _plain_boxes(item, cat_ids, cats, nums)
    return count if count is not None else [_annotation_tail(ann) for ann in _annotations(ctx, item, cat_ids)]


def _write_annotations(pending: list[tuple[dict[str, Any], int, list[str] | int]], cats: list[int], nums: list[Any]) -> None:
    """Write the queued items' annotations to their splits' scratch files, in order, with their ids."""
    boxes, at = box_tails(cats, nums), 0
    for part, image_id, found in pending:
        if isinstance(found, int):
            tails, at = boxes[at:at + found], at + found
        else:
            tails = found
        first, part["ann_id"] = part["ann_id"], part["ann_id"] + len(tails)
        part["annotations"].write("".join(f'{"," if first + n else ""}\n{{"id":{first + n + 1},"image_id":{image_id},{tail}'
                                          for n, tail in enumerate(tails)))


def _annotations(ctx: ExportContext, item: Item, cat_ids: dict[str, int]) -> list[dict[str, Any]]:
    """COCO annotations of one item (without ids), keypoints merged into their parent box."""
    out: list[dict[str, Any]] = []
    by_region: dict[str, dict[str, Any]] = {}
    pending_kp: list[tuple[str, dict[str, Any]]] = []
    for i, r in enumerate(regions(item)):
        if _is_plain_box(r, cat_ids):
            plain = _plain_box(r, cat_ids[r["label"]])
            by_region[str(r.get("id") or f"#{i}")] = plain
            out.append(plain)
            continue
        rid = region_id(r, i)
        ann = _region_annotation(ctx, item, r, rid, cat_ids, pending_kp)
        if ann is not None:
            by_region[str(r.get("id") or rid)] = ann
            out.append(ann)
    for parent, kp in pending_kp:  # several keypoint regions of one parent (Label Studio: one point each) add up
        target = by_region.get(parent)
        if target is None:
            ctx.skip(item.path, f"keypoints whose parent region {parent!r} was not exported", kp["rid"])
            continue
        _set_keypoints(target, kp["pts"], add=True)
        if kp["category_id"] != target["category_id"]:
            ctx.skip(item.path, f"keypoints labelled {kp['label']!r} merged into their parent region {parent!r}: "
                                "a COCO keypoint has no label of its own", kp["rid"])
    if (item.annotation or {}).get("labels"):
        ctx.skip(item.path, "item-level labels are not expressible in COCO instances")
    return out


_IMAGES, _ANNS, _CATS = '"images":[', '\n],\n"annotations":[', '\n],\n"categories":['
_IMAGE_ID = re.compile(r'^\{"id":(\d+),')
_ANN_IDS = re.compile(r'^\{"id":(\d+),"image_id":(\d+),')


def _rows(block: str) -> list[str]:
    """The entries of a streamed JSON array body (``\n`` + one entry per line, comma-separated)."""
    return [line.removesuffix(",") for line in block.split("\n")[1:]]


def merge_coco(parts: Sequence[bytes]) -> bytes:
    """One split's ``annotations/<split>.json`` from the parts' files, in part order: image and
    annotation ids offset by the counts of the parts before (entries are one line each: JSON
    escapes newlines), so the bytes equal a single-process export's."""
    head = cats = ""
    images: list[str] = []
    anns: list[str] = []
    for data in parts:
        head, rest = data.decode("utf-8").split(_IMAGES, 1)
        imgs, rest = rest.split(_ANNS, 1)
        ann_block, cats = rest.split(_CATS, 1)
        img_off, ann_off = len(images), len(anns)
        images += [_IMAGE_ID.sub(lambda m: f'{{"id":{int(m[1]) + img_off},', r, 1) for r in _rows(imgs)]
        anns += [_ANN_IDS.sub(lambda m: f'{{"id":{int(m[1]) + ann_off},"image_id":{int(m[2]) + img_off},', r, 1)
                 for r in _rows(ann_block)]
    body = ",".join("\n" + r for r in images) + _ANNS + ",".join("\n" + r for r in anns)
    return (head + _IMAGES + body + _CATS + cats).encode("utf-8")


class CocoExporter(BaseExporter):
    format = ExportFormat.COCO
    parallel = True

    def merged(self, relpath: str) -> bool:
        return relpath.startswith("annotations/")

    def merge(self, relpath: str, parts: Sequence[bytes]) -> bytes:
        return merge_coco(parts)

    def class_map(self, classes: Sequence[ClassInfo]) -> dict[str, int]:
        return coco_category_ids(classes)

    def export(self, ctx: ExportContext) -> None:
        cat_ids = coco_category_ids(ctx.classes)
        scratch = tempfile.mkdtemp(prefix="dagstore-coco-")
        parts: dict[str, dict[str, Any]] = {}
        pending: list[tuple[dict[str, Any], int, list[str] | int]] = []  # (split's part, image id, tails or plain boxes queued)
        cats: list[int] = []
        nums: list[Any] = []
        try:
            for item in image_items(ctx, "COCO"):
                split = ctx.split(item)
                part = parts.get(split)
                if part is None:
                    part = parts[split] = {
                        "images": open(f"{scratch}/{len(parts)}.images", "w+", encoding="utf-8"),
                        "annotations": open(f"{scratch}/{len(parts)}.annotations", "w+", encoding="utf-8"),
                        "image_id": 0, "ann_id": 0,
                    }
                part["image_id"] += 1
                rel = under_split(split, item.path)
                part["images"].write(("," if part["image_id"] > 1 else "") + "\n" + _image_json(part["image_id"], rel, ctx.image_size(item)))
                pending.append((part, part["image_id"], item_annotations(ctx, item, cat_ids, cats, nums)))
                ctx.add_media(f"images/{rel}", item)
                ctx.count(split)
                if len(pending) >= _CHUNK:
                    _write_annotations(pending, cats, nums)
                    pending, cats, nums = [], [], []
            _write_annotations(pending, cats, nums)
            categories = ",\n".join(_dump({"id": cat_ids[c.name], "name": c.name, "supercategory": ""}) for c in ctx.classes)
            for split in sorted(parts):
                part = parts[split]
                with ctx.sink.open(f"annotations/{split}.json") as out:
                    out.write(b'{"info":{"description":"dagstore export"},"licenses":[],"images":[')
                    for key in ("images", "annotations"):
                        f = part[key]
                        f.flush()
                        f.seek(0)
                        with open(f.name, "rb") as raw:
                            shutil.copyfileobj(raw, out, 1 << 20)
                        out.write(b"\n],\n\"annotations\":[" if key == "images" else b"\n],\n")
                    out.write(b'"categories":[\n' + categories.encode("utf-8") + b"\n]}\n")
        finally:
            for part in parts.values():
                part["images"].close()
                part["annotations"].close()
            shutil.rmtree(scratch, ignore_errors=True)
