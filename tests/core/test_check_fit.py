"""``check_fit``: every refusal of new paths that would make a version impossible to check out,
with its message, whether the clash is with the draft's own files, its parents' or the new
paths themselves (the folders among the new paths are found by set operations, not a call each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore import Dataset, InvalidPathError, Store
from dagstore.core.manifest import Entry
from dagstore.core.ops.stage import check_fit
from dagstore.core.version import Version
from helpers import write_tree

E = Entry("0" * 32, 1)
IS_FOLDER = "'{0}' is a folder, so it cannot also be a file; remove the files under {0}/ first"
IS_FILE = "'{0}' is a file, so it cannot also be a folder; remove it first to put files under {0}/"


def _child(tmp_path: Path, parent_files: dict[str, str]) -> Version:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    parent = Dataset.create("parent", "p", store=st)
    parent.add_files(str(write_tree(tmp_path / "src", parent_files)), show_progress=False)
    parent.finalize(auto_upload=True)
    return Dataset.create("child", "p", parent_datasets=[parent.id], store=st)._v


def _refused(v: Version, paths: list[str]) -> str:
    with pytest.raises(InvalidPathError) as exc:
        check_fit(v, paths)
    return str(exc.value)


def test_a_file_where_the_draft_or_a_parent_has_a_folder_is_refused(tmp_path: Path) -> None:
    v = _child(tmp_path, {"data/x.csv": "1", "data/y.csv": "2", "img/a/b.jpg": "3", "keep.txt": "k"})
    v.draft.delta.entries["new/deep/f.txt"] = E  # type: ignore[union-attr]
    assert _refused(v, ["data"]) == IS_FOLDER.format("data")  # a parent's folder
    assert _refused(v, ["img/a", "zz"]) == IS_FOLDER.format("img/a")
    assert _refused(v, ["new/deep"]) == IS_FOLDER.format("new/deep")  # the draft's folder
    assert _refused(v, ["new/deep", "img/a"]) == IS_FOLDER.format("img/a")  # the first in path order
    v.draft.delta.removed.add("data/x.csv")  # type: ignore[union-attr]
    assert _refused(v, ["data"]) == IS_FOLDER.format("data")  # one of its files is still there
    v.draft.delta.removed.add("data/y.csv")  # type: ignore[union-attr]
    check_fit(v, ["data", "img/b"])  # every parent file under it removed: a file may take its place


def test_a_folder_where_the_draft_a_parent_or_a_new_path_has_a_file_is_refused(tmp_path: Path) -> None:
    v = _child(tmp_path, {"keep.txt": "k", "a/f": "1"})
    v.draft.delta.entries["mine.txt"] = E  # type: ignore[union-attr]
    assert _refused(v, ["keep.txt/x"]) == IS_FILE.format("keep.txt")
    assert _refused(v, ["z/y", "mine.txt/x/y"]) == IS_FILE.format("mine.txt")
    assert _refused(v, ["b/c", "b/c/d", "b", "b/e"]) == IS_FILE.format("b")  # among the new paths, the first named
    assert _refused(v, ["a/f/g"]) == IS_FILE.format("a/f")
    v.draft.delta.removed.add("a/f")  # type: ignore[union-attr]
    check_fit(v, ["a/f/g", "top"])


def test_names_too_long_and_not_utf8_are_refused(tmp_path: Path) -> None:
    v = _child(tmp_path, {"keep.txt": "k"})
    assert "has a name of 256 bytes; the limit is 255" in _refused(v, ["ok", "d/" + "x" * 256])
    assert "bytes long; the limit is 4096" in _refused(v, ["/".join(["d" * 200] * 21)])
    assert _refused(v, ["ok", "caf\udce9"]) == "'caf\\udce9': the file name is not valid UTF-8; rename it"
