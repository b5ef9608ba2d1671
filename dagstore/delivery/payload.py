"""The JSON payload of a selection or an annotation (DebiAI's keys plus dagstore's), encoded
straight to bytes in pieces: a million sample ids never become a million Python dicts, and
the body is never copied whole (HTTP streams the pieces, Kafka parts are cut from them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import DeliveryError

# `", "` never occurs inside an encoded JSON string (its quotes are escaped), so it only ever
# separates two elements of an encoded id list; likewise `}, {"id": ` only separates two items.
_STR_SEP = '", "'
_ITEM_SEP = b'}, {"id": '
_PIECE_IDS = 20_000


class Payload:
    """A JSON document held as byte pieces; ``len()`` is its size."""

    def __init__(self, pieces: list[Any]):
        self.pieces = pieces
        self.size = sum(len(p) for p in pieces)

    def __len__(self) -> int:
        return self.size

    def bytes(self) -> bytes:
        return b"".join(self.pieces)

    def reader(self) -> _Reader:
        """A fresh file-like reader (an HTTP body streamed without a copy)."""
        return _Reader(self)


class _Reader:
    def __init__(self, payload: Payload):
        self._pieces = [memoryview(p) for p in payload.pieces]
        self._i, self._pos, self.len = 0, 0, payload.size

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        out: list[Any] = []
        want = self.len if n is None or n < 0 else n
        while want > 0 and self._i < len(self._pieces):
            piece = self._pieces[self._i]
            take = piece[self._pos:self._pos + want]
            out.append(take)
            want -= len(take)
            self._pos += len(take)
            if self._pos >= len(piece):
                self._i, self._pos = self._i + 1, 0
        return b"".join(out)


def envelope(kind: str, *, project: str, provider_id: str, dataset_id: str, dataset_name: str,
             dataset_version: str, name: str, when: datetime | None = None, origin: str = "dagstore") -> dict[str, Any]:
    """The keys every payload starts with; ``kind`` is ``selection`` or ``annotation``;
    ``origin`` is configurable (receivers that check for DebiAI's ``"DebiAI"``)."""
    when = when or datetime.now(timezone.utc)
    return {"origin": origin, "type": kind, "project_id": project, "data_provider_id": provider_id,
            "dataset_id": dataset_id, "dataset_name": dataset_name, "dataset_version": dataset_version,
            f"{kind}_name": name,
            "date": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "date_epoch": when.timestamp()}


def encode_ids(ids: Sequence[str]) -> list[bytes]:
    """The items of ``[{"id": "a"}, {"id": "b"}]`` (without the brackets) as UTF-8 pieces of up
    to 20,000 ids, each built by C-level encode and replace."""
    out = []
    for i in range(0, len(ids), _PIECE_IDS):
        text = json.dumps(list(ids[i:i + _PIECE_IDS]), ensure_ascii=False)
        out.append(('{"id": ' + text[1:-1].replace(_STR_SEP, '"}, {"id": "') + "}").encode())
    return out


def _frame(head: dict[str, Any], annotation: Any, with_ids: bool) -> tuple[bytes, bytes]:
    """(everything before the id items, everything after them)."""
    start = json.dumps(head, ensure_ascii=False).encode()[:-1]
    end = b""
    if annotation is not None:
        end += b', "annotation": ' + json.dumps(annotation, ensure_ascii=False).encode()
    if with_ids:
        return start + b', "sample_ids": [', b"]" + end + b"}"
    return start + end + b"}", b""


def _doc(start: bytes, items: list[Any], end: bytes) -> list[Any]:
    pieces: list[Any] = [start]
    for k, it in enumerate(items):
        if k:
            pieces.append(b", ")
        pieces.append(it)
    pieces.append(end)
    return pieces


def selection(head: dict[str, Any], items: list[bytes], count: int, annotation: Any = None) -> Payload:
    """The whole selection payload, with ``count`` and ``sample_ids``."""
    start, end = _frame({**head, "count": count}, annotation, True)
    return Payload(_doc(start, items, end))


def annotation(head: dict[str, Any], value: Any) -> Payload:
    """An annotation payload: the envelope and ``annotation``, no sample ids."""
    start, _ = _frame(head, value, False)
    return Payload([start])


def split_selection(head: dict[str, Any], items: list[bytes], count: int, annotation: Any,
                    max_bytes: int) -> Sequence[bytes]:
    """The selection as one message if it fits in ``max_bytes``, else as parts numbered
    ``part`` 1..n of ``parts`` n, each with its own ``sample_ids`` and ``count`` the total."""
    whole = selection(head, items, count, annotation)
    if len(whole) <= max_bytes:
        return [whole.bytes()]
    big = 10 ** len(str(whole.size))  # wider than any part number this payload can need
    start, end = _frame({**head, "count": count, "part": big, "parts": big}, annotation, True)
    room = max_bytes - len(start) - len(end)
    return _Parts(head, count, annotation, list(_cut(items, room, max_bytes)))


class _Parts(Sequence[bytes]):
    """The messages of a split selection, each rendered when it is sent (the producer keeps
    its own copy until acknowledged, so the whole body never exists twice)."""

    def __init__(self, head: dict[str, Any], count: int, annotation: Any, parts: list[list[Any]]):
        self._head, self._count, self._annotation, self._parts = head, count, annotation, parts

    def __len__(self) -> int:
        return len(self._parts)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        s, e = _frame({**self._head, "count": self._count, "part": k + 1, "parts": len(self._parts)},
                      self._annotation, True)
        return b"".join(_doc(s, self._parts[k], e))


def _cut(items: list[bytes], room: int, max_bytes: int) -> Iterator[list[Any]]:
    """Group the item pieces into parts of at most ``room`` bytes (``", "`` joins included),
    cutting inside a piece only between two items."""
    part: list[Any] = []
    size = 0
    for piece in items:
        mv, pos = memoryview(piece), 0
        while pos < len(piece):
            sep = 2 if part else 0
            rest = len(piece) - pos
            if size + sep + rest <= room:
                part.append(mv[pos:])
                size += sep + rest
                break
            fit = room - size - sep  # bytes of this piece that still fit in the part
            cut = piece.rfind(_ITEM_SEP, pos, pos + fit - 1 + len(_ITEM_SEP)) if fit > 0 else -1
            if cut >= pos:
                part.append(mv[pos:cut + 1])
                pos = cut + 3  # past "}, "
            elif not part:
                raise DeliveryError(f"one sample id alone does not fit in a message of {max_bytes} bytes")
            yield part
            part, size = [], 0
    if part:
        yield part
