"""``Dataset.add_zip``: a zip archive's files added to a draft, after the archive guard
(``dagstore.archive``) accepted it whole."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from typing import Any

from .. import archive
from ..archive import extract_zip
from ..core.ops import commit, origin, stage
from ..core.version import Version


def add_zip(v: Version, path: str, dataset_path: str | None = None, only_images: bool = False) -> int:
    """``Dataset.add_zip``: check the whole archive, extract it into a private folder, add and
    upload its files, mark the draft's origin ``zip``. Nothing is added when it is refused."""
    v.require_draft()
    staging = tempfile.mkdtemp(prefix="dagstore-zip-")
    try:
        rels = extract_zip(os.fspath(path), staging, only_images)
        if not rels:
            return 0
        n, _seen = stage.add_files(v, staging, None, None, dataset_path, True, None, True)
        try:
            commit.upload(v, False, None, None, None, None, 3)  # the staged files are removed below
        except BaseException:
            prefix = (dataset_path or "").strip("/")
            for rel in rels:
                stage.remove_files(v, f"{prefix}/{rel}" if prefix else rel, True)
            raise
        origin.mark(v, "zip")
        return n
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def __getattr__(name: str) -> Any:
    """``UnsafeArchiveError`` was importable from here: a deprecated alias of ``dagstore.UnsafeArchiveError``."""
    if name == "UnsafeArchiveError":
        warnings.warn("dagstore.connectors.archive.UnsafeArchiveError is deprecated; use dagstore.UnsafeArchiveError",
                      DeprecationWarning, stacklevel=2)
        return archive.UnsafeArchiveError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
