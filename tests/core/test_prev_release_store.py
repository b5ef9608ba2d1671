"""A store written by the release before columnar manifests (JSON manifests, formats 1 and 2),
kept in tests/data/stores/prev-release (made by tests/data/stores/make_prev_release.py at
commit 60c29df): every version still reads as it did, a child of it is written in format 3,
and a reader that predates format 3 refuses such a version with its "newer" error."""

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


def _chain() -> list[str]:
    """The fixture's versions, parent first (plain, annotated child, grandchild)."""
    out = [next(v for v, w in EXPECTED.items() if not w["parents"])]
    while len(out) < len(EXPECTED):
        out.append(next(v for v, w in EXPECTED.items() if w["parents"] == [out[-1]]))
    return out


@pytest.fixture
def old_store(tmp_path: Path) -> Store:
    shutil.copytree(DATA / "prev-release", tmp_path / "store")
    return Store(str(tmp_path / "store"))


def test_every_version_of_the_previous_release_reads_as_before(old_store: Store) -> None:
    for vid, want in EXPECTED.items():
        ds = Dataset.get(dataset_id=vid, store=old_store)
        assert ds.list_files() == want["files"]
        assert dict(ds.iter_annotations()) == want["annotations"]
        assert {p: e.hash for p, e in ds.file_entries_dict.items()} == want["hashes"]
        for p, h in want["hashes"].items():
            assert hash_bytes(ds.read_bytes(p)) == h
        copy = Path(ds.get_local_copy(show_progress=False))
        assert sorted(str(f.relative_to(copy)) for f in copy.rglob("*") if f.is_file()) == want["files"]
    assert old_store.verify(read_data=True) == []


def test_old_versions_diff_facet_and_filter_on_columns(old_store: Store) -> None:
    a, b, c = _chain()
    child = Dataset.get(dataset_id=c, store=old_store)
    d = child.diff(b)
    assert d.added == ["extra/new.bin"] and d.removed == ["docs/readme.txt"]
    assert d.modified == ["img/001.jpg", "top.csv"] and d.annotation_only == ["img/001.jpg"]
    facets = child.facets()
    assert facets["splits"] == {"train": 4, "val": 2} and facets["files"] == len(EXPECTED[c]["files"])
    assert facets["classes"] == {"cat": 3, "dog": 5} and facets["region_types"] == {"box": 2, "polygon": 2}
    assert child.filter_files(label="cat") == ["img/000.jpg", "img/003.jpg", "img/005.jpg"]
    assert child.filter_files(split="val", dataset_path="img") == ["img/004.jpg", "img/005.jpg"]
    assert Dataset.get(dataset_id=a, store=old_store).facets()["annotated"] == 0


def test_a_child_of_an_old_version_is_columnar_and_refused_by_an_older_reader(old_store: Store, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    last = _chain()[2]
    (tmp_path / "more.txt").write_text("more")
    child = Dataset.create("plain", "fixture", parent_datasets=[last], store=old_store)
    child.add_files(tmp_path / "more.txt", show_progress=False)
    child.upload(show_progress=False)
    child.finalize()
    raw = old_store.backend.read(child.record.manifest)
    import zstandard

    assert zstandard.ZstdDecompressor().decompress(raw)[:6] == b"ARROW1"
    assert json.loads(old_store.backend.read(f"versions/{child.id}.json"))["format"] == 2
    assert Dataset.get(dataset_id=child.id, store=old_store).list_files() == sorted([*EXPECTED[last]["files"], "more.txt"])
    monkeypatch.setattr(records, "RECORD_FORMAT", 1)  # what the previous release knows
    with pytest.raises(FormatError, match="format 2 is newer than this dagstore"):
        Dataset.get(dataset_id=child.id, store=Store(old_store.url))
    caplog.set_level(logging.WARNING, logger="dagstore")
    listed = {d["id"] for d in Dataset.list_datasets(store=Store(old_store.url))}
    assert child.id not in listed and set(EXPECTED) <= listed
    assert any(child.id in r.getMessage() for r in caplog.records)
