"""The JPEG header reader used by imports agrees with Pillow, and leaves every file it is not
sure about to Pillow (returns None)."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from dagstore.annotations.jpeg import probe_jpeg
from dagstore.annotations.media import probe_bytes, probe_image


def _jpeg(mode: str = "RGB", size: tuple[int, int] = (40, 20), **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "JPEG", **save)
    return buf.getvalue()


def _exif(orientation: int | None, big_endian: bool = False) -> bytes:
    """An APP1 EXIF payload whose IFD0 holds Make (an entry pointing past the IFD) and, unless
    None, Orientation."""
    e = ">" if big_endian else "<"
    make = b"dagstore\x00"
    count = 1 if orientation is None else 2
    entries = struct.pack(e + "HHII", 0x010F, 2, len(make), 8 + 2 + 12 * count + 4)
    if orientation is not None:
        entries += struct.pack(e + "HHIH2x", 0x0112, 3, 1, orientation)
    tiff = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "IH", 8, count) + entries + b"\x00" * 4 + make
    return b"Exif\x00\x00" + tiff


def _pillow_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _with_app1(jpeg: bytes, payload: bytes) -> bytes:
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _pillow(data: bytes) -> dict[str, object] | None:
    return probe_image(io.BytesIO(data), "x.jpg")


CLEAN = {
    "rgb": _jpeg(),
    "gray": _jpeg("L", (7, 300)),
    "cmyk": _jpeg("CMYK", (33, 9)),
    "progressive": _jpeg(progressive=True),
    "exif orientation 6 (Pillow's writer)": _jpeg(exif=_pillow_exif(6)),
    "exif orientation 3": _with_app1(_jpeg(), _exif(3)),
    "exif orientation 8, big-endian": _with_app1(_jpeg(), _exif(8, big_endian=True)),
    "exif without orientation": _with_app1(_jpeg(), _exif(None)),
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_fast_path_agrees_with_pillow(name):
    data = CLEAN[name]
    want = _pillow(data)
    got = probe_jpeg(data)
    assert got is not None, "expected the fast path to answer"
    assert got == want
    assert probe_bytes(data, "x.jpg") == want


def test_orientation_swaps_width_and_height():
    assert probe_jpeg(_with_app1(_jpeg(size=(40, 20)), _exif(6))) == {"kind": "image", "width": 20, "height": 40, "depth": 3}
    assert probe_jpeg(_with_app1(_jpeg(size=(40, 20)), _exif(1, big_endian=True))) == {"kind": "image", "width": 40, "height": 20, "depth": 3}


UNSURE = {
    "not a jpeg": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    "empty": b"",
    "truncated header": _jpeg()[:30],
    "xmp orientation": _with_app1(_jpeg(size=(40, 20)), b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description tiff:Orientation=\"6\"/></x:xmpmeta>"),
    "two exif blocks": _with_app1(_with_app1(_jpeg(), _exif(6)), _exif(1)),
    "orientation of another type": _with_app1(_jpeg(), _exif(6).replace(struct.pack("<HHI", 0x0112, 3, 1), struct.pack("<HHI", 0x0112, 4, 1))),
    "bad tiff header": _with_app1(_jpeg(), b"Exif\x00\x00XX*\x00\x08\x00\x00\x00"),
    "ifd offset past the end": _with_app1(_jpeg(), b"Exif\x00\x00II*\x00\xff\x00\x00\x00"),
    "segment length past the end": _jpeg()[:4] + b"\xff\xff" + _jpeg()[6:40],
    "fill bytes": _jpeg()[:2] + b"\xff" + _jpeg()[2:],
}


@pytest.mark.parametrize("name", sorted(UNSURE))
def test_unusual_files_are_left_to_pillow(name):
    data = UNSURE[name]
    assert probe_jpeg(data) is None
    assert probe_bytes(data, "x.jpg") == _pillow(data)


def test_xmp_orientation_is_honoured_through_pillow():
    data = UNSURE["xmp orientation"]
    assert probe_bytes(data, "x.jpg") == {"kind": "image", "width": 20, "height": 40, "depth": 3}


def test_twelve_bit_and_odd_component_counts_are_left_to_pillow():
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    twelve = bytes(data[: sof + 4]) + b"\x0c" + bytes(data[sof + 5 :])
    assert probe_jpeg(twelve) is None
    two = bytes(data[: sof + 9]) + b"\x02" + bytes(data[sof + 10 :])
    assert probe_jpeg(two) is None
    assert probe_bytes(two, "x.jpg") == _pillow(two)
