"""COCO annotations of many plain boxes at once: the JSON after ``{"id":N,"image_id":M,`` of
each box, with the bytes formatting it in Python gives (``box_tail``).

Each number is ``repr(round(v, 4))``. For a finite ``v`` with ``|v| * 1e4`` below
``decimals.LIMIT``, that is the sign of ``v`` (``-0.0`` included), the integer part and one to
four decimals without trailing zeros: ``round`` gives the double nearest to ``v`` rounded to four
decimals (``decimals.scaled_rint``: exact, ties to even), a decimal of at most 14 significant
digits, which is then the shortest text of that double. Any other box is formatted by Python.
Each row of numbers is laid out at fixed places with a filler byte (0xFF, never in UTF-8 text)
where a digit is left out, and the fillers are dropped at once.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from .decimals import LIMIT, scaled_rint

_FILL = 0xFF
_NUM = 12  # sign, six integer digits, ".", four decimals
_BIG = LIMIT / 1e4  # |v| from here on: Python formats the box (six integer digits always suffice below it)
_PARTS = [b'"category_id":', b',"iscrowd":0,"bbox":[', b",", b",", b",", b'],"area":', b"}\n"]


def box_tail(category_id: int, x: float, y: float, w: float, h: float) -> str:
    """One plain box's annotation after its ids, formatted by Python."""
    return (f'"category_id":{category_id},"iscrowd":0,"bbox":[{round(x, 4)!r},{round(y, 4)!r},{round(w, 4)!r},{round(h, 4)!r}],'
            f'"area":{round(w * h, 4)!r}}}')


def _table(texts: list[str]) -> np.ndarray:
    """Each text of four bytes as one uint32 (a row of numbers is gathered a word at a time)."""
    return np.frombuffer("".join(texts).encode("latin-1"), dtype=np.uint32)


_F = chr(_FILL)
_TOP = _table([_F * 4] + [_F + str(i).rjust(3, _F) for i in range(1, 1000)])  # sign's place, the thousands: nothing for 0
_LOW = _table([str(i).rjust(3, _F) + "." for i in range(1000)] + [f"{i:03d}." for i in range(1000)])  # alone / after thousands
_DECIMALS = _table([(f"{i:04d}".rstrip("0") or "0").ljust(4, _F) for i in range(10_000)])  # "5", "25", "0001"...


def _numbers(v: np.ndarray) -> np.ndarray:
    """(n, _NUM) bytes of ``repr(round(v, 4))`` for finite ``|v| < _BIG``, fillers where no digit is."""
    k = scaled_rint(np.abs(v), 1e4)  # an integer below 2**32: the divisions below are exact
    whole = np.floor(k / 1e4)
    frac = (k - whole * 1e4).astype(np.intp)
    thousands = np.floor(whole / 1e3)
    units = (whole - thousands * 1e3).astype(np.intp)
    out = np.empty((len(v), 3), dtype=np.uint32)
    out[:, 0] = _TOP[thousands.astype(np.intp)]
    out[:, 1] = _LOW[units + 1000 * (thousands > 0)]
    out[:, 2] = _DECIMALS[frac]
    text = out.view(np.uint8).reshape(len(v), _NUM)
    text[np.signbit(v), 0] = ord("-")
    return text


def box_tails(category_ids: Sequence[int], nums: Sequence[Any]) -> list[str]:
    """The tails of n plain boxes: ``category_ids`` (n ints) and ``nums`` (their ``x y w h``, 4n
    numbers as decoded; anything ``float()`` takes)."""
    n = len(category_ids)
    try:
        boxes = np.frombuffer(array("d", nums), dtype=np.float64).reshape(n, 4)
        ids = np.asarray(category_ids, dtype=np.int64)
    except (TypeError, OverflowError):  # not a float, an int beyond a double, a category id beyond 64 bits: Python, as before
        return [box_tail(c, *(float(v) for v in nums[4 * i:4 * i + 4])) for i, c in enumerate(category_ids)]
    if n == 0:
        return []
    with np.errstate(all="ignore"):
        values = np.concatenate([boxes, (boxes[:, 2] * boxes[:, 3])[:, None]], axis=1)  # x y w h area
        odd = ~(np.abs(values) < _BIG).all(axis=1)  # NaN, infinite, or too large for six digits
    nums5 = _numbers(np.where(odd[:, None], 0.0, values).ravel()).reshape(n, 5, _NUM)
    cats, inverse = np.unique(ids, return_inverse=True)
    names = [str(c).encode() for c in cats.tolist()]
    table = np.full((len(names), max(map(len, names))), _FILL, dtype=np.uint8)
    for i, name in enumerate(names):
        table[i, :len(name)] = np.frombuffer(name, dtype=np.uint8)
    pieces = [table[inverse.reshape(-1)]]
    for j in range(5):
        pieces += [nums5[:, j]]
    rows = [np.broadcast_to(np.frombuffer(_PARTS[0], dtype=np.uint8), (n, len(_PARTS[0])))]
    for fixed, piece in zip(_PARTS[1:], pieces):
        rows += [piece, np.broadcast_to(np.frombuffer(fixed, dtype=np.uint8), (n, len(fixed)))]
    flat = np.concatenate(rows, axis=1).ravel()
    tails = flat[flat != _FILL].tobytes().decode("ascii").split("\n")[:-1]
    for i in np.flatnonzero(odd).tolist():
        tails[i] = box_tail(category_ids[i], *boxes[i].tolist())
    return tails
