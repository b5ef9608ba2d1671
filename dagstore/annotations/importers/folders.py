"""Class folders: ``<split>/<label>/<file>`` (SeeMe FOLDERS, Hugging Face ImageFolder) or
``<label>/<file>``; files directly in ``<split>/`` are unlabeled, files beside the split
folders are not imported (listed in ``ImportReport.ignored``). Which of the two a folder
is, is guessed from its layout (reported in ``ImportReport.guessed``) or given as the
``split_level`` option. An optional
``metadata.jsonl`` / ``metadata.csv`` (``file_name`` + columns, HF ``objects``) adds fields
and boxes. Dataset paths are the files' paths relative to the source folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..errors import ImportSourceError
from . import register
from ._base import ImportContext, ImportItem

SPLIT_NAMES = {"train", "training", "valid", "val", "validation", "test", "testing", "dev"}
_META = ("metadata.jsonl", "metadata.csv")


def _read_metadata(path: Path) -> list[dict[str, Any]]:
    if path.name.endswith(".jsonl"):
        rows = []
        for n, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ln.strip():
                try:
                    rows.append(json.loads(ln))
                except ValueError as exc:
                    raise ImportSourceError(f"{path}:{n}", "", f"malformed JSON: {exc}") from None
        return rows
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _has_subfolders(folder: Path) -> bool:
    return any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())


def split_level(tops: list[Path], option: Any, ctx: ImportContext) -> bool:
    """Are the top folders splits (``<split>/<label>/<file>``) or classes? The ``split_level``
    option decides; else the layout: every top folder a known split name, or at least one of
    them and every top folder holding class folders (SeeMe's ``train/ test/ unsup/``, each
    with ``pos/ neg/``). The guess and its reason go into the report."""
    if option is not None:
        if not isinstance(option, bool):
            raise ImportSourceError("split_level", "split_level", f"must be true or false, not {option!r}")
        return option
    known = [p.name for p in tops if p.name.lower() in SPLIT_NAMES]
    if tops and len(known) == len(tops):
        why = "every top folder is a split name"
    elif known and all(_has_subfolders(p) for p in tops):
        why = f"{', '.join(known)} {'is a split name' if len(known) == 1 else 'are split names'} and every top folder holds class folders"
    else:
        ctx.guessed["split_level"] = {"value": False, "reason": "the top folders are not split folders: they are the classes (pass split_level=True if they are splits)"}
        return False
    ctx.guessed["split_level"] = {"value": True, "splits": [p.name for p in tops], "reason": why + " (pass split_level=False if they are classes)"}
    return True


def _groups(source: Path, ctx: ImportContext) -> list[tuple[str | None, Path]]:
    """(split, folder) pairs: one per top folder when they are splits (``split_level``; the
    files beside them are reported as ignored), else (None, source)."""
    tops = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if split_level(tops, ctx.options.get("split_level"), ctx):
        for f in sorted(p for p in source.iterdir() if not (p.is_dir() or p.name.startswith("."))):
            ctx.ignored.append({"path": f.name, "reason": "a metadata file beside the split folders is not read (one goes in each split folder)"
                                if f.name in _META else "a file beside the split folders belongs to no split"})
        return [(p.name, p) for p in tops]
    return [(None, source)]


def _metadata(source: Path, groups: list[tuple[str | None, Path]]) -> dict[str, dict[str, Any]]:
    """The metadata rows of every group, by the dataset path of their file."""
    metadata: dict[str, dict[str, Any]] = {}
    for _, folder in groups:
        for m in _META:
            if not (folder / m).is_file():
                continue
            for i, row in enumerate(_read_metadata(folder / m)):
                fn = row.get("file_name")
                if not isinstance(fn, str):
                    raise ImportSourceError(str(folder / m), f"row {i + 1}.file_name", "missing")
                metadata[(folder / fn).relative_to(source).as_posix() if ".." not in fn else fn] = row
    return metadata


def _media_files(folder: Path) -> list[Path]:
    """The files of a group, without metadata files and hidden names."""
    return [f for f in sorted(folder.rglob("*")) if not (f.name in _META or f.name.startswith(".") or f.is_dir())]


class FoldersImporter:
    name = "folders"
    options: tuple[str, ...] = ("split_level",)

    def read(self, source: Path, ctx: ImportContext) -> None:
        if not source.is_dir():
            raise ImportSourceError(str(source), "", "the folders format needs a folder")
        groups = _groups(source, ctx)
        metadata = _metadata(source, groups)
        labels: list[str] = []
        for split, folder in groups:
            for f in _media_files(folder):
                rel = f.relative_to(source).as_posix()
                local = ctx.resolve_media(source, rel, rel, "path")
                if local is None:
                    continue
                ann = self._annotation(split, f.relative_to(folder).parts, labels)
                media = ctx.media_info(local)
                if media:
                    ann["media"] = media
                meta_row = metadata.pop(rel, None)
                if meta_row is not None:
                    self._apply_row(meta_row, ann, labels)
                ctx.add(ImportItem(rel, ann, rel, local=str(local)))
        for rel in sorted(metadata):
            ctx.problem(rel, "file_name", "listed in the metadata file but not found (or escapes the folder)")
        ctx.add_classes(labels)

    @staticmethod
    def _annotation(split: str | None, inner: tuple[str, ...], labels: list[str]) -> dict[str, Any]:
        """split, and the class of a file inside a class folder (added to ``labels``)."""
        ann: dict[str, Any] = {}
        if split:
            ann["split"] = split
        if len(inner) > 1:
            ann["labels"] = [inner[0]]
            if inner[0] not in labels:
                labels.append(inner[0])
        return ann

    @staticmethod
    def _apply_row(row: dict[str, Any], ann: dict[str, Any], labels: list[str]) -> None:
        fields = {k: v for k, v in row.items() if k not in ("file_name", "objects")}
        if fields:
            ann["fields"] = fields
        objs = row.get("objects")
        if isinstance(objs, dict) and isinstance(objs.get("bbox"), list):
            cats = objs.get("categories") or objs.get("category") or []
            regions = []
            for i, (bb, cat) in enumerate(zip(objs["bbox"], cats)):
                name = str(cat)
                if name not in labels:
                    labels.append(name)
                regions.append({"id": f"r{i + 1}", "type": "box", "label": name, "xywh": [float(v) for v in bb]})
            if regions:
                ann["regions"] = regions


register(FoldersImporter())
