"""SeeMe's ``download_dataset``: export a version to a zip, extract it safely, return the folder."""

from __future__ import annotations

import os
from typing import Any

from ..errors import DatasetNotFoundError
from .extract import safe_extract


def resolve_version(store: Any, dataset_id: str, dataset_version_id: str | None = None) -> Any:
    """The ``Dataset`` for a version id or ``project/name`` and an optional version id or
    version string (default: the latest final version)."""
    from ..api.dataset import Dataset

    if "/" in dataset_id:
        project, name = dataset_id.rsplit("/", 1)
        if dataset_version_id and store.exists(dataset_version_id):
            ds = Dataset.get(dataset_id=dataset_version_id, store=store)
            if (ds.project, ds.name) != (project, name):
                raise DatasetNotFoundError(f"version {dataset_version_id} is not a version of {dataset_id}")
            return ds
        return Dataset.get(dataset_project=project, dataset_name=name, dataset_version=dataset_version_id or None,
                           only_completed=True, store=store)
    if dataset_version_id:
        base = Dataset.get(dataset_id=dataset_id, store=store)
        if store.exists(dataset_version_id):
            return Dataset.get(dataset_id=dataset_version_id, store=store)
        return Dataset.get(dataset_project=base.project, dataset_name=base.name, dataset_version=dataset_version_id,
                           only_completed=True, store=store)
    return Dataset.get(dataset_id=dataset_id, store=store)


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
    it safely into ``extract_to_folder`` and return that folder. An existing zip or non-empty
    folder is refused unless ``overwrite=True``; nothing is left behind on error."""
    from ..core.store import Store

    st = store if isinstance(store, Store) else (Store(store) if store else Store.default())
    ds = resolve_version(st, dataset_id, dataset_version_id)
    from .run import export_view
    from .sinks import _check_local_target
    from .source import dataset_view

    zip_path = os.path.abspath(download_file if download_file.lower().endswith(".zip") else f"{download_file}.zip")
    _check_local_target(os.path.abspath(extract_to_folder), overwrite, want_dir=True)
    export_view(dataset_view(ds), export_format, zip_path, splits=[split_id] if split_id else None,
                overwrite=overwrite, **options)
    try:
        folder = safe_extract(zip_path, extract_to_folder, overwrite=overwrite)
    finally:
        if remove_download_file and os.path.exists(zip_path):
            os.unlink(zip_path)
    return folder
