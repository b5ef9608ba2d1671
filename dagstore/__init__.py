"""dagstore: a serverless, ClearML-Data-compatible versioned dataset store on any fsspec URL.

``from dagstore import Dataset`` is a drop-in for ``from clearml import Dataset``.
"""

from .api.dataset import Dataset, FileEntry, LinkEntry
from .errors import (
    ConflictError,
    DagstoreError,
    DatasetFinalizedError,
    DatasetNotFoundError,
    DraftError,
    FormatError,
    IntegrityError,
    InvalidPathError,
    LockTimeoutError,
    StorageError,
)
from .archive import UnsafeArchiveError
from .secrets import SecretError
from .core.manifest import Diff
from .core.store import GcReport
from .api.store import Store
from .export import ExportError, ExportFormat, ExportJob, ExportReport, Snapshot, download_dataset

import fsspec as _fsspec

_fsspec.register_implementation("dagstore", "dagstore.fs.DagstoreFileSystem", clobber=True)

__version__ = "0.1.0"

__all__ = [
    "Dataset", "Store", "Diff", "GcReport", "FileEntry", "LinkEntry",
    "DagstoreError", "DatasetNotFoundError", "DatasetFinalizedError", "DraftError", "InvalidPathError",
    "FormatError", "IntegrityError", "ConflictError", "LockTimeoutError", "StorageError", "UnsafeArchiveError", "SecretError",
    "ExportFormat", "ExportReport", "ExportJob", "Snapshot", "ExportError", "download_dataset",
]
