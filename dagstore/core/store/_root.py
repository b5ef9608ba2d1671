"""What every part of the store shares: the backend of the store root and the local cache."""

from __future__ import annotations

from datetime import datetime, timezone

from ...errors import DatasetNotFoundError
from ..backend import Backend
from ..cache import Cache
from ..packindex import Columns


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds (the store's timestamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_id(version_id: str) -> str:
    """Refuse text that cannot be a version id (keys are built from it)."""
    if not isinstance(version_id, str) or not version_id.isalnum() or len(version_id) > 64:
        raise DatasetNotFoundError(f"invalid dataset id {version_id!r}")
    return version_id


class StoreRoot:
    """The attributes the store's parts work on (set by ``Store.__init__``)."""

    backend: Backend
    url: str
    storage_options: dict
    cache: Cache
    _content_backends: dict[str, Backend]
    _written_indexes: dict[tuple[str, str], Columns]  # (backend url, pack id): the last upload's packs
