"""COCO instances / keypoints JSON: boxes, polygons, RLE masks, keypoints, category ids kept.

Layouts: ``annotations/instances_<split>.json`` + ``images/<split>/`` (or ``images/``), MMDet's
``<split>/`` beside ``annotations/``, Roboflow's ``<split>/_annotations.coco.json``, or one
JSON file. Dataset paths are image paths relative to ``media=`` or the source's ``images/``
folder (else the source folder), so ``train/0001.jpg``.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...core.manifest import encode_annotation
from ..errors import ImportSourceError
from ..schema import TOLERANCE_PX
from . import register
from ._base import ImportContext, ImportItem, load_json, rel_posix

_PREFIXES = ("instances_", "person_keypoints_")
_NUMBER = (int, float)
_BOX_KEYS = frozenset(("id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"))  # what a plain box may hold


def _split_of(js: Path) -> str | None:
    stem = js.name[: -len(".json")]
    for p in _PREFIXES:
        if stem.startswith(p):
            return stem[len(p):] or None
    if js.name == "_annotations.coco.json":
        return js.parent.name
    if js.parent.name == "annotations":  # dagstore's own COCO export: annotations/<split>.json
        return stem
    return None


def _find_files(source: Path) -> tuple[Path, list[Path]]:
    """(root, annotation files) for a folder or a single JSON file."""
    if source.is_file():
        root = source.parent.parent if source.parent.name == "annotations" else source.parent
        return root, [source]
    ann = source / "annotations"
    found: list[Path] = []
    if ann.is_dir():
        for prefix in _PREFIXES:
            found = sorted(ann.glob(f"{prefix}*.json"))
            if found:
                break
        found = found or sorted(ann.glob("*.json"))
    found = found or sorted(source.glob("*/_annotations.coco.json")) or sorted(source.glob("*.json"))
    return source, found


def _annotations_by_image(js: Path, doc: dict[str, Any], images: list[Any], ctx: ImportContext) -> dict[Any, list[dict[str, Any]]]:
    """The file's annotations per image id; annotations of an image not in ``images`` are reported."""
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in doc.get("annotations") or []:
        by_image.setdefault(a.get("image_id"), []).append(a)
    known_ids = {im.get("id") for im in images if isinstance(im, dict)}
    for img_id in sorted(set(by_image) - known_ids, key=str):
        ctx.problem(f"{js.name}", f"annotations[image_id={img_id}]", "refers to an image that is not in images")
    return by_image


def _listed(fname: str, dirs: list[tuple[Path, str]], ctx: ImportContext) -> tuple[Path, str] | None:
    """(folder, file) of a plain file name found as a regular file in the first folder listing
    it, from the folders' listings (no system call per image); None: look it up on disk."""
    for d, ds in dirs:
        regular = ctx.listed(ds).get(fname)
        if regular is not None:
            return (d, os.path.join(ds, fname)) if regular else None
    return None


def _plain_file(im: Any, dirs: list[tuple[Path, str]], ctx: ImportContext) -> tuple[Path, str] | None:
    """(folder, file) of an image whose file_name is a plain name listed as a regular file
    (what ``_locate_image`` finds without a system call), else None; nothing is reported."""
    fname = im.get("file_name") if isinstance(im, dict) else None
    if not isinstance(fname, str) or not fname or "/" in fname or "\\" in fname or fname in (".", "..") or (len(fname) > 1 and fname[1] == ":"):
        return None
    return _listed(fname, dirs, ctx)


