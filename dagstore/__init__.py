"""dagstore: a serverless, ClearML-Data-compatible versioned dataset store on any fsspec URL.

``from dagstore import Dataset`` is a drop-in for ``from clearml import Dataset``. The export
names (``ExportFormat`` ... ``download_dataset``) load the export subsystem when first used
(``__getattr__`` below, through ``api.lazy``): importing ``dagstore`` loads the storage core
and the facades only.
"""

from typing import TYPE_CHECKING, Any

from .api import lazy as _lazy
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

if TYPE_CHECKING:
    from .export import ExportError, ExportFormat, ExportJob, ExportReport, Snapshot, download_dataset

_EXPORT_NAMES = ("ExportFormat", "ExportReport", "ExportJob", "Snapshot", "ExportError", "download_dataset")

import fsspec as _fsspec

_fsspec.register_implementation("dagstore", "dagstore.fs.DagstoreFileSystem", clobber=True)

__version__ = "0.1.0"

__all__ = [
    "Dataset", "Store", "Diff", "GcReport", "FileEntry", "LinkEntry",
    "DagstoreError", "DatasetNotFoundError", "DatasetFinalizedError", "DraftError", "InvalidPathError",
    "FormatError", "IntegrityError", "ConflictError", "LockTimeoutError", "StorageError", "UnsafeArchiveError", "SecretError",
    "ExportFormat", "ExportReport", "ExportJob", "Snapshot", "ExportError", "download_dataset",
]


def __getattr__(name: str) -> Any:
    """The export subsystem's public names, imported on first use (then kept as attributes)."""
    if name not in _EXPORT_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_lazy.export, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
