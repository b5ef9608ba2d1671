"""Exports of a final version to the formats trainers read (DESIGN-annotations 1.4–1.9).

An exporter sees only a ``VersionView`` and writes through a ``Sink``; each format is one
module in ``formats/`` registered by name.
"""

from .base import ExportFormat
from .errors import ExportError
from .report import ExportReport
from .run import export_view
from .view import ClassInfo, Item, LocalView, VersionView

__all__ = ["ExportFormat", "ExportError", "ExportReport", "export_view", "ClassInfo", "Item", "LocalView", "VersionView"]
