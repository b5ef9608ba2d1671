"""Media probing: image size from the header (Pillow, lazy, EXIF orientation honoured) and
audio duration / sample rate (soundfile, or the standard library's ``wave`` for WAV)."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from functools import lru_cache
from typing import IO, Any

from .jpeg import probe_jpeg

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jfif"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus"}
TEXT_SUFFIXES = {".txt", ".md", ".json", ".csv", ".tsv", ".html", ".xml"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
_EXIF_ORIENTATION = 0x0112
_NEW_SUBFILE_TYPE = 254  # TIFF: bit 0 set = a reduced-resolution version of another image
_BANDS = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3, "LA": 2, "I": 1, "F": 1, "I;16": 1}


def kind_of(name: str) -> str:
    """``image``, ``audio``, ``video``, ``text`` or ``other`` from the file name's suffix."""
    return _kind_of_suffix("." + name.rsplit(".", 1)[-1].lower() if "." in name else "")


@lru_cache(maxsize=256)
def _kind_of_suffix(suffix: str) -> str:
    for kind, suffixes in (("image", IMAGE_SUFFIXES), ("audio", AUDIO_SUFFIXES), ("video", VIDEO_SUFFIXES), ("text", TEXT_SUFFIXES)):
        if suffix in suffixes:
            return kind
    return "other"


_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jfif": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
SNIFFED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "PPM")  # the formats of IMAGE_SUFFIXES, told by their first bytes


def probe_image(f: IO[bytes] | str, name: str = "", formats: tuple[str, ...] | None = None) -> dict[str, Any] | None:
    """``{"kind": "image", width, height, depth}`` as displayed (EXIF orientations 5-8 swap
    width and height), reading only the header, whatever the image's pixel count; ``None`` when
    Pillow cannot identify it as one of ``formats`` (default: any). Told by content (``formats``
    given), a TIFF whose first image is a reduced-resolution one (a raw camera file's preview:
    DNG, NEF, CR2…) is not taken."""
    from PIL import Image

    if isinstance(f, str):
        with open(f, "rb") as fp:
            return probe_image(fp, name, formats)
    hint = _PIL_FORMATS.get(name[name.rfind("."):].lower()) if "." in name else None
    try:
        im = open_header(f, formats, hint)
    except OSError:  # the header's read failed
        return None
    if im is None:
        return None
    with im:
        if formats is not None and im.format == "TIFF" and int(im.tag_v2.get(_NEW_SUBFILE_TYPE, 0)) & 1:
            return None
        w, h = im.size
        try:  # Image's getexif reads what the header holds (PNG's own would decode to reach later chunks)
            orientation = Image.Image.getexif(im).get(_EXIF_ORIENTATION, 1)
        except Exception:  # a broken EXIF block does not make the image unusable
            orientation = 1
        depth = _BANDS.get(im.mode, len(im.getbands()))
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return {"kind": "image", "width": w, "height": h, "depth": depth}


def open_header(f: IO[bytes], formats: tuple[str, ...] | None = None, hint: str | None = None) -> Any:
    """The image Pillow's plugin for ``f``'s format (one of ``formats``, default any; ``hint``
    tried first) makes of its header, not to be decoded; None when none does. ``Image.open``'s
    search without its decompression-bomb check: that check guards decoding, so an image of
    any pixel count (a satellite or pathology scan) gets its size and format, and Pillow's
    global limit is left alone."""
    from PIL import Image

    prefix, tried = f.read(16), set()
    for load in (Image.preinit, Image.init):  # the common plugins, then (when needed) all of them
        load()
        for fmt in ([hint] if hint else []) + list(formats or Image.ID):
            if fmt in tried or fmt not in Image.OPEN:
                continue
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            try:
                found = not accept or accept(prefix)
                if found and not isinstance(found, str):  # a string: Pillow's "maybe, but unsupported"
                    f.seek(0)
                    return factory(f, "")
            except Exception:  # not this format after all, or a header cut short
                continue
    return None


def probe_audio(f: IO[bytes] | str) -> dict[str, Any] | None:
    """``{"kind": "audio", duration_s, sample_rate}``; ``None`` when unreadable."""
    try:
        import soundfile

        info = soundfile.info(f)
        return {"kind": "audio", "duration_s": round(info.frames / info.samplerate, 6), "sample_rate": info.samplerate}
    except ImportError:
        pass
    except Exception:
        return None
    try:
        if not isinstance(f, str):
            f.seek(0)
        with wave.open(f, "rb") as w:
            return {"kind": "audio", "duration_s": round(w.getnframes() / w.getframerate(), 6), "sample_rate": w.getframerate()}
    except (wave.Error, EOFError, OSError):
        return None


def probe(f: IO[bytes] | str, name: str) -> dict[str, Any] | None:
    """The ``media`` object of a file, by its kind (from ``name``). A name without a known
    extension (none, or another one) is an image when its first bytes are one of
    ``SNIFFED_FORMATS``; otherwise (or without Pillow) ``None``."""
    kind = kind_of(name)
    if kind == "image":
        return probe_image(f, name)
    if kind == "audio":
        return probe_audio(f)
    if kind in ("text", "video"):
        return {"kind": kind}
    try:
        return probe_image(f, formats=SNIFFED_FORMATS)
    except ImportError:
        return None


def probe_bytes(data: bytes, name: str, jpeg: Callable[[bytes], dict[str, Any] | None] = probe_jpeg) -> dict[str, Any] | None:
    """``probe`` of a whole file's bytes; a plain JPEG's header is read without Pillow (by
    ``jpeg``: an import passes a ``JpegProbe``, which remembers the last header)."""
    if kind_of(name) in ("image", "other"):
        found = jpeg(data)
        if found is not None:
            return found
    return probe(io.BytesIO(data), name)
