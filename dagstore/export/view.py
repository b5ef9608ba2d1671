"""What an exporter sees of a version: items in path order, the class list, file content.

A ``VersionView`` is the only input of an exporter; ``LocalView`` implements it over a folder
(a version's cached local copy, or test data) and an iterable of annotations.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, NamedTuple, Protocol, runtime_checkable

import xxhash

from ..annotations import default_color
from ..annotations.media import probe_image
from ..core.decode import loads
from ..core import columns as cols
from ..core.manifest import annotation_object
from ..core.state import State
from ..errors import DagstoreError, InvalidPathError

_BATCH = 4096  # rows of a version's columns turned into items at a time


class Item(NamedTuple):
    """One file of a version: its dataset path, annotation (``dagstore.annotation/1``) and
    content identity. (A tuple: an export makes one per file, several times faster than a
    frozen dataclass.)"""

    path: str
    annotation: dict[str, Any] | None
    hash: str
    size: int


@dataclass(frozen=True)
class ClassInfo:
    """One class: its id is its index in the list; ``coco_id`` is the id a COCO source gave it."""

    name: str
    coco_id: int | None = None
    color: str | None = None


@runtime_checkable
class VersionView(Protocol):
    """A final version as exporters see it."""

    version_id: str
    name: str
    project: str

    @property
    def classes(self) -> Sequence[ClassInfo]: ...

    def items(self) -> Iterator[Item]:
        """Every file, in path order."""

    def open(self, path: str) -> BinaryIO:
        """The content of one file, for reading."""

    def local_path(self, path: str) -> str | None:
        """A local file holding the content (from the cache, to hardlink), or None (then use ``open``)."""


def _hash_file(path: str) -> tuple[str, int]:
    h = xxhash.xxh3_128()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def class_infos(classes: Iterable[Any], colors: Mapping[str, str] | None = None) -> list[ClassInfo]:
    """Normalize a class list: the annotations' ``ClassList`` (``names``, ``coco_ids``,
    ``color()``), or a list of names, dicts (``name``, ``coco_id``, ``color``) or ``ClassInfo``."""
    if hasattr(classes, "names") and hasattr(classes, "coco_ids"):
        color_of = getattr(classes, "color", None)
        return [ClassInfo(n, classes.coco_ids.get(n), (colors or {}).get(n) or (color_of(n) if color_of else default_color(n)))
                for n in classes.names]
    out: list[ClassInfo] = []
    for c in classes:
        if isinstance(c, ClassInfo):
            info = c
        elif isinstance(c, str):
            info = ClassInfo(c)
        elif isinstance(c, Mapping):
            info = ClassInfo(str(c["name"]), c.get("coco_id"), c.get("color"))
        else:
            info = ClassInfo(str(c.name), getattr(c, "coco_id", None), getattr(c, "color", None))
        color = info.color or (colors or {}).get(info.name) or default_color(info.name)
        out.append(ClassInfo(info.name, info.coco_id, color))
    return out


@dataclass
class LocalView:
    """A view over a local folder whose files are the version's files at their dataset paths.

    ``root`` may be a callable returning the folder, so that content is fetched only when an
    exporter first needs it (an annotations-only export never materializes the media).
    """

    version_id: str
    root: str | Callable[[], str]
    annotations: Callable[[], Iterable[tuple[str, dict[str, Any] | None]]]
    class_list: Sequence[ClassInfo]
    name: str = ""
    project: str = ""
    entries: Mapping[str, tuple[str, int]] | None = None
    state: State | None = None  # a version's state: items streamed from its columns (then ``annotations`` is not read)
    subset: Callable[[Sequence[str]], str] | None = None  # a folder of just these paths (no whole copy)
    reader: Callable[[str], BinaryIO] | None = None  # one file read in place by ranged reads (nothing materialized)
    _root: str | None = field(default=None, init=False, repr=False)

    @property
    def classes(self) -> Sequence[ClassInfo]:
        return self.class_list

    def _folder(self) -> str:
        if self._root is None:
            self._root = self.root() if callable(self.root) else self.root
        return self._root

    def items(self) -> Iterator[Item]:
        if self.state is not None:
            yield from stream_items(self.state)
            return
        for path, ann in self.annotations():
            if self.entries is not None:
                h, size = self.entries[path]
            else:
                h, size = _hash_file(self._file(path))
            yield Item(path, ann, h, size)

    def layout(self) -> Iterator[Item]:
        """Every item with an annotation holding only its split (for passes that only place
        files): from a state, no annotation is decoded."""
        if self.state is None:
            yield from self.items()
        else:
            yield from stream_items(self.state, split_only=True)

    def count(self) -> int | None:
        """The number of items, when known without reading them."""
        if self.state is not None:
            return len(self.state)
        return len(self.entries) if self.entries is not None else None

    def _file(self, path: str, folder: str | None = None) -> str:
        parts = path.split("/")
        if "" in parts or "." in parts or ".." in parts:  # also refuses "" and a leading "/"
            raise InvalidPathError(f"dataset path {path!r} escapes the dataset root")
        base = folder or self._folder()
        return f"{base}/{path}" if base and not base.endswith("/") else os.path.join(base, path)  # join, once per media file

    def open(self, path: str) -> BinaryIO:
        return open(self._file(path), "rb")

    def open_head(self, path: str) -> BinaryIO:
        """``open`` for reading a file's first bytes (an image header): from the local copy when
        it is built, else read in place by ``reader`` (no local copy made for it)."""
        if self._root is not None or self.reader is None:
            return self.open(path)
        self._file(path, "/")  # refuses a path escaping the root
        return self.reader(path)

    def open_alone(self, paths: Sequence[str]) -> list[BinaryIO]:
        """``open`` of a few files without building the whole local copy (when the view has a
        ``subset`` and the copy is not built yet): the files a table export reads."""
        if self._root is not None or self.subset is None:
            return [self.open(p) for p in paths]
        for p in paths:
            self._file(p, "/")  # refuses a path escaping the root before anything is fetched
        folder = self.subset(paths)
        return [open(self._file(p, folder), "rb") for p in paths]

    def local_path(self, path: str) -> str | None:
        return self._file(path)


def header_size(view: VersionView, path: str) -> tuple[float, float] | None:
    """(width, height) of an image from its header (Pillow reads only the first bytes it needs,
    as displayed: EXIF-rotated), by the view's ``open_head`` where it has one; None when the
    content cannot be read or is not an image Pillow knows. An image of any pixel count has its
    size: the probe never decodes, so Pillow's decompression-bomb limit does not apply."""
    opener = getattr(view, "open_head", view.open)
    try:
        with opener(path) as f:
            media = probe_image(f, path)
    except (OSError, DagstoreError):
        return None
    return (float(media["width"]), float(media["height"])) if media and media.get("width") and media.get("height") else None


def stream_items(state: State, split_only: bool = False) -> Iterator[Item]:
    """The items of a version's state in path order, a batch of rows at a time, every file
    (an unannotated one with ``{}``); each annotation is decoded as its item is handed out."""
    for part in state.batches(_BATCH):
        paths = part["path"].to_pylist()
        hashes = cols.hashes_to_hex(part["hash"])
        sizes = part["size"].to_pylist()
        if split_only:
            for path, split, h, size in zip(paths, part["split"].to_pylist(), hashes, sizes):
                yield Item(path, {"split": split} if split is not None else {}, h, size)
        else:  # the column holds plain canonical JSON (the quote swap is only Entry.annotation's)
            def where(row: int) -> str:
                return f"manifest of version {state.origins[part['origin'][row].as_py()]}"

            for row, (path, text, h, size) in enumerate(zip(paths, part["annotation"].to_pylist(), hashes, sizes)):
                yield Item(path, annotation_object(text, path, partial(where, row), loads) if text is not None else {}, h, size)
