"""Extraction of an export zip (downloads): the archive guard (``dagstore.archive``) checks
it whole before anything is written, and it is extracted into a temporary sibling folder
that replaces the target in one rename (``dagstore._atomic``)."""

from __future__ import annotations

import os

from .._atomic import new_folder
from ..archive import extract_zip
from .sinks import check_local_target


def safe_extract(zip_path: str, folder: str, overwrite: bool = False) -> str:
    """Extract ``zip_path`` into ``folder`` (missing or empty, or replaced with ``overwrite``)."""
    target = os.path.abspath(folder)
    check_local_target(target, overwrite, want_dir=True)
    with new_folder(target) as tmp:
        extract_zip(zip_path, str(tmp))
    return target
