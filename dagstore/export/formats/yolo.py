"""YOLO label files: darknet/SeeMe (``<split>.txt`` lists, ``<stem>.txt`` beside each image,
``<version_id>.names``, ``config.json``) and Ultralytics (``images/<split>/<dataset path>``, ``labels/`` beside it, ``data.yaml``;
rotated boxes as OBB lines, polygons as segment lines). Dataset paths are kept, so images of
the same name in different folders never share a label file."""

from __future__ import annotations

import json
import posixpath
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..base import (BaseExporter, ExportContext, ExportFormat, Streams, box_corners, image_items, media_name, media_size, note_box_written, region_box, region_id, regions,
                    renamed, under_split)
from ..errors import ExportError
from ..view import Item
from .yolo_boxes import EXACT, box_text

_VAL_NAMES = {"valid", "val", "validation"}
_CHUNK = 1024  # items queued by LabelFiles before their files are written


def _n(v: float) -> str:
    return f"{0.0 if v < 0.0 else 1.0 if v > 1.0 else v:.6f}"


def _box_line(cls: Any, box: Sequence[float], size: tuple[float, float]) -> str:
    """``cls cx cy w h`` of a box clipped to the image, normalized (``_n`` inlined: a line per box)."""
    x, y, bw, bh = box
    w, h = size
    x0, y0 = 0.0 if 0.0 > x else x, 0.0 if 0.0 > y else y  # max(x, 0.0), min(x + bw, w)... without the calls
    x1, y1 = w if w < x + bw else x + bw, h if h < y + bh else y + bh
    cx, cy, nw, nh = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h
    return (f"{cls} {0.0 if cx < 0.0 else 1.0 if cx > 1.0 else cx:.6f} {0.0 if cy < 0.0 else 1.0 if cy > 1.0 else cy:.6f} "
            f"{0.0 if nw < 0.0 else 1.0 if nw > 1.0 else nw:.6f} {0.0 if nh < 0.0 else 1.0 if nh > 1.0 else nh:.6f}")


def _outline(r: Mapping[str, Any], t: Any, obb: bool, segments: bool) -> Sequence[Sequence[float]] | None:
    """The points of a segment line (a polygon) or an OBB line (a box's corners), if one is wanted."""
    if segments and t == "polygon" and r.get("points"):
        return list(r["points"])
    if (obb or segments) and t == "box" and r.get("xywh"):
        x, y, bw, bh = (float(v) for v in r["xywh"])
        return box_corners(x, y, bw, bh, float(r.get("rotation") or 0.0))
    return None


def _region_line(ctx: ExportContext, item: Item, r: Mapping[str, Any], rid: str, fmt: str,
                 size: tuple[float, float] | None, obb: bool, segments: bool) -> str | None:
    """The line of a region that is not a plain box; None (reported) when it cannot be written."""
    label, t = r.get("label"), r.get("type")
    ids = ctx.class_ids
    if label not in ids:
        ctx.skip(item.path, f"region label {label!r} is not in the class list", rid)
        return None
    if t not in ("box", "polygon") and not (t == "mask" and r.get("xywh")):
        ctx.skip(item.path, f"{t} regions are not expressible in {fmt}", rid)
        return None
    if size is None:
        ctx.skip(item.path, "boxes without image size (media.width/height) cannot be normalized", rid)
        return None
    w, h = size
    cls = ids[label]
    pts = _outline(r, t, obb, segments)
    if pts is None and obb:  # every line of an OBB label file has four corners (Ultralytics refuses others)
        pts = _obb_corners(ctx, item, r, rid)
        if pts is None:
            return None
    if pts is not None:
        return " ".join([str(cls)] + [f"{_n(float(p[0]) / w)} {_n(float(p[1]) / h)}" for p in pts])
    box = region_box(r)
    if box is None:
        ctx.skip(item.path, f"{t} region without geometry", rid)
        return None
    if t != "box" or r.get("rotation"):  # the reason made only for what is reported (this runs once per box)
        why = "use segments=True for segment lines" if t == "polygon" and fmt == ExportFormat.YOLO_ULTRALYTICS.value else f"{fmt} lines are boxes"
        note_box_written(ctx, item, r, rid, "plain YOLO boxes", why, " (use obb=True)")
    return _box_line(cls, box, size)


