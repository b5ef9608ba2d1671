"""Datasources into dataset versions: ``create_from_datasource`` and ``sync_datasource``.

The datasource is read into a private staging folder first; a version is created only once
the whole read succeeded, and the staging folder is removed whatever happens, so a failed
read leaves no version, no draft and no partial file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import DatasetNotFoundError
from ..core.hashing import hash_file
from .datasources import Datasource, DatasourceRegistry, Fetched

if TYPE_CHECKING:
    from ..core.store import Store

Dataset = Any  # the facade class, passed in as ``cls`` (importing it here would be a cycle)

METADATA_NAME = "datasource"


def _datasource(reg: DatasourceRegistry, datasource: str | Datasource) -> Datasource:
    return datasource if isinstance(datasource, Datasource) else reg.get(datasource)


def _metadata(reg: DatasourceRegistry, ds: Datasource, fetched: Fetched, file_format: str) -> dict[str, Any]:
    conn = reg.connectors.get(ds.connector)
    meta: dict[str, Any] = {**ds.to_dict(), "connector_type": conn.type, "where": conn.where(),
                            "files": len(fetched.files)}
    if fetched.rows is not None:
        meta.update(rows=fetched.rows, file_format=file_format,
                    columns=[{"name": n, "type": t} for n, t in fetched.columns])
    return meta


def _staging() -> str:
    return tempfile.mkdtemp(prefix="dagstore-datasource-")


def _new_version(cls: Any, st: Store, staging: str, meta: dict[str, Any], dataset_name: str,
                 dataset_project: str | None, parents: Sequence[Any] | None, replace: bool) -> Dataset:
    ds = cls.create(dataset_name, dataset_project, parent_datasets=parents, store=st, origin="datasource")
    try:
        if replace:
            ds.sync_folder(staging)
        else:
            ds.add_files(staging)
        ds.set_metadata(meta, metadata_name=METADATA_NAME)
        ds.upload(show_progress=False)
        ds.finalize()
    except BaseException:
        st.delete_version(ds.id)
        raise
    return ds


def create_from_datasource(cls: Any, st: Store, datasource: str | Datasource, dataset_name: str,
                           dataset_project: str | None = None, file_format: str = "parquet",
                           parent_datasets: Sequence[Any] | None = None) -> Dataset:
    """Read the datasource into a new final version (see ``Dataset.create_from_datasource``)."""
    reg = DatasourceRegistry(st)
    ds = _datasource(reg, datasource)
    staging = _staging()
    try:
        fetched = reg.fetch(ds, staging, file_format)
        meta = _metadata(reg, ds, fetched, file_format)
        return _new_version(cls, st, staging, meta, dataset_name, dataset_project, parent_datasets, replace=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sync_datasource(cls: Any, st: Store, datasource: str | Datasource, dataset_name: str,
                    dataset_project: str | None = None) -> Dataset:
    """A child of the latest version when the data changed, else the latest version itself
    (the first call creates the dataset)."""
    reg = DatasourceRegistry(st)
    ds = _datasource(reg, datasource)
    try:
        latest = cls.get(dataset_project=dataset_project, dataset_name=dataset_name, only_completed=True, store=st)
    except DatasetNotFoundError:
        return create_from_datasource(cls, st, ds, dataset_name, dataset_project)
    before = latest.get_metadata(METADATA_NAME) or {}
    file_format = before.get("file_format", "parquet") if isinstance(before, dict) else "parquet"
    staging = _staging()
    try:
        fetched = reg.fetch(ds, staging, file_format)
        now = {rel: hash_file(os.path.join(staging, *rel.split("/")))[0] for rel in fetched.files}
        current = {p: e.hash for p, e in latest.file_entries_dict.items()}
        if now == current:
            return latest
        meta = _metadata(reg, ds, fetched, file_format)
        return _new_version(cls, st, staging, meta, dataset_name, latest.project, [latest.id], replace=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
