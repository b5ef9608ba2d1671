"""Masks, one file per (item, label): ``masks/<dataset path>__<label>.png`` (8-bit, 255 where
set) or ``.npy`` (``uint8`` 0/1). The masks of one label are merged. No media."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np

from .. import rle as rlemod
from ..base import BaseExporter, ExportContext, ExportFormat, check_folder_labels, region_id, regions
from ..errors import ExportError
from ..view import Item


def _mask_array(ctx: ExportContext, item: Item, r: dict[str, Any]) -> Any:
    if r.get("rle"):
        return rlemod.to_array(r["rle"])
    from PIL import Image

    with ctx.view.open(str(r["path"])) as f:
        img = Image.open(f)
        img.load()
    return (np.asarray(img.convert("L")) > 0).astype(np.uint8)


class BrushPngExporter(BaseExporter):
    format = ExportFormat.BRUSH_TO_PNG
    carries_media = False
    suffix: ClassVar[str] = "png"

    def export(self, ctx: ExportContext) -> None:
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise ExportError(f"{self.format.value} needs Pillow: pip install 'dagstore[export]'") from None
        check_folder_labels([c.name for c in ctx.classes], "file")
        for item in ctx.items():
            masks: dict[str, Any] = {}
            for i, r in enumerate(regions(item)):
                if r.get("type") != "mask" or not (r.get("rle") or r.get("path")):
                    ctx.skip(item.path, f"{r.get('type')} regions are not masks", region_id(r, i))
                    continue
                try:
                    arr = _mask_array(ctx, item, r)
                except Exception as e:  # noqa: BLE001 - a bad mask is reported with its reason
                    ctx.skip(item.path, f"mask cannot be read: {type(e).__name__}", region_id(r, i))
                    continue
                label = str(r.get("label"))
                masks[label] = arr if label not in masks else (masks[label] | arr)
            for label in sorted(masks):
                ctx.sink.write(f"masks/{item.path}__{label}.{self.suffix}", self.encode(masks[label]))
            if masks:
                ctx.count(ctx.split(item))

    def encode(self, arr: Any) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray((arr * 255).astype("uint8"), mode="L").save(buf, format="PNG", optimize=False)
        return buf.getvalue()


class BrushNumpyExporter(BrushPngExporter):
    format = ExportFormat.BRUSH_TO_NUMPY
    suffix = "npy"

    def encode(self, arr: Any) -> bytes:
        buf = io.BytesIO()
        np.save(buf, arr.astype(np.uint8), allow_pickle=False)
        return buf.getvalue()
