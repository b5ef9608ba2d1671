"""File names that are legal on POSIX round-trip, backslashes included (issue #9): the manifest's
separator is '/' alone, so 'a\\b.txt' is one file name, not a folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagstore import Dataset, InvalidPathError
from helpers import read_tree, write_tree

NAMES = {"plain.txt": "p", "back\\slash.txt": "b", "dir\\name/inner.txt": "i", "sub/..\\x.txt": "x", "\\lead.txt": "l"}
DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")


def test_a_folder_with_backslash_names_is_added_stored_and_read_back(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", NAMES)
    ds = Dataset.create("bs", "p")
    assert ds.add_files(src, show_progress=False) == len(NAMES)
    ds.upload(show_progress=False)
    ds.finalize()
    got = Dataset.get(dataset_id=ds.id)
    assert got.list_files() == sorted(NAMES)
    want = {k: v.encode() for k, v in NAMES.items()}
    assert read_tree(got.get_local_copy(show_progress=False)) == want
    assert read_tree(got.get_mutable_local_copy(tmp_path / "copy")) == want
    assert got.read_bytes("back\\slash.txt") == b"b"
    assert got.verify_dataset_hash() == []
    assert not (tmp_path / "copy" / "dir").exists()  # 'dir\\name' is one folder, not dir/name
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "copy" / "x.txt").exists()  # no escape


def test_backslash_names_can_be_removed_and_synced(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", NAMES)
    ds = Dataset.create("bs", "p")
    ds.add_files(src, show_progress=False)
    assert ds.remove_files("back\\slash.txt") == 1
    assert "back\\slash.txt" not in ds.list_files()
    ds.upload(show_progress=False)
    ds.finalize()
    child = Dataset.create("bs", "p", parent_datasets=[ds.id])
    (src / "dir\\name" / "inner.txt").write_text("changed")
    assert child.sync_folder(src, show_progress=False) == (0, 1, 1)  # back\\slash.txt re-added, inner modified
    assert child.list_modified_files() == ["dir\\name/inner.txt"]


def test_the_cli_lists_and_gets_backslash_names(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", NAMES)

    def run(*a: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DAGSTORE, *map(str, a)], capture_output=True, text=True, timeout=120)

    p = run("sync", "--project", "p", "--name", "bs", "--folder", src, "--json")
    assert p.returncode == 0, p.stderr
    vid = json.loads(p.stdout)["id"]
    listed = json.loads(run("list", "--id", vid, "--json").stdout)
    assert sorted(f["path"] for f in listed["files"]) == sorted(NAMES)
    folder = run("get", "--id", vid).stdout.strip()
    assert read_tree(folder) == {k: v.encode() for k, v in NAMES.items()}


def test_a_name_the_target_file_system_cannot_hold_is_refused_naming_the_file(tmp_path: Path) -> None:
    """A dataset path of ~4000 bytes is legal in a dataset but too long under the cache folder
    (PATH_MAX): the same path as a backslash on FAT, a clear error naming the file and no
    leftovers."""
    ext = write_tree(tmp_path / "ext", {"a.txt": "a"})
    deep = "/".join(["d" * 200] * 20)
    ds = Dataset.create("long", "p")
    ds.add_external_files(f"file://{ext}/a.txt", dataset_path=deep)
    ds.finalize()
    with pytest.raises(InvalidPathError, match=f"^{deep}.*: the file system of .* cannot hold this file name"):
        ds.get_local_copy(show_progress=False)
    versions = Path(os.environ["DAGSTORE_CACHE_DIR"]) / "versions"
    assert os.listdir(versions) == []
    with pytest.raises(InvalidPathError, match="cannot hold this file name"):
        ds.get_mutable_local_copy(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