def _locate_image(js: Path, i: int, im: Any, dirs: list[tuple[Path, str]], base: Path,
                  ctx: ImportContext) -> tuple[str, list[str], Path, Path | str] | None:
    """(file_name, its parts, the folder holding it, the media file) of ``images[i]``; None (reported)
    when the name is missing, escapes the media root, or the image is not found."""
    fname = im.get("file_name") if isinstance(im, dict) else None
    if not isinstance(fname, str) or not fname:
        ctx.problem(f"{js.name}: images[{i}]", "file_name", "missing")
        return None
    parts = fname.replace("\\", "/").split("/")
    if fname.startswith(("/", "\\")) or ".." in parts or (len(fname) > 1 and fname[1] == ":"):
        ctx.problem(f"{js.name}: {fname}", "file_name", f"media path {fname!r} escapes the media root")
        return None
    if len(parts) == 1 and fname != ".":
        listed = _listed(fname, dirs, ctx)
        if listed is not None:
            return fname, parts, listed[0], listed[1]
    folder = next((d for d, ds in dirs if os.path.lexists(os.path.join(ds, fname))), None)
    if folder is None:
        ctx.problem(f"{js.name}: {fname}", "file_name", f"image not found under {base.name}/ (annotation without its image)")
        return None
    found = ctx.resolve_media(folder, fname, f"{js.name}: {fname}", "file_name")  # same dir: cached
    if found is None:
        return None
    return fname, parts, folder, found


def _json_text(value: Any) -> str:
    """``value`` as a fragment of stored annotation text (canonical JSON, quotes swapped)."""
    return encode_annotation(value)


@lru_cache(maxsize=64)
def _split_text(split: str) -> str:
    """The closing ``'split'`` member of a plain text (one ``json.dumps`` per split, not per image)."""
    return f",'split':{_json_text(split)}}}"


class _Reprs(dict[float, str]):
    """``repr`` of box coordinates, remembered: a detection set repeats a few thousand values
    (two decimals inside the image) over millions of boxes. Zero is never kept (``0.0`` and
    ``-0.0`` are one key but two texts); the memory is bounded (cleared when full)."""

    LIMIT = 1 << 16

    def __missing__(self, x: float) -> str:
        text = repr(x)
        if x:
            if len(self) >= self.LIMIT:
                self.clear()
            self[x] = text
        return text


_REPRS = _Reprs()


def _plain_regions(anns: list[Any], size: tuple[float, float], labels: dict[Any, str]) -> list[str] | None:
    """The stored text of each region when every annotation is a box the checks accept as it
    is (``schema.box_inside``, inlined: this runs per box, and a call per box cost a third),
    in region order (by id); None: the annotations go the full way (regions, validation, and
    the reports)."""
    W, H, T = size[0] + TOLERANCE_PX, size[1] + TOLERANCE_PX, -TOLERANCE_PX
    texts: list[str] = []
    reprs, keys, prev, ordered = _REPRS, _BOX_KEYS, -math.inf, True
    for a in anns:
        if type(a) is not dict or not keys.issuperset(a):
            return None  # keypoints, attributes, a score, a caption...: the full way
        get = a.get
        aid, bbox, seg = get("id"), get("bbox"), get("segmentation")
        label = labels.get(get("category_id"))
        if type(aid) is not int or label is None or type(bbox) is not list or len(bbox) != 4 or (seg is not None and seg != []) or get("iscrowd"):
            return None
        x, y, w, h = bbox
        if not (type(x) in _NUMBER and type(y) in _NUMBER and type(w) in _NUMBER and type(h) in _NUMBER):
            return None
        x, y, w, h = float(x), float(y), float(w), float(h)
        # w >= 0, h >= 0, x, x + w within [T, W], y, y + h within [T, H]: chained comparisons (NaN and inf fail them)
        if not (w >= 0 <= h and T <= x <= W >= x + w >= T and T <= y <= H >= y + h >= T):
            return None
        texts.append(f"{{'id':'{aid}','label':{label},'type':'box','xywh':[{reprs[x]},{reprs[y]},{reprs[w]},{reprs[h]}]}}")
        if aid <= prev:
            ordered = False
        prev = aid
    return texts if ordered else _by_id(anns, texts)


def _by_id(anns: list[Any], texts: list[str]) -> list[str] | None:
    """``texts`` in the order of their annotations' ids (stable); None for duplicate ids (the checks report them)."""
    pairs = sorted(zip([a["id"] for a in anns], texts), key=lambda p: p[0])
    if any(pairs[i][0] == pairs[i + 1][0] for i in range(len(pairs) - 1)):
        return None
    return [t for _, t in pairs]


