"""The public ``Store`` (``dagstore.Store``) is the core store composed with its subsystem members;
the core ``Store`` knows nothing of the subsystems, and every way of getting a store from the
facade gives the public one."""

from __future__ import annotations

from pathlib import Path

import pytest

import dagstore
from dagstore import Dataset, Store
from dagstore.api.store import resolve_store
from dagstore.connectors import ConnectorRegistry, DatasourceRegistry
from dagstore.core.store import Store as CoreStore
from dagstore.delivery import ExportMethods, Exporters

MEMBERS = ("connectors", "datasources", "download_dataset", "get_export", "list_exports", "get_snapshot",
           "list_snapshots", "export_methods", "exporters", "deliveries")


def test_the_core_store_has_no_subsystem_member() -> None:
    assert [m for m in MEMBERS if hasattr(CoreStore, m)] == []
    assert all(hasattr(Store, m) for m in MEMBERS)
    assert issubclass(Store, CoreStore) and dagstore.Store is Store


def test_the_members_are_the_subsystems_registries(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"))
    assert isinstance(st.connectors, ConnectorRegistry) and isinstance(st.datasources, DatasourceRegistry)
    assert isinstance(st.export_methods, ExportMethods) and isinstance(st.exporters, Exporters)
    assert st.list_exports() == [] and st.list_snapshots() == [] and st.deliveries() == []
    with pytest.raises(dagstore.DatasetNotFoundError, match="no snapshot named 'nope'"):
        st.get_snapshot("nope")


def test_a_dataset_store_is_the_public_store_however_it_was_given(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    core = CoreStore(url)
    for given in (url, core, Store(url)):
        ds = Dataset.create("d", "p", store=given)
        assert isinstance(ds.store, Store) and ds.store.url == core.url
        assert ds.store.connectors.list() == []
    shared = resolve_store(core)
    assert shared.backend is core.backend and shared.cache is core.cache  # one store, not a reopened one


def test_the_default_store_is_kept_per_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTORE_URL", str(tmp_path / "default"))
    monkeypatch.setenv("DAGSTORE_CACHE_DIR", str(tmp_path / "cache"))
    core = CoreStore.default()
    public = Store.default()
    assert type(core) is CoreStore and type(public) is Store
    assert CoreStore.default() is core and Store.default() is public
    assert isinstance(Dataset.create("d", "p").store, Store)
