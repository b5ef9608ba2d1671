"""One read per file: upload packs the small files' bytes that add_files read and hashed, and
still refuses a file changed between add_files and upload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from dagstore.core import staging, transfer
from dagstore.core.ops import commit, lookup, stage
from dagstore.errors import InvalidPathError
from helpers import read_tree, write_tree

TREE = {"a.txt": "alpha\n" * 50, "b.bin": "b" * 3000, "sub/c.csv": "x,y\n1,2\n" * 40, "sub/same.txt": "alpha\n" * 50}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Files that upload reads (and verifies) again; files are kept however recent they are."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))
    seen: list[str] = []
    real = transfer.read_small
    monkeypatch.setattr(transfer, "read_small", lambda path, size: seen.append(os.path.basename(path)) or real(path, size))
    return seen


def draft_of(tmp_path: Path) -> tuple[Dataset, Path]:
    src = write_tree(tmp_path / "src", TREE)
    ds = Dataset.create("once", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    return ds, src


def test_upload_packs_what_add_files_read_without_reading_again(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []
    assert read_tree(Dataset.get(dataset_id=ds.id, store=str(tmp_path / "store")).get_local_copy()) == read_tree(src)


def test_upload_releases_the_bytes_add_files_kept(tmp_path: Path, reads: list[str]) -> None:
    v = lookup.new_draft(Store(str(tmp_path / "store")), "once", "p", None, [], None, None, None)
    stage.add_files(v, write_tree(tmp_path / "src", TREE), None, None, None, True, None, False)
    assert v.staged is not None
    commit.upload(v, False, None, None, None, None, 3)
    assert v.staged is None and reads == []


def test_a_file_changed_after_add_files_is_refused_even_with_its_size_and_mtime_restored(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    st = os.stat(src / "b.bin")
    (src / "b.bin").write_text("B" * 3000)
    os.utime(src / "b.bin", ns=(st.st_atime_ns, st.st_mtime_ns))  # only the change time tells
    with pytest.raises(InvalidPathError, match="b.bin: changed after it was added"):
        ds.upload(show_progress=False)
    assert reads == ["b.bin"]
    assert ds.is_dirty()


def test_a_touched_but_unchanged_file_is_read_again_and_uploaded(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    os.utime(src / "sub" / "c.csv", ns=(10**18, 10**18))
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == ["c.csv"]
    assert read_tree(ds.get_local_copy()) == read_tree(src)


def test_recently_changed_files_and_other_compression_levels_are_read_at_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = transfer.read_small
    monkeypatch.setattr(transfer, "read_small", lambda path, size: seen.append(os.path.basename(path)) or real(path, size))
    ds, src = draft_of(tmp_path)  # just written: within RACY_NS, an edit could keep the same stat
    ds.upload(show_progress=False)
    assert sorted(seen) == ["a.txt", "b.bin", "c.csv"]  # same.txt has a.txt's content: sent once
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))
    seen.clear()
    other, _ = draft_of(tmp_path / "again")
    other.upload(show_progress=False, compression=False)
    assert sorted(seen) == ["a.txt", "b.bin", "c.csv"]
    other.finalize()
    assert read_tree(other.get_local_copy()) == read_tree(src)


def test_past_its_budget_the_draft_keeps_nothing_more_and_upload_reads_the_rest(tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "DEFAULT_BUDGET", 3100)
    ds, src = draft_of(tmp_path)
    ds.upload(show_progress=False)
    ds.finalize()
    assert 1 <= len(reads) < 3
    assert read_tree(ds.get_local_copy()) == read_tree(src)


def test_a_file_deleted_after_add_files_is_refused(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    (src / "a.txt").unlink()
    with pytest.raises(InvalidPathError, match="a.txt: cannot read"):
        ds.upload(show_progress=False)
