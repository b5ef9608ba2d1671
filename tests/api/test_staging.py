"""Staging writes the draft once per call, however many files it stages (importers stage millions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore import Dataset, Store
from dagstore.core.ops import lookup, stage
from dagstore.core.manifest import Entry


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = Store.save_draft
    monkeypatch.setattr(Store, "save_draft", lambda self, d: seen.append(d.record.id) or real(self, d))
    return seen


def test_adding_a_folder_writes_the_draft_once(tmp_path: Path, saves: list[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"{i}.txt").write_text(str(i))
    ds = Dataset.create("batch", "p", store=str(tmp_path / "store"))
    saves.clear()
    assert ds.add_files(src, show_progress=False) == 200
    assert saves == [ds.id]
    saves.clear()
    assert ds.remove_files("1*.txt") == 111
    assert saves == [ds.id]


def test_stage_many_writes_the_draft_once(tmp_path: Path, saves: list[str]) -> None:
    st = Store(str(tmp_path / "store"))
    v = lookup.new_draft(st, "links", "p", None, [], None, None, None)
    saves.clear()
    items = [(f"l/{i}.bin", Entry("", i, f"https://example.org/{i}.bin"), None) for i in range(500)]
    assert stage.stage_many(v, items) == 500
    assert saves == [v.id]
    assert len(Dataset.get(dataset_id=v.id, store=st).list_files()) == 500
