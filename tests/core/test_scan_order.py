"""The walk hands its files over a chunk at a time (``scan_chunks``, hashed as they come by
``add_files``) in relative path order, which packs follow: a folder sorts as its name + '/'."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.callbacks import Callback

import dagstore.core.scan as scan_mod
from dagstore import Dataset, InvalidPathError, Store
from dagstore.core.scan import scan, scan_and_hash, scan_chunks
from dagstore.core.statcache import StatCache
from helpers import write_tree

NAMES = ["b", "b.txt", "b0", "b-", "b_", "a-b", "a", "a.b", "A", "é", "z z"]


def _tree(root: Path) -> Path:
    """Files and folders whose names sort differently as names and as path prefixes."""
    files = {}
    for i, n in enumerate(NAMES):
        if i % 2:
            files[n] = n
        else:
            for j, m in enumerate(NAMES):
                files[f"{n}/{m}" if j % 3 else f"{n}/{m}/x"] = f"{n}{m}"
    return write_tree(root, files)


def test_chunks_come_in_relative_path_order_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _tree(tmp_path / "src")
    monkeypatch.setattr(scan_mod, "_CHUNK_FILES", 4)
    chunks = list(scan_chunks(src))
    rels = [f.rel for c in chunks for f in c]
    assert len(chunks) > 5 and rels == sorted(rels) and len(rels) == len(set(rels))
    on_disk = sorted(str(p.relative_to(src)).replace(os.sep, "/") for p in src.rglob("*") if p.is_file())
    assert rels == on_disk == [f.rel for f in scan(src)]


def test_scan_and_hash_gives_the_hashes_of_the_sorted_files(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    files, found = scan_and_hash(src, None, True, None, StatCache(tmp_path / "sc.sqlite"), show_progress=False)
    assert [f.rel for f in files] == [f.rel for f in scan(src)]
    assert found == [scan_mod.hash_file(f.path, f.size) for f in files]


def test_a_loop_found_after_chunks_were_handed_over_still_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _tree(tmp_path / "src")
    os.symlink(src, src / "zz-loop")  # sorts last: the chunks before it are handed over first
    monkeypatch.setattr(scan_mod, "_CHUNK_FILES", 4)
    with pytest.raises(InvalidPathError, match="symbolic link loop"):
        scan_and_hash(src, None, True, None, None, show_progress=False)


def test_a_file_gone_between_its_folder_listing_and_its_stat_is_one_clear_error(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A file removed after ``scandir`` listed its folder, before the walk stats it: the error
    names its full path (DirEntry's own names only the entry) and the draft is unchanged."""
    src = write_tree(tmp_path / "src", {"d/f1": "1", "d/f2": "2", "d/f3": "3"})
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    ds = Dataset.create(dataset_name="d", dataset_project="p", store=st)
    listed = os.scandir

    def listing_then_removal(folder: int) -> Iterator[os.DirEntry[str]]:
        entries = list(listed(folder))
        if os.readlink(f"/proc/self/fd/{folder}") == str(src / "d"):
            (src / "d" / "f2").unlink()  # after the listing: the walk's stat of f2 fails
        return iter(entries)

    monkeypatch.setattr(os, "scandir", listing_then_removal)
    with pytest.raises(InvalidPathError) as exc:
        ds.add_files(src)
    assert str(exc.value) == f"{src / 'd' / 'f2'}: no such file or directory"
    assert Dataset.get(dataset_id=ds.id, store=st).list_files() == []


def test_add_files_refuses_a_name_not_utf8_before_staging(tmp_path: Path) -> None:
    """A file name whose bytes are not UTF-8 (Python's surrogate escapes) can be in no manifest:
    add_files refuses it at once, naming it, and the draft is unchanged (it used to be staged,
    and upload or finalize then failed with a UnicodeEncodeError)."""
    src = write_tree(tmp_path / "src", {"ok.txt": "y"})
    with open(os.fsencode(str(src)) + b"/caf\xe9.txt", "wb") as f:
        f.write(b"x")
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    ds = Dataset.create(dataset_name="d", dataset_project="p", store=st)
    for path in (src, os.fsdecode(os.fsencode(str(src)) + b"/caf\xe9.txt")):
        with pytest.raises(InvalidPathError) as exc:
            ds.add_files(path, show_progress=False)
        assert str(exc.value) == "'caf\\udce9.txt': the file name is not valid UTF-8; rename it"
    assert Dataset.get(dataset_id=ds.id, store=st).list_files() == []
    assert ds.add_files(src / "ok.txt", show_progress=False) == 1
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.list_files() == ["ok.txt"]


def test_the_hashing_bar_of_a_walk_has_no_total_until_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk's files are hashed as they are found, so the bar cannot know its total: it counts
    bytes without a percentage (a total grown chunk by chunk read 100 % all along)."""
    src = _tree(tmp_path / "src")
    monkeypatch.setattr(scan_mod, "_CHUNK_FILES", 4)
    bars: list[Callback] = []

    def bar(total: int | None, desc: str, enabled: bool | None = True, unit: str = "B") -> Callback:
        bars.append(Callback(size=total))
        return bars[-1]

    monkeypatch.setattr(scan_mod, "progress_bar", bar)
    files, _found = scan_and_hash(src, None, True, None, None, show_progress=True)
    walk_bar = bars[0]
    assert walk_bar.size is None and walk_bar.value == sum(f.size for f in files) > 0
