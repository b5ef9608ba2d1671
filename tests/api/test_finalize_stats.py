"""The counts a final version records (files, bytes, added, modified, removed): a first
version's are made without a diff against its empty parents, and agree with the diff for
every version, first or not."""

from __future__ import annotations

from pathlib import Path

from dagstore import Dataset, Store
from dagstore.core.state import State
from helpers import write_tree


def _final(st: Store, src: Path, parents: list[Dataset] | None = None) -> Dataset:
    ds = Dataset.create("counts", "p", store=st, parent_datasets=parents)
    if parents:
        ds.sync_folder(src)
    else:
        ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def _diff_counts(st: Store, old: Dataset | None, new: Dataset) -> dict[str, int]:
    state = st.state(new.id)
    d = (st.state(old.id) if old else State()).diff(state)
    return {"files": len(state), "bytes": state.total_size(), "added": len(d.added), "modified": len(d.modified),
            "removed": len(d.removed)}


def test_a_first_version_and_its_children_record_the_diff_s_counts(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"))
    src = write_tree(tmp_path / "src", {"a.txt": "alpha", "b/c.txt": "gamma" * 9, "b/d.bin": "d" * 300})
    first = _final(st, src)
    assert first.record.stats == {"files": 3, "bytes": 5 + 45 + 300, "added": 3, "modified": 0, "removed": 0}
    assert first.record.stats == _diff_counts(st, None, first)
    (src / "a.txt").write_text("ALPHA!")
    (src / "b" / "d.bin").unlink()
    (src / "e.txt").write_text("new")
    child = _final(st, src, [first])
    assert child.record.stats == {"files": 3, "bytes": 6 + 45 + 3, "added": 1, "modified": 1, "removed": 1}
    assert child.record.stats == _diff_counts(st, first, child)


def test_a_version_over_an_empty_parent_counts_every_file_added(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"))
    empty = Dataset.create("counts", "p", store=st)
    empty.finalize()
    src = write_tree(tmp_path / "src", {"x/y.txt": "why", "z.txt": "zed"})
    child = _final(st, src, [empty])
    assert child.record.stats == {"files": 2, "bytes": 6, "added": 2, "modified": 0, "removed": 0}
