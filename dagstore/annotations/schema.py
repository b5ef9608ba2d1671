"""The ``dagstore.annotation/1`` schema: validation on write and the canonical encoding.

An annotation is a JSON object; every field is optional and unknown fields are kept. Stored
annotations are canonical JSON text (sorted keys, compact), so equality is string equality
and a manifest holds one short string per annotated entry instead of a tree of objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..core.manifest import decode_annotation, encode_annotation as encode
from .errors import AnnotationError

SCHEMA = "dagstore.annotation/1"
REGION_TYPES = ("box", "polygon", "keypoints", "mask", "span", "segment")
MEDIA_KINDS = ("image", "audio", "video", "text", "other")
ALTERNATIVE_KINDS = ("annotation", "prediction", "draft")
#: Geometry may overshoot the image by this many pixels (rounding of percent coordinates).
TOLERANCE_PX = 0.5


def decode(text: str) -> dict[str, Any]:
    """The annotation stored as ``text``."""
    value = decode_annotation(text)
    if not isinstance(value, dict):
        raise ValueError("annotation is not a JSON object")
    return value


_NUMBER = (int, float)


def _num(v: Any) -> bool:
    """A finite JSON number (bool excluded); exact types: values come from JSON."""
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


class _Checker:
    def __init__(self, path: str, classes: Collection[str] | None, text_len: Callable[[], int] | None):
        self.path, self.classes, self.text_len = path, classes, text_len
        self._len: int | None = None

    def fail(self, field: str, reason: str) -> None:
        raise AnnotationError(self.path, field, reason)

    def label(self, field: str, value: Any) -> None:
        if not isinstance(value, str) or not value:
            self.fail(field, f"a label must be a non-empty string, not {value!r}")
        if self.classes is not None and value not in self.classes:
            self.fail(field, f"class {value!r} is not in the dataset's class list (add_classes first)")

    def length(self, ann: Mapping[str, Any]) -> int | None:
        if isinstance(ann.get("text"), str):
            return len(ann["text"])
        if self._len is None and self.text_len is not None:
            self._len = self.text_len()
        return self._len

    def points(self, field: str, pts: Any, dims: int, size: tuple[float, float] | None) -> None:
        if not isinstance(pts, list) or not pts:
            self.fail(field, "must be a non-empty list of points")
        for i, p in enumerate(pts):
            if not isinstance(p, list) or len(p) != dims or not all(_num(c) for c in p):
                self.fail(f"{field}[{i}]", f"must be a list of {dims} numbers, not {p!r}")
            if dims == 3 and p[2] not in (0, 1, 2):
                self.fail(f"{field}[{i}]", f"keypoint visibility must be 0, 1 or 2 (COCO), not {p[2]!r}")
            if size is not None and not (dims == 3 and p[2] == 0):
                self.inside(f"{field}[{i}]", p[0], p[1], size)

    def inside(self, field: str, x: float, y: float, size: tuple[float, float]) -> None:
        w, h = size
        if not (-TOLERANCE_PX <= x <= w + TOLERANCE_PX and -TOLERANCE_PX <= y <= h + TOLERANCE_PX):
            self.fail(field, f"point ({x:g}, {y:g}) lies outside the {w:g}x{h:g} image")

    def check(self, ann: Any, where: str = "") -> None:
        if not isinstance(ann, Mapping):
            self.fail(where or "annotation", f"must be a JSON object, not {type(ann).__name__}")
        pre = f"{where}." if where else ""
        split = ann.get("split")
        if split is not None and (not isinstance(split, str) or not split or "/" in split):
            self.fail(f"{pre}split", f"must be a non-empty name without '/', not {split!r}")
        size = self.media(pre, ann.get("media"))
        self.item_fields(pre, ann)
        regions = ann.get("regions")
        if regions is not None:
            if not isinstance(regions, list):
                self.fail(f"{pre}regions", "must be a list")
            ids: set[str] = set()
            for i, r in enumerate(regions):
                self.region(f"{pre}regions[{i}]", r, ann, size, ids)
        if ann.get("alternatives") is not None:
            self.alternatives(where, ann)

    def media(self, pre: str, media: Any) -> tuple[float, float] | None:
        """Check the ``media`` object; the image size when it gives both width and height."""
        if media is None:
            return None
        if not isinstance(media, Mapping):
            self.fail(f"{pre}media", "must be an object")
        for k in ("width", "height", "depth", "sample_rate"):
            v = media.get(k)
            if v is not None and (not _num(v) or v <= 0):
                self.fail(f"{pre}media.{k}", f"must be a positive number, not {v!r}")
        d = media.get("duration_s")
        if d is not None and (not _num(d) or d < 0):
            self.fail(f"{pre}media.duration_s", f"must be a non-negative number, not {d!r}")
        if media.get("width") is not None and media.get("height") is not None:
            return (float(media["width"]), float(media["height"]))
        return None

    def item_fields(self, pre: str, ann: Mapping[str, Any]) -> None:
        """Item labels, the text fields and the object fields."""
        labels = ann.get("labels")
        if labels is not None:
            if not isinstance(labels, list):
                self.fail(f"{pre}labels", "must be a list of class names")
            for i, lab in enumerate(labels):
                self.label(f"{pre}labels[{i}]", lab)
        for k in ("text", "transcription"):
            if ann.get(k) is not None and not isinstance(ann[k], str):
                self.fail(f"{pre}{k}", "must be a string or null")
        for k in ("fields", "source"):
            if ann.get(k) is not None and not isinstance(ann[k], Mapping):
                self.fail(f"{pre}{k}", "must be an object")

    def alternatives(self, where: str, ann: Mapping[str, Any]) -> None:
        """Each alternative is checked as an annotation with the item's media and text."""
        pre = f"{where}." if where else ""
        alts = ann["alternatives"]
        if where:
            self.fail(f"{pre}alternatives", "alternatives cannot nest")
        if not isinstance(alts, list):
            self.fail("alternatives", "must be a list")
        for i, alt in enumerate(alts):
            if isinstance(alt, Mapping) and alt.get("kind", "annotation") not in ALTERNATIVE_KINDS:
                self.fail(f"alternatives[{i}].kind", f"must be one of {', '.join(ALTERNATIVE_KINDS)}")
            merged = {**{k: ann[k] for k in ("media", "text") if k in ann}, **alt} if isinstance(alt, Mapping) else alt
            self.check(merged, f"alternatives[{i}]")

    def plain_box(self, r: dict[str, Any], size: tuple[float, float], ids: set[str]) -> bool:
        """Whether ``r`` is a valid unrotated box (the common case, checked inline); False: not
        sure, the full checks decide (and report)."""
        rid, label, xywh, score = r.get("id"), r.get("label"), r.get("xywh"), r.get("score")
        if (rid is not None and rid in ids) or type(label) is not str or not label or r.get("rotation") is not None:
            return False
        if (self.classes is not None and label not in self.classes) or type(xywh) is not list or len(xywh) != 4:
            return False
        if (score is not None and not _num(score)) or not box_inside(xywh, size):
            return False
        if rid is not None:
            ids.add(rid)
        return True

    def region(self, f: str, r: Any, ann: Mapping[str, Any], size: tuple[float, float] | None, ids: set[str]) -> None:
        """Fields every region has, its box if it has one, then the fields of its type."""
        if type(r) is dict and r.get("type") == "box" and size is not None and self.plain_box(r, size, ids):
            return
        if not isinstance(r, Mapping):
            self.fail(f, "a region must be an object")
        kind = r.get("type")
        self.region_fields(f, r, kind, size, ids)
        if kind == "box" or r.get("xywh") is not None:
            self.xywh(f, r, size)
        if kind == "polygon":
            self.points(f"{f}.points", r.get("points"), 2, size)
        elif kind == "keypoints":
            self.points(f"{f}.points", r.get("points"), 3, size)
        elif kind == "mask":
            self.mask(f, r)
        elif kind == "span":
            self.span(f, r, ann)
        elif kind == "segment":
            self.segment(f, r, ann)

    def region_fields(self, f: str, r: Any, kind: Any, size: tuple[float, float] | None, ids: set[str]) -> None:
        """type, a unique id, label (optional on masks), score, and the image size geometry needs."""
        if kind not in REGION_TYPES:
            self.fail(f"{f}.type", f"must be one of {', '.join(REGION_TYPES)}, not {kind!r}")
        rid = r.get("id")
        if rid is not None:
            if rid in ids:
                self.fail(f"{f}.id", f"duplicate region id {rid!r}")
            ids.add(rid)
        if "label" in r or kind != "mask":
            self.label(f"{f}.label", r.get("label"))
        if r.get("score") is not None and not _num(r["score"]):
            self.fail(f"{f}.score", "must be a number or null")
        if kind in ("box", "polygon", "keypoints") or (kind == "mask" and "rle" in r):
            if size is None:
                self.fail(f"{pre_media(f)}media.width/height", f"a {kind} region needs the image size")

    def xywh(self, f: str, r: Any, size: tuple[float, float] | None) -> None:
        xywh = r.get("xywh")
        if not isinstance(xywh, list) or len(xywh) != 4 or not all(_num(v) for v in xywh):
            self.fail(f"{f}.xywh", f"must be [x, y, width, height] in pixels, not {xywh!r}")
        x, y, w, h = xywh
        if w < 0 or h < 0:
            self.fail(f"{f}.xywh", f"width and height must be >= 0, not {w:g}x{h:g}")
        rot = r.get("rotation") or 0.0
        if not _num(rot):
            self.fail(f"{f}.rotation", "must be a number (degrees)")
        assert size is not None
        self.inside(f"{f}.xywh", x, y, size)
        if not rot:
            self.inside(f"{f}.xywh", x + w, y + h, size)

    def mask(self, f: str, r: Any) -> None:
        rle, mpath = r.get("rle"), r.get("path")
        if (rle is None) == (mpath is None):
            self.fail(f, "a mask needs exactly one of rle or path")
        if rle is not None and (not isinstance(rle, Mapping) or not isinstance(rle.get("size"), list) or len(rle["size"]) != 2 or not isinstance(rle.get("counts"), (str, list))):
            self.fail(f"{f}.rle", "must be COCO RLE {size: [h, w], counts}")
        if mpath is not None and not isinstance(mpath, str):
            self.fail(f"{f}.path", "must be a dataset path")

    def span(self, f: str, r: Any, ann: Mapping[str, Any]) -> None:
        s, e = r.get("start"), r.get("end")
        if not isinstance(s, int) or not isinstance(e, int) or isinstance(s, bool) or isinstance(e, bool) or not 0 <= s <= e:
            self.fail(f"{f}.start/end", f"must be code point offsets 0 <= start <= end, not {s!r}..{e!r}")
        n = self.length(ann)
        if n is None:
            self.fail(f"{f}.end", "a span needs the text (the file's content or the text field)")
        elif e > n:
            self.fail(f"{f}.end", f"span {s}..{e} runs past the end of the text ({n} code points)")

    def segment(self, f: str, r: Any, ann: Mapping[str, Any]) -> None:
        s, e = r.get("start_s"), r.get("end_s")
        if not _num(s) or not _num(e) or not 0 <= s <= e:
            self.fail(f"{f}.start_s/end_s", f"must be seconds 0 <= start_s <= end_s, not {s!r}..{e!r}")
        dur = (ann.get("media") or {}).get("duration_s")
        if dur is not None and e > dur + 1e-3:
            self.fail(f"{f}.end_s", f"segment ends at {e:g} s, after the end of the audio ({dur:g} s)")
        if r.get("text") is not None and not isinstance(r["text"], str):
            self.fail(f"{f}.text", "must be a string")


