"""A version written today on top of the previous release's store (tests/data/stores/prev-release):
its format-3 delta over the release's JSON manifests lists, diffs, copies, reads and verifies like
any version, relabelling an old annotated file is an annotation-only change, the store marker
stays the one the previous release opens, and that release skips the child and will not gc."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from dagstore import Dataset, FormatError, Store
from dagstore.core import records
from dagstore.core.hashing import hash_bytes

DATA = Path(__file__).parent.parent / "data" / "stores"
EXPECTED = json.loads((DATA / "prev-release.expected.json").read_text())
NEWEST = next(v for v, w in EXPECTED.items() if w["parents"] and all(v not in o["parents"] for o in EXPECTED.values()))
RELABELLED = "img/003.jpg"


def test_a_child_of_an_old_version_copies_diffs_and_verifies(tmp_path: Path) -> None:
    shutil.copytree(DATA / "prev-release", tmp_path / "store")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "new.txt").write_text("new")
    child = Dataset.create("plain", "fixture", parent_datasets=[NEWEST], store=Store(str(tmp_path / "store")))
    child.add_files(tmp_path / "src", dataset_path="added", show_progress=False)
    child.remove_files("top.csv")
    relabel = {**EXPECTED[NEWEST]["annotations"][RELABELLED], "split": "test"}
    child.set_annotation(RELABELLED, relabel)
    child.upload(show_progress=False)
    child.finalize()

    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "fresh-cache"))
    ds, old = Dataset.get(dataset_id=child.id, store=st), Dataset.get(dataset_id=NEWEST, store=st)
    files = sorted({*EXPECTED[NEWEST]["files"], "added/new.txt"} - {"top.csv"})
    assert ds.list_files() == files
    d = ds.diff(old)
    assert (d.added, d.removed, d.modified, d.annotation_only) == (["added/new.txt"], ["top.csv"], [RELABELLED], [RELABELLED])
    assert dict(ds.iter_annotations()) == {**EXPECTED[NEWEST]["annotations"], RELABELLED: relabel}
    assert ds.filter_files(split="test") == [RELABELLED]
    origins = {p: e.parent_dataset_id for p, e in ds.file_entries_dict.items()}
    assert {p for p, o in origins.items() if o == child.id} == {"added/new.txt", RELABELLED}
    assert all(origins[p] == e.parent_dataset_id for p, e in old.file_entries_dict.items() if p in origins and p != RELABELLED)
    copy = Path(ds.get_local_copy(show_progress=False))
    assert sorted(str(f.relative_to(copy)) for f in copy.rglob("*") if f.is_file()) == files
    for p in files:
        data = (copy / p).read_bytes()
        assert data == ds.read_bytes(p) and hash_bytes(data) == EXPECTED[NEWEST]["hashes"].get(p, hash_bytes(b"new"))
    assert st.verify(read_data=True) == []
    assert json.loads((tmp_path / "store" / "dagstore.json").read_text())["format"] == 1


def test_a_reader_that_knows_only_record_format_1_skips_the_child_and_its_gc_removes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """What the previous release does with the child (its records.RECORD_FORMAT is 1; checked by
    hand with its code, 60c29df, too): listings skip it with a warning, reading it is the "newer"
    error, and gc stops before removing anything, though it could not tell what the child uses."""
    shutil.copytree(DATA / "prev-release", tmp_path / "store")
    (tmp_path / "only-child.bin").write_bytes(b"only the child holds this")
    child = Dataset.create("plain", "fixture", parent_datasets=[NEWEST], store=Store(str(tmp_path / "store")))
    child.add_files(tmp_path / "only-child.bin", show_progress=False)
    child.upload(show_progress=False)
    child.finalize()
    before = sorted(str(p.relative_to(tmp_path / "store")) for p in (tmp_path / "store").rglob("*"))
    monkeypatch.setattr(records, "RECORD_FORMAT", 1)
    old = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "old-cache"))
    caplog.set_level(logging.WARNING, logger="dagstore")
    assert {d["id"] for d in Dataset.list_datasets(store=old)} == set(EXPECTED)
    assert any(f"skipping versions/{child.id}.json" in r.getMessage() for r in caplog.records)
    with pytest.raises(FormatError, match=f"versions/{child.id}.json format 2 is newer than this dagstore"):
        Dataset.get(dataset_id=child.id, store=old)
    with pytest.raises(FormatError, match="gc stopped, nothing was removed"):
        old.gc(min_age_seconds=0)
    assert sorted(str(p.relative_to(tmp_path / "store")) for p in (tmp_path / "store").rglob("*")) == before
