"""A JPEG's displayed size and depth read from its header bytes, without Pillow (an import
probes every image: Pillow's open costs ~40 µs, this a few). It answers only what it is sure
Pillow would answer the same; anything unusual (12-bit samples, XMP, an odd EXIF block,
unknown markers) returns None and the caller asks Pillow."""

from __future__ import annotations

from struct import unpack_from
from typing import Any

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_DEPTH = {1: 1, 3: 3, 4: 4}  # components -> bands of Pillow's mode (L, RGB, CMYK)
_ORIENTATION = 0x0112


def _orientation(exif: bytes) -> int | None:
    """The EXIF orientation of a clean IFD0 (1 when absent), else None."""
    tiff = exif[6:]
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    end = "<" if tiff[0] == 0x49 else ">"
    ifd = unpack_from(end + "I", tiff, 4)[0]
    if ifd < 8 or ifd + 2 > len(tiff):
        return None
    count = unpack_from(end + "H", tiff, ifd)[0]
    if ifd + 2 + 12 * count > len(tiff):
        return None
    for i in range(count):
        tag, kind, n = unpack_from(end + "HHI", tiff, ifd + 2 + 12 * i)
        if tag == _ORIENTATION:
            return int(unpack_from(end + "H", tiff, ifd + 10 + 12 * i)[0]) if kind == 3 and n == 1 else None
    return 1


def _frame(seg: bytes) -> tuple[int, int, int] | None:
    """(width, height, depth) of a start-of-frame segment Pillow reads as L, RGB or CMYK, else None."""
    if len(seg) < 6 or seg[0] != 8 or seg[5] not in _DEPTH:
        return None  # 12-bit samples and other component counts: Pillow refuses or decides
    w, h = (seg[3] << 8) | seg[4], (seg[1] << 8) | seg[2]
    return (w, h, _DEPTH[seg[5]]) if w and h else None


def _header(data: bytes) -> tuple[tuple[int, int, int], bytes | None, int] | None:
    """(frame size and depth, the EXIF block or None, the length of the header: the bytes
    it was read from) from the segments before the scan; None for anything unusual."""
    pos, frame, exif, end = 2, None, None, len(data)
    while pos + 4 <= end:
        marker = data[pos + 1]
        if data[pos] != 0xFF or marker < 0xC0 or 0xD0 <= marker <= 0xD9 or marker == 0xFF:
            return None  # fill bytes, restart markers, TEM, garbage: left to Pillow
        if marker == 0xDA:  # start of scan: the header is complete
            return (frame, exif, pos + 4) if frame is not None else None
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < 2 or pos + 2 + length > end:
            return None
        if marker in _SOF:
            if frame is not None or (frame := _frame(data[pos + 4 : pos + 2 + length])) is None:
                return None
        elif marker == 0xE1:
            if not data.startswith(b"Exif\x00\x00", pos + 4) or exif is not None:
                return None  # XMP (Pillow reads an orientation from it too), or a second EXIF block
            exif = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
    return None


class JpegProbe:
    """``probe_jpeg`` that remembers the last header it read: the answer depends only on the
    bytes before the scan, so a file starting with the same bytes (same encoder, tables, size
    and EXIF, as the frames of one camera or a resized set) gets it without a walk."""

    __slots__ = ("_head", "_found")

    def __init__(self) -> None:
        self._head = b""
        self._found: dict[str, Any] = {}

    def __call__(self, data: bytes) -> dict[str, Any] | None:
        if self._head and data.startswith(self._head):
            return dict(self._found)
        found = _probe(data)
        if found is None:
            return None
        self._head, self._found = data[: found[1]], found[0]
        return dict(found[0])


def _probe(data: bytes) -> tuple[dict[str, Any], int] | None:
    """(``probe_jpeg``'s answer, the length of the header it depends on), or None."""
    header = _header(data) if data[:3] == b"\xff\xd8\xff" else None
    if header is None:
        return None
    (w, h, depth), exif, length = header
    orientation = 1 if exif is None else _orientation(exif)
    if orientation is None:
        return None
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return {"kind": "image", "width": w, "height": h, "depth": depth}, length


def probe_jpeg(data: bytes) -> dict[str, Any] | None:
    """``{"kind": "image", width, height, depth}`` as displayed (EXIF orientations 5-8 swap
    width and height) of a whole JPEG file's bytes, or None when Pillow should decide."""
    found = _probe(data)
    return found[0] if found is not None else None
