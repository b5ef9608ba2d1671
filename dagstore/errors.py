"""The library's exception hierarchy: every error a user can act on is a DagstoreError."""

from __future__ import annotations


class DagstoreError(Exception):
    """Base class of every error dagstore raises on purpose."""


class DatasetNotFoundError(DagstoreError, LookupError, ValueError):
    """No version matches the id, name, project, tags or version asked for (a ValueError too,
    as in ClearML)."""


class DatasetFinalizedError(DagstoreError, ValueError):
    """A mutating call was made on a finalized (immutable) version (a ValueError too, as
    ClearML raises for a finalized dataset)."""


class DraftError(DagstoreError, ValueError):
    """A draft was used where a final version is required, or a draft is not ready to finalize
    (a ValueError too, as in ClearML)."""


class InvalidPathError(DagstoreError, ValueError):
    """A local path or dataset path is missing, unreadable, special, or escapes its root."""


class FormatError(DagstoreError):
    """A store, manifest or pack is malformed, or written by a newer format than this reader knows."""


class IntegrityError(DagstoreError):
    """Stored content does not match its hash."""


class ConflictError(DagstoreError, ValueError):
    """A concurrent writer claimed the same name/version, a dependency forbids the operation, or
    a name matches several versions where one is needed (a ValueError too, as in ClearML)."""


class LockTimeoutError(DagstoreError, TimeoutError):
    """A cross-process lock was not acquired in time."""


class StorageError(DagstoreError, OSError):
    """The storage backend failed after retries."""
