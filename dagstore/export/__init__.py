"""Exports of a final version to the formats trainers read (DESIGN-annotations 1.4–1.9).

A format writer sees only a ``VersionView`` and writes through a ``Sink``; each format is one
module in ``formats/`` registered by name. Jobs, snapshots and ``download_dataset`` build on
``export_view``.
"""

from .base import ExportFormat
from .download import download_dataset
from .errors import ExportError
from .jobs import ExportJob
from .report import ExportReport
from .run import export_view
from .snapshots import Snapshot
from .view import ClassInfo, Item, LocalView, VersionView

__all__ = ["ExportFormat", "ExportError", "ExportReport", "ExportJob", "Snapshot", "download_dataset", "export_view",
           "ClassInfo", "Item", "LocalView", "VersionView"]
