"""Datasources into dataset versions: ``create_from_datasource`` and ``sync_datasource``.

The datasource is read into a private staging folder first; a version is created only once
the whole read succeeded, and the staging folder is removed whatever happens, so a failed
read leaves no version, no draft and no partial file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Sequence

from ..annotations.ops import new_draft
from ..core.hashing import hash_file
from ..core.ops import commit, labels, lookup, stage
from ..core.store import Store
from ..core.version import Version
from .datasources import Datasource, DatasourceRegistry, Fetched

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


def _new_version(st: Store, staging: str, meta: dict[str, Any], dataset_name: str,
                 dataset_project: str | None, parents: Sequence[str], replace: bool) -> Version:
    v = new_draft(st, dataset_name, dataset_project, parents=parents, origin="datasource")
    try:
        if replace:
            stage.sync_folder(v, staging, None, True)
        else:
            stage.add_files(v, staging, None, None, None, True, None, True)
        labels.set_metadata(v, meta, METADATA_NAME)
        commit.upload(v, False, None, None, None, None, 3)
        commit.finalize(v)
    except BaseException:
        st.delete_version(v.id)
        raise
    return v


def create_from_datasource(st: Store, datasource: str | Datasource, dataset_name: str,
                           dataset_project: str | None = None, file_format: str = "parquet",
                           parents: Sequence[str] = ()) -> Version:
    """Read the datasource into a new final version (see ``Dataset.create_from_datasource``)."""
    reg = DatasourceRegistry(st)
    ds = _datasource(reg, datasource)
    staging = _staging()
    try:
        fetched = reg.fetch(ds, staging, file_format)
        meta = _metadata(reg, ds, fetched, file_format)
        return _new_version(st, staging, meta, dataset_name, dataset_project, parents, replace=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sync_datasource(st: Store, datasource: str | Datasource, dataset_name: str,
                    dataset_project: str | None = None, file_format: str = "parquet") -> Version:
    """A child of the latest version when the data changed, else the latest version itself
    (the first call creates the dataset, a SQL result as ``file_format``; later calls keep it)."""
    reg = DatasourceRegistry(st)
    ds = _datasource(reg, datasource)
    latest = lookup.find(st, None, dataset_project, dataset_name, None, True, False, None)
    if latest is None:
        return create_from_datasource(st, ds, dataset_name, dataset_project, file_format)
    before = labels.get_metadata(latest, METADATA_NAME) or {}
    file_format = before.get("file_format", "parquet") if isinstance(before, dict) else "parquet"
    staging = _staging()
    try:
        fetched = reg.fetch(ds, staging, file_format)
        now = {rel: hash_file(os.path.join(staging, *rel.split("/")))[0] for rel in fetched.files}
        current = {p: e.hash for p, e in latest.current().items() if e.url is None}
        if now == current:
            return latest
        meta = _metadata(reg, ds, fetched, file_format)
        return _new_version(st, staging, meta, dataset_name, latest.project, [latest.id], replace=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