def label_lines(ctx: ExportContext, item: Item, fmt: str, obb: bool = False, segments: bool = False) -> list[str]:
    """The YOLO lines of one item (class index, normalized geometry); what cannot be written is reported."""
    regs = regions(item)
    if not regs:
        return []
    size = media_size(item)
    ids = ctx.class_ids
    lines: list[str] = []
    for i, r in enumerate(regs):
        label = r.get("label")
        if r.get("type") == "box" and size is not None and label in ids and not r.get("rotation") and not (obb or segments):
            lines.append(_box_line(ids[label], r["xywh"], size))  # the common case: an axis-aligned box
            continue
        line = _region_line(ctx, item, r, region_id(r, i), fmt, size, obb, segments)
        if line is not None:
            lines.append(line)
    return lines


def _joined(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _plain_boxes(regs: Any, ids: Mapping[str, int], cls: list[int], nums: list[Any]) -> int | None:
    """Append the class and ``xywh`` of each region when all are plain boxes (a known label,
    no rotation); their count, or None (nothing appended) when any needs ``label_lines``."""
    if type(regs) is not list:
        return None
    start = len(cls)
    for r in regs:
        xywh = r.get("xywh") if type(r) is dict else None
        if type(xywh) is not list or len(xywh) != 4 or r.get("type") != "box" or r.get("rotation") or (label := r.get("label")) not in ids:
            del cls[start:], nums[4 * start:]
            return None
        cls.append(ids[label])
        nums += xywh
    return len(regs)


class LabelFiles:
    """Each item's media, label file and list line, written in item order a chunk of items at
    a time, so that the chunk's plain boxes are formatted together (``yolo_boxes``); any other
    region is written (or reported) by ``label_lines`` as its item is added. Only strings and
    numbers are kept between items: a chunk of decoded annotations would reach the garbage
    collector's oldest generation and make it traverse the whole heap, again and again."""

    def __init__(self, ctx: ExportContext, fmt: str, obb: bool = False, segments: bool = False, lists: Streams | None = None):
        self._ctx, self._fmt, self._obb, self._segments, self._lists = ctx, fmt, obb, segments, lists
        self._rows: list[tuple[str, str, str, bytes | None, tuple[str, str] | None]] = []  # media, dataset path, label file, its text (None: boxes below), list line
        self._cls: list[int] = []
        self._nums: list[Any] = []  # x y w h of each box, as decoded
        self._counts: list[int] = []  # boxes per row whose text is None
        self._sizes: list[tuple[float, float]] = []

    def add(self, item: Item, media: str, label: str, listed: tuple[str, str] | None = None) -> None:
        """Queue the item's content at ``media``, its label file at ``label`` and ``listed``
        (a list file's relative path, a line of it)."""
        regs = (item.annotation or {}).get("regions")
        size = None if not regs or self._obb or self._segments else media_size(item)
        n = None if size is None else _plain_boxes(regs, self._ctx.class_ids, self._cls, self._nums)
        if n is None:  # no regions (no lines), or some region label_lines writes or reports
            text: bytes | None = _joined(label_lines(self._ctx, item, self._fmt, self._obb, self._segments))
        else:
            text = None
            self._counts.append(n)
            self._sizes.append(size)  # type: ignore[arg-type]
        self._rows.append((media, item.path, label, text, listed))
        if len(self._rows) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write what was queued, in order."""
        ctx, texts = self._ctx, iter(self._box_texts())
        for media, path, label, text, listed in self._rows:
            if ctx.include_media:
                ctx.sink.add_media(media, ctx.view, path)
            ctx.sink.write(label, text if text is not None else next(texts))
            if listed is not None and self._lists is not None:
                self._lists.write(*listed)
        self._rows = []

    def _box_texts(self) -> list[bytes]:
        """The label files of the queued rows of plain boxes, in order."""
        counts, cls, nums, sizes = self._counts, self._cls, self._nums, self._sizes
        self._counts, self._cls, self._nums, self._sizes = [], [], [], []
        try:
            boxes = np.frombuffer(array("d", nums), dtype=np.float64).reshape(-1, 4)
        except (TypeError, OverflowError):  # not a number, or an int beyond a double: _box_line, as label_lines would
            boxes = None
        if boxes is None or (len(boxes) and not float(np.abs(boxes).max()) < EXACT):  # or huge, or infinite: Python's arithmetic
            out, i = [], 0
            for n, size in zip(counts, sizes):
                out.append(_joined([_box_line(c, nums[4 * j:4 * j + 4], size) for j, c in enumerate(cls[i:i + n], i)]))
                i += n
            return out
        per_box = np.repeat(np.array(sizes, dtype=np.float64).reshape(-1, 2), counts, axis=0)
        text, offsets = box_text(np.array(cls, dtype=np.int64), boxes, per_box)
        bounds = offsets[np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)].tolist()
        return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _obb_corners(ctx: ExportContext, item: Item, r: Mapping[str, Any], rid: str) -> list[Any] | None:
    """Four corners for a polygon (its own when it has four points, else its envelope) or a
    mask with a box; what changed shape is reported."""
    pts = r.get("points") or []
    if r.get("type") == "polygon" and len(pts) == 4:
        return [p[:2] for p in pts]
    box = region_box(r)
    if box is None:
        ctx.skip(item.path, f"{r.get('type')} region without geometry", rid)
        return None
    ctx.skip(item.path, f"{r.get('type')} regions are not expressible as OBB: the envelope's four corners were written", rid)
    return box_corners(*box, 0.0)


def _placement(ctx: ExportContext, folder_of: Any) -> dict[str, str]:
    """The names of the items renamed to keep label files apart (``base.renamed``)."""
    return renamed(lambda: ((it.path, folder_of(ctx.split(it)), it.hash) for it in ctx.layout_items()), stem_only=True)


def _stem(name: str) -> str:
    """``posixpath.splitext(name)[0]`` without its calls (twice per item): a base name's leading dots start no extension."""
    dot, base = name.rfind("."), name.rfind("/") + 1
    return name[:dot] if dot > base and name[base:dot].strip(".") else name


class DarknetExporter(BaseExporter):
    format = ExportFormat.YOLO
    parallel = True

    def export(self, ctx: ExportContext) -> None:
        names = _placement(ctx, lambda s: s)
        with Streams(ctx.sink) as out:
            files = LabelFiles(ctx, "YOLO", lists=out)
            for item in image_items(ctx, "YOLO"):
                split = ctx.split(item)
                name = names.get(item.path) or media_name(item.path)
                files.add(item, f"{split}/{name}", f"{split}/{_stem(name)}.txt", (f"{split}.txt", f"{split}/{name}\n"))
                ctx.count(split)
            files.flush()
        ctx.sink.write(f"{ctx.view.version_id}.names", "".join(c.name + "\n" for c in ctx.classes).encode())
        colors = {c.name: c.color for c in ctx.classes}
        ctx.sink.write("config.json", (json.dumps({"colors": colors}, indent=2, ensure_ascii=False) + "\n").encode())


class UltralyticsExporter(BaseExporter):
    format = ExportFormat.YOLO_ULTRALYTICS
    options: ClassVar[Mapping[str, Any]] = {"obb": False, "segments": False}
    parallel = True

    def export(self, ctx: ExportContext) -> None:
        obb, segments = bool(ctx.options.get("obb")), bool(ctx.options.get("segments"))
        if obb and segments:
            raise ExportError("YOLO_ULTRALYTICS: obb=True and segments=True cannot be combined (an OBB label file holds only four-corner lines)")
        splits: set[str] = set()  # of every item, so that each part writes the same data.yaml

        def rows() -> Iterator[tuple[str, str, str]]:
            for it in ctx.layout_items():
                split = ctx.split(it)
                splits.add(split)
                yield it.path, posixpath.dirname(under_split(split, it.path)), it.hash

        names = renamed(rows, stem_only=True)  # a.jpg and a.png would share a.txt
        files = LabelFiles(ctx, "YOLO_ULTRALYTICS", obb, segments)
        for item in image_items(ctx, "YOLO_ULTRALYTICS"):
            split = ctx.split(item)
            rel = f"{posixpath.dirname(under_split(split, item.path))}/{names.get(item.path) or media_name(item.path)}"
            files.add(item, f"images/{rel}", f"labels/{_stem(rel)}.txt")
            ctx.count(split)
        files.flush()
        ctx.sink.write("data.yaml", data_yaml(sorted(splits), [c.name for c in ctx.classes]).encode())


def data_yaml(splits: Sequence[str], names: Sequence[str]) -> str:
    """Ultralytics' dataset file: split folders relative to this file's folder, no ``path`` key."""
    import yaml

    doc: dict[str, Any] = {}
    for s in splits:
        key = "val" if s in _VAL_NAMES else s
        if key in doc:
            key = s
        doc[key] = f"images/{s}"
    doc["nc"] = len(names)
    doc["names"] = dict(enumerate(names))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
