"""Named records (core/store/named.py) for every record type: a malformed record is skipped in
listings with a warning naming its key and never hides the others, reading it by name is a
FormatError naming it, and a taken name is a clear ConflictError that changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.delivery import ExportMethods
from dagstore.delivery.deliveries import Delivery, list_deliveries, record
from dagstore.delivery.exporters import Exporters
from dagstore.errors import ConflictError, FormatError
from dagstore.export.jobs import get_export, list_exports
from dagstore.export.snapshots import create_snapshot, get_snapshot, list_snapshots
from helpers import write_tree

JOB_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    st.connectors.create("lite", "sql", url=f"sqlite:///{tmp_path}/lite.db")
    return st


def final_version(store: Store, tmp_path: Path) -> Dataset:
    ds = Dataset.create(dataset_name="pets", dataset_project="vision", store=store)
    ds.add_files(write_tree(tmp_path / "src", {"a.txt": "a"}))
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def job_record(job_id: str, dataset_id: str) -> dict[str, Any]:
    return {"schema": "dagstore.export-job/1", "id": job_id, "dataset_id": dataset_id, "format": "coco",
            "status": "failed", "progress": [0, 0], "error": "x", "created": "2026-01-01T00:00:00Z", "heartbeat": 0}


@dataclass
class Kind:
    """How to make a good record of one type, list them, and read one by name."""

    id: str
    prefix: str
    bad_names: tuple[str, str]  # names a record of this type may have (a hex job id, a delivery stamp)
    make: Callable[[Store, Path], str]  # -> the good record's name
    names: Callable[[Store], list[str]]
    get: Callable[[Store, str], Any] | None


def _delivery(store: Store, _tmp: Path) -> str:
    d = Delivery(id="ab" * 16, kind="selection", method="hook", method_type="post", target="http://h/",
                 dataset_id="c" * 32, name="s", count=1, status="delivered", attempts=1, error=None,
                 time="2026-01-02T03:04:05.006+00:00", duration=0.1)
    record(store, d)
    return d.id


def _job(store: Store, tmp_path: Path) -> str:
    from dagstore.core.store.named import NamedRecords
    from dagstore.export.jobs import RECORDS

    ds = final_version(store, tmp_path)
    NamedRecords(store.backend, RECORDS).create(JOB_ID, job_record(JOB_ID, ds.id))  # no worker: a finished job
    return JOB_ID


KINDS = [
    Kind("connector", "connectors", ("bad", "odd"),
         lambda st, tmp: st.connectors.create("good", "sql", url=f"sqlite:///{tmp}/g.db").name,
         lambda st: [c.name for c in st.connectors.list()], lambda st, n: st.connectors.get(n)),
    Kind("datasource", "datasources", ("bad", "odd"),
         lambda st, tmp: st.datasources.create("good", "lite", query="SELECT 1").name,
         lambda st: [d.name for d in st.datasources.list()], lambda st, n: st.datasources.get(n)),
    Kind("export method", "export-methods", ("bad", "odd"),
         lambda st, tmp: ExportMethods(st).create("good", "post, http://127.0.0.1:9/x").name,
         lambda st: [m.name for m in ExportMethods(st).list()], lambda st, n: ExportMethods(st).get(n)),
    Kind("exporter", "exporters", ("bad", "odd"),
         lambda st, tmp: Exporters(st).create("good", "lite", table="t").name,
         lambda st: [e.name for e in Exporters(st).list()], lambda st, n: Exporters(st).get(n)),
    Kind("snapshot", "snapshots", ("bad", "odd one"),
         lambda st, tmp: create_snapshot(final_version(st, tmp), "good").name,
         lambda st: [s.name for s in list_snapshots(st)], get_snapshot),
    Kind("export job", "exports", ("b" * 32, "c" * 32), _job,
         lambda st: [j.id for j in list_exports(st)], get_export),
    Kind("delivery", "deliveries", ("20260101T000000000000-" + "d" * 32, "20260101T000000000001-" + "e" * 32),
         _delivery, lambda st: [d.id for d in list_deliveries(st)], None),
]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_a_bad_record_is_skipped_with_a_warning_naming_it(kind: Kind, store: Store, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    good = kind.make(store, tmp_path)
    bad, odd = kind.bad_names
    bad_key = f"{kind.prefix}/{bad}.json"
    odd_key = f"{kind.prefix}/{odd.replace(' ', '%20')}.json"
    store.backend.write(bad_key, b"{not json")
    store.backend.write(odd_key, b'{"name": "someone else", "format": 1}')  # JSON, but not this record
    caplog.set_level(logging.WARNING, logger="dagstore")

    names = kind.names(store)
    assert good in names and bad not in names and odd not in names  # the good one still lists
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert bad_key in warned and odd_key in warned, warned
    if kind.get is not None:
        assert kind.get(store, good) is not None  # and is found by name
        for name, key in ((bad, bad_key), (odd, odd_key)):
            with pytest.raises(FormatError, match=f"{kind.id} record {key} is corrupt"):
                kind.get(store, name)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.id not in ("export job", "delivery")], ids=lambda k: k.id)
def test_creating_a_taken_name_is_a_conflict_and_changes_nothing(kind: Kind, store: Store, tmp_path: Path) -> None:
    good = kind.make(store, tmp_path)
    key = next(k for k in store.backend.list(kind.prefix) if good in k)
    before = store.backend.read(key)
    with pytest.raises(ConflictError, match=f"{kind.id} '{good}' already exists"):
        kind.make(store, tmp_path / "again")
    assert store.backend.read(key) == before


def test_old_records_without_a_trailing_newline_still_read(store: Store, tmp_path: Path) -> None:
    """Records written before the registry (compact JSON, other field order) read the same."""
    store.backend.write("connectors/old.json", b'{"spec": {"url": "sqlite:///x.db"}, "type": "sql", "name": "old", "format": 1}')
    store.backend.write("export-methods/old_hook.json", b'{"type": "post", "url": "http://h/"}')
    store.backend.write("snapshots/a%20b.json", b'{"name": "a b", "dataset_id": "' + b"f" * 32
                        + b'", "filters": {}, "created": "2026-01-01T00:00:00Z"}\n')
    assert store.connectors.get("old").spec == {"url": "sqlite:///x.db"}
    assert ExportMethods(store).get("old_hook").url == "http://h/"
    assert get_snapshot(store, "a b").dataset_id == "f" * 32

