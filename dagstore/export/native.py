"""The native layout (``export_format=None``): the files at their dataset paths, plus
``annotations.jsonl`` (one ``{"path", "annotation"}`` line per file, schema
``dagstore.annotation/1``) and ``classes.json`` (the class list with coco ids and colors)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .base import BaseExporter, ExportContext
from .errors import ExportError
from .view import ClassInfo

RESERVED = ("annotations.jsonl", "classes.json", "export.json")


class NativeExporter(BaseExporter):
    """dagstore's own layout, which ``import_annotations`` reads back without loss."""

    @property
    def name(self) -> str:
        return "NATIVE"
    options: ClassVar[Mapping[str, Any]] = {}

    def export(self, ctx: ExportContext) -> None:
        with ctx.sink.open("annotations.jsonl") as out:
            for item in ctx.items():
                if item.path in RESERVED:
                    raise ExportError(f"{item.path}: the native layout reserves this name; export in a format instead")
                out.write((json.dumps({"path": item.path, "annotation": item.annotation}, ensure_ascii=False, sort_keys=True) + "\n").encode())
                ctx.add_media(item.path, item)
                ctx.count(ctx.split(item))
        ctx.sink.write("classes.json", (json.dumps(classes_doc(ctx.classes), indent=2, ensure_ascii=False) + "\n").encode())


def classes_doc(classes: Sequence[ClassInfo]) -> dict[str, Any]:
    return {"classes": [{"name": c.name, **({"coco_id": c.coco_id} if c.coco_id is not None else {})} for c in classes],
            "colors": {c.name: c.color for c in classes}}