def plain_text(media: dict[str, Any], image_id: Any, anns: list[Any], split: str | None, labels: dict[Any, str]) -> str | None:
    """The stored text (``schema.encode`` of the annotation the full way builds) of an image
    whose annotations are all plain boxes, checked as ``schema.validate`` would accept them;
    None when anything differs (then the full way decides, and reports)."""
    w, h, depth = media.get("width"), media.get("height"), media.get("depth")
    if len(media) != 4 or media.get("kind") != "image" or not (type(w) is int and type(h) is int and type(depth) is int) or min(w, h, depth) <= 0:
        return None
    if type(image_id) is not int or (split is not None and (not split or "/" in split)):
        return None
    regions = _plain_regions(anns, (float(w), float(h)), labels)
    if regions is None:
        return None
    text = f"{{'media':{{'depth':{depth},'height':{h},'kind':'image','width':{w}}}"
    if regions:
        text += ",'regions':[" + ",".join(regions) + "]"
    text += f",'source':{{'image_id':{image_id},'tool':'coco'}}"
    return text + (_split_text(split) if split else "}")


class CocoImporter:
    name = "coco"
    options: tuple[str, ...] = ()

    def read(self, source: Path, ctx: ImportContext) -> None:
        root, files = _find_files(source)
        if not files:
            raise ImportSourceError(str(source), "", "no COCO annotation JSON found (annotations/instances_<split>.json)")
        base = ctx.media or (root / "images" if (root / "images").is_dir() else root)
        docs = [(js, load_json(js)) for js in files]
        for js, doc in docs:  # classes first: class order follows the COCO category ids
            cats = doc.get("categories") if isinstance(doc, dict) else None
            if not isinstance(cats, list):
                raise ImportSourceError(str(js), "categories", "missing or not a list (not a COCO instances file)")
            cats = sorted((c for c in cats if isinstance(c, dict)), key=lambda c: c.get("id", 0))
            ctx.add_classes([str(c["name"]) for c in cats], coco_ids={str(c["name"]): int(c["id"]) for c in cats})
        for js, doc in docs:
            self._read_file(js, doc, root, base, ctx)

    def _read_file(self, js: Path, doc: dict[str, Any], root: Path, base: Path, ctx: ImportContext) -> None:
        split = _split_of(js)
        cat_names = {c.get("id"): str(c.get("name")) for c in doc["categories"] if isinstance(c, dict)}
        labels = {k: _json_text(n) for k, n in cat_names.items() if n and type(k) is int}  # classes a plain box may use
        images = doc.get("images") or []
        by_image = _annotations_by_image(js, doc, images, ctx)
        dirs = [(d, str(d)) for d in (base / split if split else None, base, root / split if split else None, js.parent) if d is not None]
        plain = [_plain_file(im, dirs, ctx) for im in images]  # found without a system call: read ahead, in order
        try:
            with ctx.reading_ahead([p[1] for p in plain if p is not None]):
                self._read_images(js, images, plain, by_image, split, cat_names, labels, dirs, root, base, ctx)
        finally:
            _REPRS.clear()  # the coordinates' texts are kept for one file

    def _read_images(self, js: Path, images: list[Any], plain: list[tuple[Path, str] | None], by_image: dict[Any, list[dict[str, Any]]],
                     split: str | None, cat_names: dict[Any, str], labels: dict[Any, str], dirs: list[tuple[Path, str]], root: Path,
                     base: Path, ctx: ImportContext) -> None:
        prefixes: dict[Path, str] = {}
        jname = js.name
        item_split = ctx.split or split
        head = {"split": item_split} if item_split else {}  # what a text item holds besides its text (shared, never changed)
        found: Path | str
        for i, im in enumerate(images):
            listed = plain[i]
            if listed is not None:  # a plain file name, listed: what _locate_image would find
                folder, found = listed
                fname, parts = im["file_name"], None
            else:
                located = _locate_image(js, i, im, dirs, base, ctx)
                if located is None:
                    continue
                fname, parts, folder, found = located
            prefix = prefixes.get(folder)
            if prefix is None:
                top = base if folder == base or folder.is_relative_to(base) else root
                prefix = prefixes[folder] = "" if folder == top else rel_posix(folder, top) + "/"
            path = prefix + (fname if parts is None or len(parts) == 1 else "/".join(p for p in parts if p not in ("", ".")))
            probed = ctx.media_info(found)
            image_id = im.get("id")
            anns = by_image.get(image_id, [])
            text = plain_text(probed, image_id, anns, item_split, labels) if probed else None
            if text is not None:  # every annotation a plain box: the stored text, written and checked directly
                ctx.add(ImportItem(path, head, f"{jname}: {fname}", str(found), None, None, False, text))
                continue
            media = probed or {"kind": "image", "width": im.get("width"), "height": im.get("height")}
            ann: dict[str, Any] = {"media": media, "source": {"tool": "coco", "image_id": image_id}}
            if split:
                ann["split"] = split
            if self._add_annotations(ann, anns, cat_names, f"{jname}: {fname}", ctx):
                ctx.add(ImportItem(path, ann, f"{jname}: {fname}", local=str(found)))

    def _add_annotations(self, ann: dict[str, Any], anns: list[dict[str, Any]], cat_names: dict[Any, str],
                         where: str, ctx: ImportContext) -> bool:
        """Regions and captions of one image into ``ann``; False (reported) on an unknown class id."""
        regions: list[dict[str, Any]] = []
        for a in sorted(anns, key=lambda a: (str(type(a.get("id"))), a.get("id") or 0)):
            if a.get("category_id") not in cat_names:
                ctx.problem(where, f"annotations[id={a.get('id')}].category_id", f"unknown class id {a.get('category_id')!r} (not in categories)")
                return False
            regions.extend(self._regions(a, cat_names[a["category_id"]]))
        if regions:
            ann["regions"] = regions
        captions = [a["caption"] for a in anns if isinstance(a.get("caption"), str)]
        if captions:
            ann["fields"] = {"caption": captions[0], **({"captions": captions} if len(captions) > 1 else {})}
        return True

    @staticmethod
    def _regions(a: dict[str, Any], label: str) -> list[dict[str, Any]]:
        rid = str(a.get("id"))
        seg, bbox = a.get("segmentation"), a.get("bbox")
        attrs = dict(a.get("attributes") or {})
        if a.get("iscrowd"):
            attrs["iscrowd"] = 1
        r: dict[str, Any] = {"id": rid, "label": label}
        if isinstance(seg, dict):
            r.update(type="mask", rle={"size": seg.get("size"), "counts": seg.get("counts")})
        elif isinstance(seg, list) and seg and isinstance(seg[0], list):
            pts = [[seg[0][j], seg[0][j + 1]] for j in range(0, len(seg[0]) - 1, 2)]
            r.update(type="polygon", points=pts)
            if len(seg) > 1:
                r["parts"] = [[[p[j], p[j + 1]] for j in range(0, len(p) - 1, 2)] for p in seg[1:]]
        elif "caption" in a and bbox is None:
            return []
        else:
            r["type"] = "box"
        if bbox is not None:
            r["xywh"] = [float(v) for v in bbox]
        if a.get("score") is not None:
            r["score"] = a["score"]
        if attrs:
            r["attrs"] = attrs
        return _with_keypoints(r, a.get("keypoints"))


def _with_keypoints(r: dict[str, Any], kp: Any) -> list[dict[str, Any]]:
    """The region of an annotation and its keypoints: a child region of its box, or the region
    itself when the box has no size (keypoints alone, as the COCO export writes them)."""
    if not kp:
        return [r]
    points = [[kp[j], kp[j + 1], int(kp[j + 2])] for j in range(0, len(kp) - 2, 3)]
    if r["type"] == "box" and r.get("xywh", [0, 0, 1, 1])[2:] == [0.0, 0.0]:
        return [{**{k: v for k, v in r.items() if k != "xywh"}, "type": "keypoints", "points": points}]
    return [r, {"id": f"{r['id']}.kp", "type": "keypoints", "label": r["label"], "parent": r["id"], "points": points}]


register(CocoImporter())
