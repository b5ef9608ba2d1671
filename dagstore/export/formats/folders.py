"""FOLDERS (SeeMe: ``<split>/<label>/<file>``) and IMAGEFOLDER (Hugging Face: the same plus
``<split>/metadata.jsonl``)."""

from __future__ import annotations

import json
from typing import Any

from ..base import BaseExporter, ExportContext, ExportFormat, check_folder_labels, note_box_written, region_box, region_id, regions, Streams, unique_names
from ..errors import ExportError
from ..view import Item


def _label(item: Item) -> str | None:
    labels = list((item.annotation or {}).get("labels") or [])
    if len(labels) > 1:
        raise ExportError(f"{item.path}: has {len(labels)} labels; class folders hold one label per file (use CSV for multi-label data)")
    return labels[0] if labels else None


class FoldersExporter(BaseExporter):
    format = ExportFormat.FOLDERS
    parallel = True

    def _placement(self, ctx: ExportContext) -> dict[str, str]:
        check_folder_labels([c.name for c in ctx.classes])
        rows = []
        for item in ctx.items(final=False):
            label = _label(item)
            folder = ctx.split(item) + (f"/{label}" if label else "")
            rows.append((item.path, folder, item.hash))
        names = unique_names(rows)
        return {p: f"{folder}/{names[p]}" for p, folder, _ in rows}

    def export(self, ctx: ExportContext) -> None:
        placed = self._placement(ctx)
        for item in ctx.items():
            self.note_regions(ctx, item)
            ctx.add_media(placed[item.path], item)
            ctx.count(ctx.split(item))

    def note_regions(self, ctx: ExportContext, item: Item) -> None:
        for i, r in enumerate(regions(item)):
            ctx.skip(item.path, f"{r.get('type')} regions are not expressible in {self.format.value}", region_id(r, i))


class ImageFolderExporter(FoldersExporter):
    """Hugging Face ImageFolder; ``metadata.jsonl`` rows carry ``file_name``, the fields, and
    ``objects`` (pixel ``bbox`` + ``categories`` = class ids) when the selection has boxes."""

    format = ExportFormat.IMAGEFOLDER

    def merged(self, relpath: str) -> bool:
        return relpath.endswith("/metadata.jsonl")

    def export(self, ctx: ExportContext) -> None:
        placed = self._placement(ctx)
        fields: set[str] = set()
        has_objects = False
        for item in ctx.items(final=False):
            ann = item.annotation or {}
            fields.update((ann.get("fields") or {}).keys())
            has_objects = has_objects or any(region_box(r) is not None for r in regions(item))
        fields -= {"file_name", "objects", "label"}
        ids = ctx.class_ids
        with Streams(ctx.sink) as out:
            for item in ctx.items():
                split = ctx.split(item)
                ann = item.annotation or {}
                row: dict[str, Any] = {"file_name": placed[item.path].split("/", 1)[1]}
                for k in sorted(fields):
                    row[k] = (ann.get("fields") or {}).get(k)
                if has_objects:
                    bbox, cats = [], []
                    for i, r in enumerate(regions(item)):
                        box = region_box(r)
                        if box is None or r.get("label") not in ids:
                            ctx.skip(item.path, f"{r.get('type')} regions are not expressible in IMAGEFOLDER objects", region_id(r, i))
                            continue
                        note_box_written(ctx, item, r, region_id(r, i), "IMAGEFOLDER objects", "IMAGEFOLDER objects hold boxes only")
                        bbox.append([round(v, 6) for v in box])
                        cats.append(ids[r["label"]])
                    row["objects"] = {"bbox": bbox, "categories": cats}
                else:
                    self.note_regions(ctx, item)
                out.write(f"{split}/metadata.jsonl", json.dumps(row, ensure_ascii=False) + "\n")
                ctx.add_media(placed[item.path], item)
                ctx.count(split)
