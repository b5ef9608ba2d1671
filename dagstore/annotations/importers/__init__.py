"""Importers: one module per format behind the ``Importer`` protocol, registered by name.

``read_source`` turns a local path, an fsspec URL or a ``.zip`` into a local tree (through the
archive guard, ``dagstore.archive``), runs the format's importer and validates every item; writing the result
into a draft is the caller's job (``Dataset.import_annotations``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec

from ...archive import UnsafeArchiveError, extract_zip
from ..errors import AnnotationError, ImportSourceError
from ..schema import validate
from ._base import ImportContext, ImportItem, Importer

__all__ = ["ImportContext", "ImportItem", "Importer", "register", "get_importer", "importer_names", "read_source"]

_MODULES = {
    "labelstudio": "labelstudio",
    "coco": "coco",
    "yolo": "yolo",
    "voc": "voc",
    "folders": "folders",
    "csv": "csv_seeme",
    "table": "table",
    "spacy_ner": "spacy_ner",
    "conll2003": "conll2003",
}
_REGISTRY: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    """Register an importer under its ``name`` (lower case)."""
    _REGISTRY[importer.name.lower()] = importer
    return importer


def importer_names() -> list[str]:
    return sorted(set(_MODULES) | set(_REGISTRY))


def get_importer(name: str) -> Importer:
    key = str(name).lower().replace("-", "_")
    key = {"label_studio": "labelstudio", "json": "labelstudio", "conll": "conll2003", "imagefolder": "folders", "yolo_ultralytics": "yolo",
           "tsv": "table", "parquet": "table", "jsonl": "table"}.get(key, key)
    if key not in _REGISTRY and key in _MODULES:
        importlib.import_module(f"{__name__}.{_MODULES[key]}")
    if key not in _REGISTRY:
        raise ImportSourceError(str(name), "format", f"unknown import format; known: {', '.join(importer_names())}")
    return _REGISTRY[key]


def _safe_extract(zpath: Path, dest: Path) -> None:
    """Extract a zip through the archive guard: any hostile entry or bomb refuses the whole
    archive (ImportSourceError) before anything is written."""
    try:
        extract_zip(str(zpath), str(dest))
    except UnsafeArchiveError as exc:
        raise ImportSourceError(exc.archive, "", exc.reason) from None


@contextlib.contextmanager
def local_source(source: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> Iterator[Path]:
    """A local path for ``source``: local paths as they are; fsspec URLs copied to a
    temporary folder; ``.zip`` files safely extracted. Temporary copies are removed after."""
    src = os.fspath(source)
    is_url = "://" in src and not src.startswith("file://")
    with contextlib.ExitStack() as stack:
        if is_url:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dagstore-import-")))
            fs, _, paths = fsspec.get_fs_token_paths(src, storage_options=storage_options or {})
            rpath = paths[0]
            if not fs.exists(rpath):
                raise ImportSourceError(src, "", "source not found")
            local = tmp / PurePosixPath(rpath.rstrip("/")).name
            if fs.isdir(rpath):
                fs.get(rpath.rstrip("/") + "/", str(local), recursive=True)
            else:
                fs.get(rpath, str(local))
        else:
            local = Path(src[7:] if src.startswith("file://") else src)
            if not local.exists():
                raise ImportSourceError(src, "", "source not found")
        if local.is_file() and local.suffix.lower() == ".zip":
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dagstore-unzip-")))
            _safe_extract(local, out)
            entries = list(out.iterdir())
            local = entries[0] if len(entries) == 1 and entries[0].is_dir() else out
        yield local


def _remove_all(folders: list[Path]) -> None:
    for p in folders:
        shutil.rmtree(p, ignore_errors=True)


def validate_items(ctx: ImportContext, classes: Collection[str]) -> None:
    """Validate every item's annotation (classes, geometry inside the image, spans inside the
    text; those the importer wrote as text it checked itself); bad items raise or are skipped
    per ``ctx.on_error``."""
    known = set(classes)
    for path in list(ctx.items):
        item = ctx.items[path]
        if item.plain or item.text is not None:  # stored without an annotation, or written and checked by the importer
            continue

        def text_len(item: ImportItem = item) -> int:
            raw = item.data if item.data is not None else (Path(item.local).read_bytes() if item.local else b"")
            return len(raw.decode("utf-8", errors="replace"))

        try:
            item.annotation = validate(item.annotation, item.origin, known, text_len, plain=True)
        except AnnotationError as exc:
            if ctx.on_error == "raise":
                raise
            ctx.skipped.append({"path": item.origin, "reason": f"{exc.field}: {exc.reason}"})
            del ctx.items[path]


def read_source(
    source: str | os.PathLike[str],
    format: str,
    media: str | os.PathLike[str] | None = None,
    split: str | None = None,
    policy: str = "ground_truth",
    on_error: str = "raise",
    classes: Collection[str] = (),
    **options: Any,
) -> tuple[ImportContext, contextlib.ExitStack]:
    """Parse and validate an import. Returns the context and an ExitStack that keeps the
    local copy of a remote or zipped source alive until the caller has added the files."""
    importer = get_importer(format)
    unknown = set(options) - set(importer.options) - {"storage_options"}
    if unknown:
        raise ImportSourceError(str(source), sorted(unknown)[0], f"not an option of the {importer.name} importer (options: {', '.join(importer.options) or 'none'})")
    storage_options = options.pop("storage_options", None)
    stack = contextlib.ExitStack()
    try:
        local = stack.enter_context(local_source(source, storage_options))
        media_path = Path(stack.enter_context(local_source(media, storage_options))) if media is not None else None
        if media_path is not None and not media_path.is_dir():
            raise ImportSourceError(str(media), "media", "must be a folder")
        ctx = ImportContext(importer.name, media_path, split, policy, on_error, options)
        stack.callback(_remove_all, ctx.cleanup)
        try:
            importer.read(local, ctx)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, AnnotationError):
                raise
            # a field of an unexpected type deep in the source: still one clear error, nothing changed
            raise ImportSourceError(str(source), "", f"malformed {importer.name} source ({type(exc).__name__}: {exc})") from None
        all_classes = list(classes) + [c for c in ctx.classes.names if c not in classes]
        validate_items(ctx, all_classes)
    except BaseException:
        stack.close()
        raise
    return ctx, stack
