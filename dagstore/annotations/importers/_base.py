"""What every importer shares: the protocol, the item it yields, and the import context that
resolves media files safely and applies the ``on_error`` policy."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ..classes import ClassList
from ..errors import AnnotationError, ImportSourceError
from ..media import probe


@dataclass
class ImportItem:
    """One file of the import: its dataset path (relative to the import's ``dataset_path``),
    its annotation, and where its content comes from (a local file, an external URL, or bytes).
    A ``plain`` file (a table's ``table.json`` and ``data.parquet``) is stored without an
    annotation and is not an item of the report's counts."""

    path: str
    annotation: dict[str, Any]
    origin: str
    local: str | None = None
    url: str | None = None
    data: bytes | None = None
    plain: bool = False


class Importer(Protocol):
    """One import format. ``read`` parses ``source`` (a local file or folder) into ``ctx``."""

    name: str
    options: tuple[str, ...]

    def read(self, source: Path, ctx: ImportContext) -> None: ...


@dataclass
class ImportContext:
    """Collects the items and classes of one import; item problems raise or are skipped."""

    format: str
    media: Path | None = None
    split: str | None = None
    policy: str = "ground_truth"
    on_error: str = "raise"
    options: dict[str, Any] = field(default_factory=dict)
    items: dict[str, ImportItem] = field(default_factory=dict)
    classes: ClassList = field(default_factory=ClassList)
    skipped: list[dict[str, str]] = field(default_factory=list)
    cleanup: list[Path] = field(default_factory=list)  # temporary folders removed after the import
    guessed: dict[str, Any] = field(default_factory=dict)  # what the importer inferred from the layout (reported)
    _real_roots: dict[Path, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise AnnotationError("on_error", "on_error", f"must be 'raise' or 'skip', not {self.on_error!r}")

    # -- problems ---------------------------------------------------------------------------

    def problem(self, where: str, field_: str, reason: str) -> None:
        """An item-level problem: raise (``on_error="raise"``) or record a skip."""
        if self.on_error == "raise":
            raise AnnotationError(where, field_, reason)
        self.skipped.append({"path": where, "reason": f"{field_}: {reason}" if field_ else reason})

    # -- classes ----------------------------------------------------------------------------

    def add_classes(self, names: list[str], coco_ids: Mapping[str, int] | None = None, colors: Mapping[str, str] | None = None) -> None:
        self.classes = self.classes.extend(names, colors=colors, coco_ids=coco_ids)

    # -- items ------------------------------------------------------------------------------

    def add(self, item: ImportItem) -> bool:
        """Add an item; a second item on the same dataset path is a problem."""
        split = self.split or item.annotation.get("split")
        if split and not item.plain:
            item.annotation["split"] = split
        prev = self.items.get(item.path)
        if prev is not None:
            self.problem(item.origin, "path", f"dataset path {item.path!r} is also the target of {prev.origin} (duplicate file name)")
            return False
        self.items[item.path] = item
        return True

    def resolve_media(self, root: Path, rel: str, where: str, field_: str) -> Path | None:
        """The file ``rel`` under ``root``, refusing ``..``, absolute paths and symlinks that
        leave ``root``; ``None`` (after reporting the problem) when unsafe or missing."""
        rel_n = rel.replace("\\", "/")
        parts = [p for p in rel_n.split("/") if p not in ("", ".")]
        if rel_n.startswith("/") or (len(rel_n) > 1 and rel_n[1] == ":") or ".." in parts or not parts:
            self.problem(where, field_, f"media path {rel!r} escapes the media root")
            return None
        candidate = root.joinpath(*parts)
        root_real = self._real(root)
        try:
            st = os.lstat(candidate)
        except OSError:
            self.problem(where, field_, f"media file {rel!r} not found under {root.name or root}")
            return None
        # the folder is resolved once (cached); the file itself only when it is a symlink
        real = os.path.realpath(candidate) if stat.S_ISLNK(st.st_mode) else os.path.join(self._real(candidate.parent), candidate.name)
        if not real.startswith(root_real + os.sep):
            self.problem(where, field_, f"media path {rel!r} is a symlink out of the media root")
            return None
        if not os.path.isfile(real):
            self.problem(where, field_, f"media path {rel!r} is not a regular file" if os.path.exists(real) else f"media file {rel!r} not found under {root.name or root}")
            return None
        return candidate

    def _real(self, folder: Path) -> str:
        real = self._real_roots.get(folder)
        if real is None:
            real = self._real_roots[folder] = os.path.realpath(folder)
        return real

    def media_info(self, local: Path) -> dict[str, Any] | None:
        """The ``media`` object of a local file (image header / audio info)."""
        with open(local, "rb") as f:
            return probe(f, local.name)


def px(value: float) -> float:
    """A pixel coordinate converted from percent or normalized units, without float noise."""
    return round(value, 6) + 0.0


def _parse(path: Path, parse: Callable[[IO[bytes]], Any], errors: tuple[type[Exception], ...], what: str) -> Any:
    """Parse a source file; a missing or malformed file is an ImportSourceError naming it."""
    try:
        with open(path, "rb") as f:
            return parse(f)
    except FileNotFoundError:
        raise ImportSourceError(str(path), "", "file not found") from None
    except errors as exc:
        raise ImportSourceError(str(path), "", f"malformed {what}: {' '.join(str(exc).split())}") from None


def load_json(path: Path) -> Any:
    return _parse(path, json.load, (ValueError, UnicodeDecodeError), "JSON")


def load_yaml(path: Path) -> Any:
    import yaml

    return _parse(path, yaml.safe_load, (yaml.YAMLError,), "YAML")


def rel_posix(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()
