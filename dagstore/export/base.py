"""The exporter protocol, the formats' names, and what an exporter is handed while it runs."""

from __future__ import annotations

import enum
import math
from array import array
from functools import cached_property
import posixpath
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from ..annotations.media import kind_of
from .errors import ExportError
from .sinks import Sink
from .view import ClassInfo, Item, VersionView, header_size


class ExportFormat(str, enum.Enum):
    """The export formats (``dagstore.ExportFormat``); strings are accepted case-insensitively."""

    FOLDERS = "FOLDERS"
    IMAGEFOLDER = "IMAGEFOLDER"
    YOLO = "YOLO"
    YOLO_ULTRALYTICS = "YOLO_ULTRALYTICS"
    COCO = "COCO"
    VOC = "VOC"
    CSV = "CSV"
    TSV = "TSV"
    PARQUET = "PARQUET"
    JSONL = "JSONL"
    SPACY_NER = "SPACY_NER"
    SPACY = "SPACY"
    CONLL2003 = "CONLL2003"
    JSON = "JSON"
    JSON_MIN = "JSON_MIN"
    ASR_MANIFEST = "ASR_MANIFEST"
    BRUSH_TO_PNG = "BRUSH_TO_PNG"
    BRUSH_TO_NUMPY = "BRUSH_TO_NUMPY"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | ExportFormat) -> ExportFormat:
        """The format named ``value`` (any case); an unknown name is an ExportError listing the known ones."""
        if isinstance(value, ExportFormat):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            known = ", ".join(f.value for f in cls)
            raise ExportError(f"unknown export format {value!r}; known formats: {known}") from None


COMMON_OPTIONS: dict[str, Any] = {"default_split": "train"}


class FormatWriter(Protocol):
    """One export format: its name, whether it carries media, the options it takes (name →
    default) and the export itself."""

    carries_media: ClassVar[bool]
    options: ClassVar[Mapping[str, Any]]
    parallel: ClassVar[bool]

    @property
    def name(self) -> str: ...

    def merged(self, relpath: str) -> bool:
        """Whether every part of a fanned-out export may write ``relpath``."""

    def merge(self, relpath: str, parts: Sequence[bytes]) -> bytes:
        """One file from the parts' versions of it, in part order."""

    def class_map(self, classes: Sequence[ClassInfo]) -> dict[str, int]:
        """The id the format gives each class."""

    def export(self, ctx: ExportContext) -> None: ...


@dataclass
class ExportContext:
    """What an exporter works with: the selected items, where to write, options, the report."""

    view: VersionView
    sink: Sink
    options: dict[str, Any]
    include_media: bool
    select: Callable[[Item], Item | None]
    tick: Callable[[int], None] = lambda n: None
    part: tuple[int, int] | None = None  # [start, end) of the selected items this worker writes (docs/scale.md)
    light: bool = False  # the selection depends on split and path only: first passes decode no annotation
    counts: Counter[str] = field(default_factory=Counter)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    _sized: tuple[str, tuple[float, float] | None] = field(default=("", None), init=False, repr=False)  # the last header read

    @property
    def classes(self) -> Sequence[ClassInfo]:
        return self.view.classes

    @cached_property
    def class_ids(self) -> dict[str, int]:
        """``{class name: index}``."""
        return index_map(self.classes)

    @property
    def default_split(self) -> str:
        return str(self.options.get("default_split") or "train")

    def items(self, final: bool = True) -> Iterator[Item]:
        """The selected items in path order (filters applied). Exporters that look at the items
        twice pass ``final=False`` on the first pass so progress counts the writing pass only.
        In a part of a fanned-out export the writing pass yields only the part's items (a first
        pass still sees them all, so names and class ids agree across parts)."""
        start, end = self.part if final and self.part is not None else (0, -1)
        n = -1
        for item in self.view.items():
            sel = self.select(item)
            if sel is None:
                continue
            n += 1
            if n < start:
                continue
            if n == end:
                return
            yield sel
            if final:
                self.tick(1)

    def layout_items(self) -> Iterator[Item]:
        """Every selected item, for a first pass that only places files (path, split, hash):
        when the selection allows (``light``), their annotations hold only the split."""
        layout = getattr(self.view, "layout", None)
        if not self.light or layout is None:
            yield from self.items(final=False)
            return
        for item in layout():
            if self.select(item) is not None:
                yield item

    def split(self, item: Item) -> str:
        ann = item.annotation or {}
        return str(ann.get("split") or self.default_split)

    def count(self, split: str) -> None:
        self.counts[split] += 1

    def add_media(self, relpath: str, item: Item) -> None:
        """Include the item's content at ``relpath`` unless media are excluded."""
        if self.include_media:
            self.sink.add_media(relpath, self.view, item.path)

    def text_of(self, item: Item) -> str | None:
        """The text that spans index: the annotation's ``text``, else the file as UTF-8."""
        ann = item.annotation or {}
        if ann.get("text") is not None:
            return str(ann["text"])
        try:
            with self.view.open(item.path) as f:
                return f.read().decode("utf-8")
        except UnicodeDecodeError:
            return None

    def image_size(self, item: Item) -> tuple[float, float] | None:
        """(width, height) from the item's media, else (only then) from its image's header;
        None, reported, when neither gives one."""
        size = media_size(item)
        if size is None and self._sized[0] != item.path:
            self._sized = (item.path, header_size(self.view, item.path))
            if self._sized[1] is None:
                self.skip(item.path, "no image size: the version has none (media.width/height) and the image's header could not be read")
        return size or self._sized[1]

    def skip(self, path: str, reason: str, region: str | None = None) -> None:
        """Record an item (or one region of it) the format could not express."""
        entry: dict[str, Any] = {"path": path}
        if region is not None:
            entry["region"] = region
        entry["reason"] = reason
        self.skipped.append(entry)


