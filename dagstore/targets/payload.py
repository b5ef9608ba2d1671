"""The JSON payload of a selection or an annotation (DebiAI's keys plus dagstore's), encoded
straight to bytes: a million sample ids never become a million Python dicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .errors import DeliveryError

# `", "` never occurs inside an encoded JSON string (its quotes are escaped), so it only ever
# separates two elements of the encoded id list; likewise `}, {"id": ` only separates two items.
_STR_SEP = '", "'
_ITEM_SEP = b'}, {"id": '


def envelope(kind: str, *, project: str, provider_id: str, dataset_id: str, dataset_name: str,
             dataset_version: str, name: str, when: datetime | None = None) -> dict[str, Any]:
    """The keys every payload starts with; ``kind`` is ``selection`` or ``annotation``."""
    when = when or datetime.now(timezone.utc)
    return {"origin": "dagstore", "type": kind, "project_id": project, "data_provider_id": provider_id,
            "dataset_id": dataset_id, "dataset_name": dataset_name, "dataset_version": dataset_version,
            f"{kind}_name": name,
            "date": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "date_epoch": when.timestamp()}


def encode_ids(ids: Sequence[str]) -> bytes:
    """``[{"id": "a"}, {"id": "b"}]`` as UTF-8 bytes, built by C-level encode and replace."""
    if not ids:
        return b"[]"
    text = json.dumps(list(ids) if not isinstance(ids, list) else ids, ensure_ascii=False)
    return ('[{"id": ' + text[1:-1].replace(_STR_SEP, '"}, {"id": "') + "}]").encode()


def _close(head: dict[str, Any], ids_json: bytes | None, annotation: Any) -> bytes:
    body = json.dumps(head, ensure_ascii=False).encode()[:-1]
    if ids_json is not None:
        body += b', "sample_ids": ' + ids_json
    if annotation is not None:
        body += b', "annotation": ' + json.dumps(annotation, ensure_ascii=False).encode()
    return body + b"}"


def selection(head: dict[str, Any], ids_json: bytes, count: int, annotation: Any = None) -> bytes:
    """The whole selection payload, with ``count`` and ``sample_ids``."""
    return _close({**head, "count": count}, ids_json, annotation)


def annotation(head: dict[str, Any], value: Any) -> bytes:
    """An annotation payload: the envelope and ``annotation``, no sample ids."""
    return _close(head, None, value)


def split_selection(head: dict[str, Any], ids_json: bytes, count: int, annotation: Any, max_bytes: int) -> list[bytes]:
    """The selection as one payload if it fits in ``max_bytes``, else as parts numbered
    ``part`` 1..n of ``parts`` n, each with its own ``sample_ids`` and ``count`` the total."""
    whole = selection(head, ids_json, count, annotation)
    if len(whole) <= max_bytes:
        return [whole]
    # room for the ids of one part: the envelope with the widest part numbers it could carry
    digits = len(str(len(ids_json)))
    frame = len(_close({**head, "count": count, "part": 10**digits, "parts": 10**digits}, b"[]", annotation))
    room = max_bytes - frame
    items = ids_json[1:-1]  # {"id": "a"}, {"id": "b"}
    chunks: list[bytes] = []
    pos = 0
    while pos < len(items):
        end = pos + room
        if end >= len(items):
            chunks.append(items[pos:])
            break
        cut = items.rfind(_ITEM_SEP, pos, end - 1 + len(_ITEM_SEP))  # the part ends at cut + 1 <= end
        if cut < 0:
            raise DeliveryError(f"one sample id alone does not fit in a message of {max_bytes} bytes")
        chunks.append(items[pos:cut + 1])
        pos = cut + 3  # past "}, "
    n = len(chunks)
    return [_close({**head, "count": count, "part": k, "parts": n}, b"[" + c + b"]", annotation)
            for k, c in enumerate(chunks, 1)]
