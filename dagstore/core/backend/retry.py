"""Retries for networked backend calls: transient errors are retried with jittered backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from ...errors import StorageError

TRANSIENT_RETRIES = 5


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, TimeoutError, ConnectionError)) and not isinstance(
        exc, (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)
    )



def retry_call(fn: Callable[[], Any], where: str) -> Any:
    """Call ``fn``; on a transient error retry up to ``TRANSIENT_RETRIES`` times, then raise
    ``StorageError`` naming ``where`` (a redacted URL)."""
    for attempt in range(TRANSIENT_RETRIES):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - filtered just below
            if not _transient(exc) or attempt == TRANSIENT_RETRIES - 1:
                if _transient(exc):
                    raise StorageError(f"{where}: {type(exc).__name__} after retries") from exc
                raise
            time.sleep(min(8.0, 0.2 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")