def regions(item: Item) -> list[dict[str, Any]]:
    return list((item.annotation or {}).get("regions") or [])


def media_size(item: Item) -> tuple[float, float] | None:
    media = (item.annotation or {}).get("media") or {}
    w, h = media.get("width"), media.get("height")
    if not w or not h:
        return None
    return float(w), float(h)


def region_id(region: Mapping[str, Any], index: int) -> str:
    return str(region.get("id") or f"#{index}")


def box_corners(x: float, y: float, w: float, h: float, rotation: float) -> list[tuple[float, float]]:
    """The four corners of a box rotated clockwise by ``rotation`` degrees around its top-left."""
    if not rotation:
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    a = math.radians(rotation)
    c, s = math.cos(a), math.sin(a)
    pts = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
    return [(x + px * c - py * s, y + px * s + py * c) for px, py in pts]


def envelope(points: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def region_box(region: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """The axis-aligned pixel box (x, y, w, h) of a box, polygon or mask region, if it has one."""
    t = region.get("type")
    if t == "box" and region.get("xywh"):
        x, y, w, h = (float(v) for v in region["xywh"])
        rot = float(region.get("rotation") or 0.0)
        return envelope(box_corners(x, y, w, h, rot)) if rot else (x, y, w, h)
    if region.get("xywh"):
        x, y, w, h = (float(v) for v in region["xywh"])
        return x, y, w, h
    if t == "polygon" and region.get("points"):
        return envelope(region["points"])
    return None


def note_box_written(ctx: ExportContext, item: Item, region: Mapping[str, Any], rid: str, target: str, boxes_only: str,
                     rotation_hint: str = "") -> None:
    """Report a region that ``target`` (a format holding axis-aligned boxes only) gets as its
    bounding box: a polygon or mask (``boxes_only`` says why), or a rotated box's envelope."""
    t = region.get("type")
    if t != "box":
        ctx.skip(item.path, f"{t} written as its bounding box ({boxes_only})", rid)
    elif region.get("rotation"):
        ctx.skip(item.path, f"rotation is not expressible in {target}: the axis-aligned envelope was written{rotation_hint}", rid)


def is_image(item: Item) -> bool:
    """Whether an image format may list the item: its media says it is an image, else (no
    media kind) its name's suffix does. Readers open every listed file as an image."""
    kind = ((item.annotation or {}).get("media") or {}).get("kind")
    return kind == "image" if kind else kind_of(item.path) == "image"


def image_items(ctx: ExportContext, target: str) -> Iterator[Item]:
    """``ctx.items()`` that are images; each other file is reported as left out."""
    for item in ctx.items():
        if is_image(item):
            yield item
        else:
            ctx.skip(item.path, f"not an image: {target} lists images only, so it was left out (no entry, no file)")


def under_split(split: str, path: str) -> str:
    """``<split>/<dataset path>``, without doubling a leading split folder (``train/a.jpg``
    stays ``train/a.jpg``), so an export that an importer reads back exports the same again."""
    return path if path.startswith(f"{split}/") else f"{split}/{path}"


def media_name(path: str) -> str:
    return posixpath.basename(path)


def _name_key(folder: str, name: str, stem_only: bool) -> tuple[str, str]:
    """What two file names in a folder must differ in (case-insensitively; by stem when label files sit beside the images)."""
    return folder, (posixpath.splitext(name)[0] if stem_only else name).casefold()


def unique_names(items: Sequence[tuple[str, str, str]], stem_only: bool = False) -> dict[str, str]:
    """File names for items placed in shared folders: ``(path, folder, hash)`` → name. The base
    name where unique in its folder (case-insensitively; by stem when label files sit beside
    the images), else ``<first 8 hex of the content hash>_<name>`` for every colliding one
    (``<hash8>-<n>_<name>`` if even that collides: same name and same content)."""
    def key(folder: str, name: str) -> tuple[str, str]:
        return _name_key(folder, name, stem_only)

    seen = Counter(key(folder, media_name(p)) for p, folder, _ in items)
    out: dict[str, str] = {}
    again: Counter[tuple[str, str]] = Counter()
    for p, folder, h in items:
        name = media_name(p)
        if seen[key(folder, name)] > 1:
            name = f"{(h or '0' * 8)[:8]}_{name}"
            again[key(folder, name)] += 1
        out[p] = name
    nth: Counter[tuple[str, str]] = Counter()
    for p, folder, h in items:
        k = key(folder, out[p])
        if again[k] > 1:
            nth[k] += 1
            out[p] = f"{(h or '0' * 8)[:8]}-{nth[k]}_{media_name(p)}"
    return out


def renamed(rows: Callable[[], Iterable[tuple[str, str, str]]], stem_only: bool = False) -> dict[str, str]:
    """``unique_names`` of the items it renames; every other item keeps its base name. For
    exports of any size: ``rows()`` is read twice (three times when a new name meets another
    file's) and 4 bytes per item are held (a hash of its name key), not the rows."""
    def key_hash(path: str, folder: str, name: str | None = None) -> int:
        return hash(_name_key(folder, name or media_name(path), stem_only)) & 0xFFFFFFFF

    seen = np.frombuffer(array("I", (key_hash(p, f) for p, f, _ in rows())), dtype=np.uint32)  # a view: sorted in place
    seen.sort()
    wanted = set(seen[1:][seen[1:] == seen[:-1]].tolist())  # every item of a colliding name (and some hash collisions)
    if not wanted:
        return {}
    names = unique_names(cand := [r for r in rows() if key_hash(r[0], r[1]) in wanted], stem_only)
    new = {key_hash(p, f, f"{(h or '0' * 8)[:8]}_{media_name(p)}") for p, f, h in cand if names[p] != media_name(p)} - wanted
    met = {h for h in new if seen[min(int(np.searchsorted(seen, h)), len(seen) - 1)] == h}
    if met:  # a new name is another file's own name: unique_names decides over both
        wanted |= met
        names = unique_names([r for r in rows() if key_hash(r[0], r[1]) in wanted], stem_only)
    return {p: n for p, n in names.items() if n != media_name(p)}


_UNSAFE_CHARS = set('/\\\x00:*?"<>|')


def check_folder_labels(names: Sequence[str], what: str = "folder") -> None:
    """Labels used as folder or file names must be safe on every file system and distinct up to case."""
    seen: dict[str, str] = {}
    for n in names:
        if n in ("", ".", "..") or any(c in _UNSAFE_CHARS or ord(c) < 32 for c in n) or n != n.strip() or n.endswith("."):
            raise ExportError(f"label {n!r} cannot be used as a {what} name; rename the class or use CSV")
        k = n.casefold()
        if k in seen:
            raise ExportError(f"labels {seen[k]!r} and {n!r} differ only in case and would share a {what}; rename one or use CSV")
        seen[k] = n


def index_map(classes: Sequence[ClassInfo]) -> dict[str, int]:
    return {c.name: i for i, c in enumerate(classes)}


class BaseExporter:
    """Defaults shared by the formats: class ids are list indices; no extra options."""

    format: ClassVar[ExportFormat]
    carries_media: ClassVar[bool] = True
    options: ClassVar[Mapping[str, Any]] = {}
    parallel: ClassVar[bool] = False  # can run as parts on workers (merge below); docs/scale.md

    def merged(self, relpath: str) -> bool:
        """Whether every part may write ``relpath`` (lists, class files), so the driver merges
        it; other files belong to one item and are written in place. Default: top-level files."""
        return "/" not in relpath

    def merge(self, relpath: str, parts: Sequence[bytes]) -> bytes:
        """One merged file from the parts' versions, in part order: the same bytes once
        (class files), else concatenated (lists of items)."""
        return parts[0] if all(p == parts[0] for p in parts) else b"".join(parts)

    @property
    def name(self) -> str:
        return self.format.value

    def class_map(self, classes: Sequence[ClassInfo]) -> dict[str, int]:
        return index_map(classes)

    def export(self, ctx: ExportContext) -> None:  # pragma: no cover - every format overrides it
        raise NotImplementedError


class Streams:
    """Several sink files open at once (one per split, say), closed in sorted order."""

    def __init__(self, sink: Sink):
        self._sink = sink
        self._open: dict[str, Any] = {}
        self._files: dict[str, Any] = {}

    def get(self, relpath: str) -> Any:
        if relpath not in self._files:
            cm = self._sink.open(relpath)
            self._files[relpath] = cm.__enter__()
            self._open[relpath] = cm
        return self._files[relpath]

    def write(self, relpath: str, text: str) -> None:
        self.get(relpath).write(text.encode("utf-8"))

    def __enter__(self) -> Streams:
        return self

    def __exit__(self, *exc: object) -> None:
        for relpath in sorted(self._open):
            self._open[relpath].__exit__(None, None, None)
