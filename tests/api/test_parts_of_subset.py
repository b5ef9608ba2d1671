"""``get_local_copy(files=..., part=, num_parts=)``: the shards are of the matching files, so
every worker of a job that wants one folder gets its share of that folder (docs/cli.md, `get`)."""

from __future__ import annotations

from pathlib import Path

from dagstore import Dataset
from helpers import read_tree, write_tree


def test_parts_split_the_matching_files_not_the_whole_version(tmp_path: Path) -> None:
    files = {f"a-root/{i:02d}.txt": f"r{i}" for i in range(30)} | {f"train/{i:02d}.jpg": f"t{i}" for i in range(8)}
    ds = Dataset.create(dataset_name="d", dataset_project="p")
    ds.add_files(write_tree(tmp_path / "src", files))
    ds.upload(show_progress=False)
    ds.finalize()
    folders = [ds.get_local_copy(files=["train/*.jpg"], part=k, num_parts=4, show_progress=False) for k in range(4)]
    # the shard comes last in the cache key: a folder cached under the earlier key (a shard of
    # the whole version, then filtered) is never taken for one of these
    assert [Path(f).name.rsplit("-", 1)[1] for f in folders] == ["p0of4", "p1of4", "p2of4", "p3of4"]
    parts = [set(read_tree(f)) for f in folders]
    assert [len(p) for p in parts] == [2, 2, 2, 2]
    assert set().union(*parts) == {p for p in files if p.startswith("train/")}
    copy = ds.get_mutable_local_copy(tmp_path / "mine", files="train/*.jpg", part=3, num_parts=4, show_progress=False)
    assert set(read_tree(copy)) == parts[3]
