"""Page 4's content: a file of a version read straight from the store (ranged reads) and
shown by kind: image (thumbnail, full image with overlays), text / JSON / CSV heads, audio,
or a download. Only raster images and audio are ever served inline; anything else is an
attachment, so a stored HTML or SVG file never runs in the UI's origin."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from typing import Any

from PIL import Image

from ..annotations.media import open_header
from .index import FileRow

HEAD_BYTES = 64 << 10
HEAD_ROWS = 20
THUMB_PX = 256
INLINE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
          ".bmp": "image/bmp", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
          ".m4a": "audio/mp4", ".opus": "audio/ogg"}


_SNIFFED = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}


def inline_type(path: str) -> str | None:
    """The media type a file may be served inline with, or None (download only)."""
    dot = path.rfind(".")
    return INLINE.get(path[dot:].lower()) if dot >= 0 else None


def sniffed_type(data: bytes) -> str | None:
    """The media type of a raster image Pillow tells by its first bytes (one of ``INLINE``'s
    images), for an image whose name has no image extension; None for anything else."""
    im = open_header(io.BytesIO(data), tuple(_SNIFFED))  # of any pixel count: nothing is decoded
    if im is None:  # not one of them, or a header cut short by the read
        return None
    with im:
        return _SNIFFED.get(im.format or "")


def head(row: FileRow, data: bytes) -> dict[str, Any]:
    """What the preview page shows for the first bytes of a text-like file."""
    text = data[:HEAD_BYTES].decode("utf-8", errors="replace")
    truncated = row.size > len(data) or len(data) > HEAD_BYTES
    low = row.path.lower()
    if low.endswith(".json") and not truncated:
        try:
            return {"mode": "json", "text": json.dumps(json.loads(data), indent=2, ensure_ascii=False)[:HEAD_BYTES], "truncated": False}
        except ValueError:
            pass
    if low.endswith((".csv", ".tsv")):
        lines = text.splitlines()[: HEAD_ROWS + 1]
        rows = list(csv.reader(lines, delimiter="\t" if low.endswith(".tsv") else ","))
        return {"mode": "table", "header": rows[0] if rows else [], "rows": rows[1:], "truncated": True}
    return {"mode": "text", "text": text, "truncated": truncated}


class Thumbnails:
    """Small JPEG/PNG thumbnails, kept by content hash (a few MB)."""

    def __init__(self, max_items: int = 4096):
        self._cache: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def make(self, key: str, data: bytes) -> tuple[bytes, str]:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at a reduced scale
            im.thumbnail((THUMB_PX, THUMB_PX))
            alpha = im.mode in ("RGBA", "LA", "P")
            out = io.BytesIO()
            if alpha:
                im.convert("RGBA").save(out, "PNG", optimize=False)
            else:
                im.convert("RGB").save(out, "JPEG", quality=80)
        thumb = (out.getvalue(), "image/png" if alpha else "image/jpeg")
        with self._lock:
            self._cache[key] = thumb
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return thumb
