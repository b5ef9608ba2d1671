"""COCO run-length encoded masks (column-major), without pycocotools: decode the compressed
``counts`` string, area, bounding box, and a dense array for mask images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ExportError


def counts_of(rle: Mapping[str, Any]) -> list[int]:
    """The run lengths of an RLE (alternating 0s and 1s, starting with 0s)."""
    counts = rle.get("counts")
    if isinstance(counts, list):
        return [int(c) for c in counts]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise ExportError("mask RLE has no counts")
    out: list[int] = []
    p = 0
    while p < len(counts):
        x = 0
        k = 0
        more = True
        while more:
            if p >= len(counts):
                raise ExportError("mask RLE counts string is truncated")
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def area(rle: Mapping[str, Any]) -> int:
    return sum(counts_of(rle)[1::2])


def bbox(rle: Mapping[str, Any]) -> list[float]:
    """``[x, y, w, h]`` of the set pixels (as pycocotools' ``toBbox``)."""
    h = int(rle["size"][0])
    counts = counts_of(rle)
    pos = 0
    xs: list[int] = []
    ys: list[int] = []
    for i, c in enumerate(counts):
        if i % 2 == 1 and c > 0:
            first, last = pos, pos + c - 1
            xs += [first // h, last // h]
            if first // h != last // h:
                ys += [0, h - 1]
            else:
                ys += [first % h, last % h]
        pos += c
    if not xs:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(min(xs)), float(min(ys)), float(max(xs) - min(xs) + 1), float(max(ys) - min(ys) + 1)]


def to_array(rle: Mapping[str, Any]) -> Any:
    """A dense ``uint8`` array (height, width) with 1 where the mask is set."""
    h, w = (int(v) for v in rle["size"])
    counts = counts_of(rle)
    flat = np.zeros(h * w, dtype=np.uint8)
    pos = 0
    for i, c in enumerate(counts):
        if i % 2 == 1:
            flat[pos:pos + c] = 1
        pos += c
    if pos != h * w:
        raise ExportError(f"mask RLE covers {pos} pixels, its size says {h * w}")
    return flat.reshape((w, h)).T


def encode(mask: Any) -> dict[str, Any]:
    """The uncompressed RLE (``{"size": [h, w], "counts": [...]}``) of a 2-D 0/1 array."""
    h, w = mask.shape
    flat = np.asarray(mask, dtype=np.uint8).T.reshape(-1)
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts.insert(0, 0)
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Shoelace area of a polygon given as ``[[x, y], ...]``."""
    s = 0.0
    n = len(points)
    for i in range(n):
        x0, y0 = float(points[i][0]), float(points[i][1])
        x1, y1 = float(points[(i + 1) % n][0]), float(points[(i + 1) % n][1])
        s += x0 * y1 - x1 * y0
    return abs(s) / 2.0
