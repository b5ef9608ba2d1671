"""Plain YOLO box lines (``cls cx cy w h``) of many boxes at once: the numbers by numpy, the
text as one buffer whose slices are the items' label files.

The bytes are those of formatting each line in Python (``yolo._box_line``: the box clipped to
the image, normalized, clamped to [0, 1], each number ``f"{v:.6f}"``). ``%.6f`` rounds the exact
binary value to six decimals, ties to even; ``decimals.scaled_rint`` rounds ``v * 1e6`` the same
way, so a value near a tie is decided as Python decides it. A line holding a value that is not a
plain number in [0, 1] (NaN, -0.0) is formatted by Python.
"""

from __future__ import annotations

import numpy as np

from .decimals import digit_bytes, scaled_rint

_M = 1e6  # six decimals
_TRIPLES = np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode(), dtype=np.uint8).reshape(1000, 3)  # "000".."999"
_LINE = 37  # " d.dddddd" four times and "\n": a line's bytes after its class
EXACT = float(1 << 52)  # coordinates below this in magnitude add exactly in float64, as Python's ints would


def _normalized(cls_boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(n, 4) of ``cx cy w h`` over the image, clamped to [0, 1]: ``_box_line``'s arithmetic, in its order."""
    x, y, bw, bh = cls_boxes.T
    w, h = sizes.T
    x0, y0 = np.where(0.0 > x, 0.0, x), np.where(0.0 > y, 0.0, y)
    xe, ye = x + bw, y + bh
    x1, y1 = np.where(w < xe, w, xe), np.where(h < ye, h, ye)
    v = np.stack([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h], axis=1)
    return np.where(v < 0.0, 0.0, np.where(v > 1.0, 1.0, v))


def box_text(cls: np.ndarray, boxes: np.ndarray, sizes: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The lines of n boxes, each ended by ``"\\n"``: (their bytes, the n + 1 offsets of the
    lines in it). ``cls``: class indices >= 0; ``boxes``: (n, 4) pixel ``x y w h``;
    ``sizes``: (n, 2) the width and height of each box's image (non-zero)."""
    n = len(cls)
    if n == 0:
        return b"", np.zeros(1, dtype=np.int64)
    with np.errstate(all="ignore"):  # as Python's float arithmetic: inf and NaN, no warnings
        v = _normalized(boxes, sizes)
    odd = (~(v >= 0.0) | np.signbit(v)).any(axis=1)  # NaN or -0.0 in the line: Python formats it
    k = scaled_rint(np.where(odd[:, None], 0.0, v), _M)
    whole = k >= 1e6
    hi = np.floor((k - whole * 1e6) / 1000.0)  # exact: k is an integer below 2**53
    lo = (k - whole * 1e6 - hi * 1000.0).astype(np.intp)
    fixed = np.empty((n, _LINE), dtype=np.uint8)
    num = fixed[:, :-1].reshape(n, 4, 9)  # " d.ddd" + "ddd", four times
    num[:, :, 0] = ord(" ")
    num[:, :, 1] = ord("0") + whole
    num[:, :, 2] = ord(".")
    num[:, :, 3:6] = _TRIPLES[hi.astype(np.intp)]
    num[:, :, 6:9] = _TRIPLES[lo]
    fixed[:, -1] = ord("\n")
    digits = np.ones(n, dtype=np.int64)
    for d in range(1, len(str(int(cls.max())))):
        digits += cls >= 10 ** d
    widths = np.flatnonzero(np.bincount(digits)).tolist()
    rows = np.empty((n, widths[-1] + _LINE), dtype=np.uint8)
    for d in widths:
        sel = slice(None) if len(widths) == 1 else digits == d
        rows[sel, :d] = digit_bytes(cls[sel], d)
        rows[sel, d:d + _LINE] = fixed[sel]
    lengths = digits + _LINE
    if odd.any():  # rare: these lines are formatted one by one
        return _with_odd(rows, lengths, odd, cls, v)
    text = rows.tobytes() if len(widths) == 1 else rows[np.arange(rows.shape[1]) < lengths[:, None]].tobytes()
    return text, np.concatenate([[0], np.cumsum(lengths)])


def _with_odd(rows: np.ndarray, lengths: np.ndarray, odd: np.ndarray, cls: np.ndarray, v: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The lines, those marked ``odd`` formatted by Python (``nan``, ``-0.000000``)."""
    lines = [rows[i, :lengths[i]].tobytes() for i in range(len(rows))]
    for i in np.flatnonzero(odd).tolist():
        cx, cy, w, h = v[i].tolist()
        lines[i] = f"{int(cls[i])} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n".encode()
    return b"".join(lines), np.concatenate([[0], np.cumsum([len(x) for x in lines])])
