"""The public ``Store`` (``dagstore.Store``): the core store composed with its subsystem members.

The core ``Store`` holds the storage members only; this subclass adds the members of the
subsystems (connectors, datasources, exports, snapshots, export methods, exporters,
deliveries) by importing them downward, so no lower layer knows of them; each subsystem is
imported when one of its members is first used (``api.lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.store import Store as CoreStore
from . import lazy

if TYPE_CHECKING:  # the subsystems' types; their modules are loaded on first use (api/lazy.py)
    from ..connectors import ConnectorRegistry, DatasourceRegistry
    from ..delivery import Delivery, ExportMethods, Exporters
    from ..export import ExportJob, Snapshot


class Store(CoreStore):
    """One store root (a local folder or any fsspec URL) plus the local cache used with it.

    ``Store()`` uses ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR`` or their defaults; pass ``url``,
    ``storage_options`` (credentials, endpoints; never persisted) and ``cache_dir`` to use
    several stores in one process.
    """

    @property
    def connectors(self) -> ConnectorRegistry:
        """This store's connectors: ``create/list/get/delete/test`` (dagstore.connectors)."""
        return lazy.connectors.ConnectorRegistry(self)

    @property
    def datasources(self) -> DatasourceRegistry:
        """This store's datasources: ``create/list/get/delete/test`` (dagstore.connectors)."""
        return lazy.connectors.DatasourceRegistry(self)

    def download_dataset(self, dataset_id: str, dataset_version_id: str | None = None, split_id: str = "",
                         extract_to_folder: str = "data", download_file: str = "dataset.zip",
                         remove_download_file: bool = True, export_format: str | None = None,
                         overwrite: bool = False, **options: Any) -> str:
        """SeeMe's ``download_dataset`` on this store (see ``dagstore.download_dataset``)."""
        return lazy.export.download_dataset(dataset_id, dataset_version_id, split_id, extract_to_folder, download_file,
                                            remove_download_file, export_format, store=self, overwrite=overwrite, **options)

    def get_export(self, job_id: str) -> ExportJob:
        """The export job ``job_id`` (created by any process or host using this store)."""
        return lazy.jobs.get_export(self, job_id)

    def list_exports(self, dataset_id: str | None = None) -> list[ExportJob]:
        """Every export job in this store (of one version with ``dataset_id``), oldest first."""
        return list(lazy.jobs.list_exports(self, dataset_id))

    def delete_export(self, job_id: str) -> None:
        """Remove the export job ``job_id``: its record and its zip."""
        lazy.jobs.delete_export(self, job_id)

    def get_snapshot(self, name: str) -> Snapshot:
        """The snapshot called ``name``."""
        return lazy.snapshots.get_snapshot(self, name)

    def delete_snapshot(self, name: str) -> None:
        """Remove the snapshot called ``name`` (its version and the exports made of it stay)."""
        lazy.snapshots.delete_snapshot(self, name)

    def list_snapshots(self, dataset_id: str | None = None) -> list[Snapshot]:
        """Every snapshot in this store (of one version with ``dataset_id``), oldest first."""
        return list(lazy.snapshots.list_snapshots(self, dataset_id))

    @property
    def export_methods(self) -> ExportMethods:
        """Export methods: ``list/get/create/delete/test`` (dagstore.delivery)."""
        return lazy.delivery.ExportMethods(self)

    @property
    def exporters(self) -> Exporters:
        """Exporters: ``create/list/get/delete/test/run`` (dagstore.delivery)."""
        return lazy.delivery.Exporters(self)

    def deliveries(self, method: str | None = None, dataset_id: str | None = None, status: str | None = None,
                   limit: int | None = None) -> list[Delivery]:
        """Recorded deliveries (selections, annotations, exporter runs), newest first."""
        return list(lazy.delivery.list_deliveries(self, method=method, dataset_id=dataset_id, status=status, limit=limit))

    @classmethod
    def of(cls, store: CoreStore) -> Store:
        """``store`` itself when it is a public ``Store``, else one sharing its backend and cache."""
        if isinstance(store, cls):
            return store
        public = cls.__new__(cls)
        public.__dict__.update(store.__dict__)
        return public


def resolve_store(store: CoreStore | str | None) -> Store:
    """The public ``Store`` for a store, a URL, or None (``DAGSTORE_URL`` / the config / the default)."""
    if store is None:
        return Store.default()
    if isinstance(store, CoreStore):
        return Store.of(store)
    return Store(store)
