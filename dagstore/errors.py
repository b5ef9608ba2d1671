"""The library's exception hierarchy: every error a user can act on is a DagstoreError."""

from __future__ import annotations


class DagstoreError(Exception):
    """Base class of every error dagstore raises on purpose."""


class DatasetNotFoundError(DagstoreError, LookupError):
    """No version matches the id, name, project, tags or version asked for."""


class DatasetFinalizedError(DagstoreError):
    """A mutating call was made on a finalized (immutable) version."""


class DraftError(DagstoreError):
    """A draft was used where a final version is required, or a draft is not ready to finalize."""


class InvalidPathError(DagstoreError, ValueError):
    """A local path or dataset path is missing, unreadable, special, or escapes its root."""


class FormatError(DagstoreError):
    """A store, manifest or pack is malformed, or written by a newer format than this reader knows."""


class IntegrityError(DagstoreError):
    """Stored content does not match its hash."""


class ConflictError(DagstoreError):
    """A concurrent writer claimed the same name/version, or a dependency forbids the operation."""


class LockTimeoutError(DagstoreError, TimeoutError):
    """A cross-process lock was not acquired in time."""


class StorageError(DagstoreError, OSError):
    """The storage backend failed after retries."""
