"""Storage backends: the only code that talks to storage (a small key/value interface over a store root)."""

from __future__ import annotations

from typing import Any

from ...secrets import redact_url
from ...errors import InvalidPathError, StorageError
from .base import Backend, FileSpool, Spool, check_key
from .fsspec import FsspecBackend
from .local import LocalBackend

__all__ = ["Backend", "FileSpool", "Spool", "LocalBackend", "FsspecBackend", "check_key", "open_backend"]


def open_backend(url: str, storage_options: dict[str, Any] | None = None) -> Backend:
    """The backend for a store URL: a local path / ``file://`` URL, or any fsspec URL."""
    if "://" not in url or url.startswith("file://"):
        path = url[len("file://"):] if url.startswith("file://") else url
        if not path:
            raise InvalidPathError("empty store path")
        return LocalBackend(path)
    try:
        return FsspecBackend(url, storage_options)
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}.get(scheme, "all")
        raise StorageError(f"{scheme}:// stores need an extra package: pip install 'dagstore[{extra}]'") from exc
    except ValueError as exc:
        raise InvalidPathError(f"unsupported store URL {redact_url(url)!r}: {exc}") from exc