def box_inside(xywh: list[Any], size: tuple[float, float]) -> bool:
    """Whether ``[x, y, w, h]`` are numbers, w and h >= 0, and both corners inside the image
    (comparisons with NaN or inf fail: a coordinate that passes is finite)."""
    x, y, w, h = xywh
    if not (type(x) in _NUMBER and type(y) in _NUMBER and type(w) in _NUMBER and type(h) in _NUMBER) or w < 0 or h < 0:
        return False
    W, H = size[0] + TOLERANCE_PX, size[1] + TOLERANCE_PX
    return -TOLERANCE_PX <= x <= W and -TOLERANCE_PX <= y <= H and -TOLERANCE_PX <= x + w <= W and -TOLERANCE_PX <= y + h <= H


def pre_media(field: str) -> str:
    """``alternatives[i].`` for a region field of an alternative, else ''."""
    return field.split("regions[", 1)[0]


def validate(
    annotation: Any,
    path: str,
    classes: Collection[str] | None = None,
    text_len: Callable[[], int] | None = None,
    plain: bool = False,
) -> dict[str, Any]:
    """Check ``annotation`` against the schema and return it as a plain JSON dict.

    ``classes`` is the dataset's class list (``None`` skips the class check); ``text_len``
    returns the length in code points of the file's text, read only when a span needs it.
    ``plain=True`` (importers) skips the copy for a dict already made of JSON types.
    Raises AnnotationError naming ``path`` and the field.
    """
    if not isinstance(annotation, Mapping):
        raise AnnotationError(path, "annotation", f"must be a JSON object, not {type(annotation).__name__}")
    if plain:
        out = dict(annotation)
    else:
        try:
            out = decode(encode(annotation))
        except (TypeError, ValueError) as exc:
            raise AnnotationError(path, "annotation", f"is not JSON-serializable: {exc}") from None
    _Checker(path, classes if classes is None or isinstance(classes, (set, frozenset, dict)) else set(classes), text_len).check(out)
    return out


def labels_of(annotation: Mapping[str, Any]) -> set[str]:
    """Every class an annotation uses (item labels and region labels, alternatives included)."""
    out = {x for x in annotation.get("labels") or () if isinstance(x, str)}
    out |= {r["label"] for r in annotation.get("regions") or () if isinstance(r, Mapping) and isinstance(r.get("label"), str)}
    for alt in annotation.get("alternatives") or ():
        if isinstance(alt, Mapping):
            out |= labels_of(alt)
    return out


def top_labels(annotation: Mapping[str, Any]) -> set[str]:
    """Item and region labels of the top level (what ``iter_annotations(labels=)`` matches)."""
    out = {x for x in annotation.get("labels") or () if isinstance(x, str)}
    return out | {r["label"] for r in annotation.get("regions") or () if isinstance(r, Mapping) and isinstance(r.get("label"), str)}
