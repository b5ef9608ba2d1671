"""``Dataset.add_zip``: a zip archive's files added to a draft, after the archive guard
(``dagstore.archive``) accepted it whole."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ..api import origin
from ..archive import extract_zip


def add_zip(ds: Any, path: str, dataset_path: str | None = None, only_images: bool = False) -> int:
    """``Dataset.add_zip``: check the whole archive, extract it into a private folder, add and
    upload its files, mark the draft's origin ``zip``. Nothing is added when it is refused."""
    ds._v.require_draft()
    staging = tempfile.mkdtemp(prefix="dagstore-zip-")
    try:
        rels = extract_zip(os.fspath(path), staging, only_images)
        if not rels:
            return 0
        n = ds.add_files(staging, dataset_path=dataset_path)
        try:
            ds.upload(show_progress=False)  # the staged files are removed below
        except BaseException:
            prefix = (dataset_path or "").strip("/")
            for rel in rels:
                ds.remove_files(f"{prefix}/{rel}" if prefix else rel)
            raise
        origin.mark(ds._v, "zip")
        return int(n)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def __getattr__(name: str) -> Any:
    """``UnsafeArchiveError`` was importable from here: a deprecated alias of ``dagstore.UnsafeArchiveError``."""
    if name == "UnsafeArchiveError":
        import warnings

        from ..archive import UnsafeArchiveError

        warnings.warn("dagstore.connectors.archive.UnsafeArchiveError is deprecated; use dagstore.UnsafeArchiveError",
                      DeprecationWarning, stacklevel=2)
        return UnsafeArchiveError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
