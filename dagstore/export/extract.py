"""Extraction of an export zip (downloads): the archive guard (``dagstore.archive``) checks
it whole before anything is written, and it is extracted into a temporary sibling folder
that replaces the target in one rename; a target that cannot be written is one line naming it
and leaves nothing (``localtarget``)."""

from __future__ import annotations

from .._atomic import replace_folder
from ..archive import extract_zip
from .localtarget import LocalTarget


def safe_extract(zip_path: str, folder: str, overwrite: bool = False) -> str:
    """Extract ``zip_path`` into ``folder`` (missing or empty, or replaced with ``overwrite``)."""
    local = LocalTarget(folder, overwrite, True, True)
    try:
        with local.writing():
            extract_zip(zip_path, local.tmp)
            replace_folder(local.tmp, local.location)
    except BaseException:
        local.cleanup()
        raise
    local.release()
    return local.location
