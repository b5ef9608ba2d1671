"""Errors of the export subsystem."""

from __future__ import annotations

from ..errors import DagstoreError


class ExportError(DagstoreError, ValueError):
    """The selection cannot be exported as asked: unknown format or option, data the format
    cannot express (and that would otherwise be lost silently), an empty selection."""
