"""SeeMe's ``download_dataset``: export a version to a zip, extract it safely, return the folder."""

from __future__ import annotations

import os
import zipfile
from typing import Any

from ..errors import DatasetNotFoundError
from ..core.ops.lookup import get
from ..core.store import Store
from ..core.version import Version
from .extract import safe_extract
from .run import export_view
from .localtarget import check_local_target
from .source import version_view


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def resolve_version(store: Store, dataset_id: str, dataset_version_id: str | None = None) -> Version:
    """The version for a version id or ``project/name`` and an optional version id or
    version string (default: the latest final version)."""
    if "/" in dataset_id:
        project, name = dataset_id.rsplit("/", 1)
        if dataset_version_id and _is_id(dataset_version_id) and store.exists(dataset_version_id):
            v = get(store, dataset_version_id)
            if (v.project, v.name) != (project, name):
                raise DatasetNotFoundError(f"version {dataset_version_id} is not a version of {dataset_id}")
            return v
        return get(store, project=project, name=name, version=dataset_version_id or None, only_completed=True)
    if dataset_version_id:
        base = get(store, dataset_id)
        if _is_id(dataset_version_id) and store.exists(dataset_version_id):
            return get(store, dataset_version_id)
        return get(store, project=base.project, name=base.name, version=dataset_version_id, only_completed=True)
    return get(store, dataset_id)


def _earlier_download(zip_path: str) -> bool:
    """A zip kept by an earlier ``download_dataset`` (``remove_download_file=False``): an
    export with its ``export.json``, which the next download may replace."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            return "export.json" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def download_dataset(
    dataset_id: str,
    dataset_version_id: str | None = None,
    split_id: str = "",
    extract_to_folder: str = "data",
    download_file: str = "dataset.zip",
    remove_download_file: bool = True,
    export_format: str | None = None,
    store: Any = None,
    overwrite: bool = False,
    **options: Any,
) -> str:
    """Export a version (``export_format=None``: the native layout with ``annotations.jsonl``
    and ``classes.json``) of split ``split_id`` (``""`` = all) to ``download_file``, extract
    it safely into ``extract_to_folder`` and return that folder (``export_format=""`` is the
    native layout too, as in SeeMe). A non-empty folder, or an existing zip that is not an
    earlier download's, is refused unless ``overwrite=True``; nothing is left behind on error."""
    st = store if isinstance(store, Store) else (Store(store) if store else Store.default())
    v = resolve_version(st, dataset_id, dataset_version_id)
    zip_path = os.path.abspath(download_file if download_file.lower().endswith(".zip") else f"{download_file}.zip")
    check_local_target(os.path.abspath(extract_to_folder), overwrite, want_dir=True)
    replace_zip = overwrite or (os.path.isfile(zip_path) and not os.path.islink(zip_path) and _earlier_download(zip_path))
    export_view(version_view(v), export_format or None, zip_path, splits=[split_id] if split_id else None,
                overwrite=replace_zip, **options)
    try:
        folder = safe_extract(zip_path, extract_to_folder, overwrite=overwrite)
    finally:
        if remove_download_file and os.path.exists(zip_path):
            os.unlink(zip_path)
    return folder
