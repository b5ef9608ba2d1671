"""Exports of a final version to the formats trainers read (DESIGN-annotations 1.4–1.9).

An exporter sees only a ``VersionView`` and writes through a ``Sink``; each format is one
module in ``formats/`` registered by name. Jobs, snapshots and ``download_dataset`` build on
``export_view``. Importing this package provides the ``Store`` export methods (core.extensions).
"""

from ..core import extensions as _extensions
from . import jobs as _jobs, snapshots as _snapshots
from .base import ExportFormat
from .download import download_dataset
from .errors import ExportError
from .jobs import ExportJob
from .report import ExportReport
from .run import export_view
from .snapshots import Snapshot
from .view import ClassInfo, Item, LocalView, VersionView

_extensions.provide("export.download_dataset", download_dataset)
_extensions.provide("export.get_export", _jobs.get_export)
_extensions.provide("export.list_exports", _jobs.list_exports)
_extensions.provide("export.get_snapshot", _snapshots.get_snapshot)
_extensions.provide("export.list_snapshots", _snapshots.list_snapshots)

__all__ = ["ExportFormat", "ExportError", "ExportReport", "ExportJob", "Snapshot", "download_dataset", "export_view",
           "ClassInfo", "Item", "LocalView", "VersionView"]
