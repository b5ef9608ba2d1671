"""Errors of the annotation layer: each names the file and the field at fault."""

from __future__ import annotations

from ..errors import DagstoreError


class AnnotationError(DagstoreError, ValueError):
    """An annotation (or an item of an import) breaks the ``dagstore.annotation/1`` contract.

    ``path`` is the dataset path or source file, ``field`` the offending field (dotted)."""

    def __init__(self, path: str, field: str, reason: str):
        self.path, self.field, self.reason = path, field, reason
        super().__init__(f"{path}: {field}: {reason}" if field else f"{path}: {reason}")


class ImportSourceError(AnnotationError):
    """The whole import source is unusable (malformed JSON/XML/YAML, missing file, unknown
    format, a zip-slip entry): the import changes nothing."""


class ClassListError(AnnotationError):
    """Class lists that cannot be merged (ids would change) or an invalid class list."""
