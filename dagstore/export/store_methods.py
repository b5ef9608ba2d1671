"""The contract's ``Store`` methods for exports (``download_dataset``, ``get_export``,
``list_exports``, ``get_snapshot``, ``list_snapshots``).

``core`` never imports ``export`` (docs/architecture.md), so these are attached to ``Store``
when ``dagstore.export`` is imported — which ``import dagstore`` does. Each is one line
delegating to this package.
"""

from __future__ import annotations

from typing import Any

from ..core.store import Store
from . import download, jobs, snapshots


def _download_dataset(self: Store, dataset_id: str, dataset_version_id: str | None = None, split_id: str = "",
                      extract_to_folder: str = "data", download_file: str = "dataset.zip", remove_download_file: bool = True,
                      export_format: str | None = None, overwrite: bool = False, **options: Any) -> str:
    """SeeMe's ``download_dataset`` on this store (see ``dagstore.download_dataset``)."""
    return download.download_dataset(dataset_id, dataset_version_id, split_id, extract_to_folder, download_file,
                                     remove_download_file, export_format, store=self, overwrite=overwrite, **options)


def _get_export(self: Store, job_id: str) -> jobs.ExportJob:
    """The export job ``job_id`` (created by any process or host using this store)."""
    return jobs.get_export(self, job_id)


def _list_exports(self: Store, dataset_id: str | None = None) -> list[jobs.ExportJob]:
    """Every export job in this store (of one version with ``dataset_id``), oldest first."""
    return jobs.list_exports(self, dataset_id)


def _get_snapshot(self: Store, name: str) -> snapshots.Snapshot:
    """The snapshot called ``name``."""
    return snapshots.get_snapshot(self, name)


def _list_snapshots(self: Store, dataset_id: str | None = None) -> list[snapshots.Snapshot]:
    """Every snapshot in this store (of one version with ``dataset_id``), oldest first."""
    return snapshots.list_snapshots(self, dataset_id)


def install() -> None:
    for name, fn in (("download_dataset", _download_dataset), ("get_export", _get_export), ("list_exports", _list_exports),
                     ("get_snapshot", _get_snapshot), ("list_snapshots", _list_snapshots)):
        fn.__name__ = fn.__qualname__ = name
        setattr(Store, name, fn)
