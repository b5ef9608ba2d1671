"""Decoding stored objects: the one place where malformed bytes become a clear FormatError.

Every object read from a store (records, drafts, claims, labels, manifests (JSON or Arrow), pack headers,
the store marker) goes through ``decoding(what)`` and the small type checks below, so that a
truncated, hand-edited or hostile object fails with one line naming it instead of a raw
``KeyError`` / ``TypeError`` / ``ZstdError`` / ``RecursionError`` deep in the code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import zstandard

from ..errors import DagstoreError, FormatError

log = logging.getLogger("dagstore")

_RAW = (zstandard.ZstdError, pa.ArrowException, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, MemoryError)


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turn any raw error raised while decoding ``what`` into ``FormatError("<what> is corrupt: …")``."""
    try:
        yield
    except DagstoreError:
        raise
    except _RAW as exc:
        raise FormatError(f"{what} is corrupt ({_describe(exc)})") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, KeyError):
        return f"no field {exc}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - [annotations] and [export] install it (the core reads JSON without it)
    _orjson = None  # type: ignore[assignment]
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))  # digits -> "0", the rest -> " "


def loads(data: str | bytes) -> Any:
    """JSON text as Python objects, by orjson when installed (3-5x faster than the standard
    library) unless the text holds a run of 19 digits (orjson reads integers beyond 64 bits
    as floats) or orjson refuses it (NaN, UTF-16, a BOM, malformed): then by the standard
    library, which decides and words the error. Either way the same objects."""
    if _orjson is not None:
        try:
            raw = data.encode() if isinstance(data, str) else data
            if b"0" * 19 not in raw.translate(_DIGITS):
                return _orjson.loads(raw)
        except (UnicodeEncodeError, _orjson.JSONDecodeError):
            pass
    return json.loads(data)


def parse_json(data: bytes, what: str, compressed: bool = False) -> Any:
    """JSON (zstd-compressed when ``compressed``) of a stored object; FormatError naming it."""
    with decoding(what):
        if compressed:
            data = zstandard.ZstdDecompressor().decompress(data)
        return json.loads(data)


def parse_object(data: bytes, what: str, compressed: bool = False, known_format: int | None = None) -> dict[str, Any]:
    """A stored JSON object (not a list, number, ...), its ``format`` checked against ``known_format``."""
    doc = parse_json(data, what, compressed)
    if not isinstance(doc, dict):
        raise FormatError(f"{what} is corrupt (not a JSON object)")
    if known_format is not None:
        check_format(doc, what, known_format)
    return doc


def check_format(doc: dict[str, Any], what: str, known: int) -> None:
    fmt = doc.get("format", 0)
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise FormatError(f"{what} is corrupt (format {fmt!r} is not a number)")
    if fmt > known:
        raise FormatError(f"{what} format {fmt} is newer than this dagstore (knows {known}); upgrade dagstore")


def expect(ok: bool, what: str, problem: str) -> None:
    """``FormatError("<what> is corrupt (<problem>)")`` unless ``ok``."""
    if not ok:
        raise FormatError(f"{what} is corrupt ({problem})")


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def is_hex(value: Any, length: int = 32) -> bool:
    return isinstance(value, str) and len(value) == length and all(c in "0123456789abcdef" for c in value)


def skip(key: str, exc: Exception) -> None:
    """Log that a listing or lookup skipped an unreadable object (named by its key)."""
    log.warning("skipping %s: %s", key, exc)
