"""The command line as `clearml-data` users type it (issue #9): each test runs the installed
`dagstore` in real processes, one process per command, as a shell script would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from helpers import read_tree, write_tree

DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")


def dag(*args: Any, code: int = 0) -> subprocess.CompletedProcess[str]:
    assert DAGSTORE, "the dagstore console script is not installed"
    p = subprocess.run([DAGSTORE, *map(str, args)], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == code, f"dagstore {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def last_id(p: subprocess.CompletedProcess[str]) -> str:
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("id: "), p.stdout
    return line[4:]


def error_line(p: subprocess.CompletedProcess[str]) -> str:
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagstore: error: "), p.stderr
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "data", {"a.txt": "alpha\n", "sub/b.csv": "x,y\n"})


# -- unique prefixes of long options ---------------------------------------------------------------


def test_unique_prefixes_of_long_options_work_as_with_argparse(folder: Path) -> None:
    base = last_id(dag("create", "--proj", "p", "--na", "base"))
    dag("add", "--fil", folder)
    dag("close")
    child = last_id(dag("create", "--proj", "p", "--name", "child", "--parent", base, "--ta", "t1", "t2"))
    ds = Dataset.get(dataset_id=child)
    assert (ds.project, ds.name, ds.parents, ds.tags) == ("p", "child", [base], ["t1", "t2"])
    out = json.loads(dag("list", "--id", base, "--filt", "sub/*", "--json").stdout)
    assert [f["path"] for f in out["files"]] == ["sub/b.csv"]
    assert dag("list", "--id=" + base[:8], "--filter=a.txt").stdout.splitlines()[0].endswith("a.txt")


def test_an_ambiguous_prefix_is_a_clear_usage_error_listing_the_candidates() -> None:
    p = dag("create", "--name", "x", "--p", "y", code=2)
    line = error_line(p)
    assert "--p is ambiguous" in line and "--parents" in line and "--project" in line
    assert Store.default().drafts() == []  # nothing created


def test_an_unknown_option_is_still_refused() -> None:
    line = error_line(dag("create", "--name", "x", "--colour", "red", code=2))
    assert "--colour" in line


# -- --chunk-size -1 ---------------------------------------------------------------------------


def test_chunk_size_minus_one_uploads_one_chunk(folder: Path, tmp_path: Path) -> None:
    many = write_tree(tmp_path / "many", {f"f{i}.bin": os.urandom(2048) for i in range(40)})
    vid = last_id(dag("create", "--project", "p", "--name", "one"))
    dag("add", "--files", many)
    dag("close", "--chunk-size", "-1")
    assert Dataset.get(dataset_id=vid).get_num_chunks() == 1
    dag("sync", "--project", "p", "--name", "two", "--folder", many, "--chunk-size", "-1")
    assert Dataset.get(dataset_project="p", dataset_name="two").get_num_chunks() == 1
    line = error_line(dag("upload", "--chunk-size", "0", code=2))
    assert "chunk-size" in line


# -- sync ------------------------------------------------------------------------------------


def test_sync_output_uri_is_the_old_spelling_of_storage(folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "content"
    vid = last_id(dag("sync", "--project", "p", "--name", "s", "--folder", folder, "--output-uri", elsewhere))
    ds = Dataset.get(dataset_id=vid)
    assert ds.get_default_storage() == str(elsewhere) and any(elsewhere.rglob("*"))
    assert read_tree(ds.get_local_copy(show_progress=False)) == read_tree(folder)


def test_sync_parents_makes_the_new_version_a_child_of_those_parents(folder: Path, tmp_path: Path) -> None:
    labels = last_id(dag("sync", "--project", "p", "--name", "labels", "--folder",
                         write_tree(tmp_path / "l", {"labels.json": "{}"})))
    images = last_id(dag("sync", "--project", "p", "--name", "images", "--folder", folder))
    merged = write_tree(tmp_path / "m", {**{k: v.decode() for k, v in read_tree(folder).items()}, "labels.json": "{}", "new.txt": "n"})
    vid = last_id(dag("sync", "--project", "p", "--name", "all", "--folder", merged, "--parents", images, labels))
    ds = Dataset.get(dataset_id=vid)
    assert ds.parents == [images, labels]
    assert ds.list_added_files() == ["new.txt"] and ds.list_removed_files() == []


def test_create_then_sync_in_a_later_process_uses_the_remembered_draft(folder: Path) -> None:
    vid = last_id(dag("create", "--project", "p", "--name", "later"))
    p = dag("sync", "--folder", folder)
    assert last_id(p) == vid and "using dataset" in p.stderr
    ds = Dataset.get(dataset_id=vid)
    assert ds.is_final() and read_tree(ds.get_local_copy(show_progress=False)) == read_tree(folder)
    assert "no draft remembered" in error_line(dag("sync", "--folder", folder, code=2))  # close forgot it


# -- set-description ------------------------------------------------------------------------------


def test_set_description_on_a_draft_and_on_a_final_version(folder: Path) -> None:
    vid = last_id(dag("create", "--project", "p", "--name", "desc"))
    dag("set-description", "--id", vid, "--description", "draft text")
    assert Dataset.get(dataset_id=vid).description == "draft text"
    dag("add", "--files", folder)
    dag("close")
    before = read_tree(Dataset.get(dataset_id=vid).get_local_copy(show_progress=False))
    out = json.loads(dag("set-description", "--id", vid[:8], "--description", "final text", "--json").stdout)
    assert out["id"] == vid and out["description"] == "final text"
    got = Dataset.get(dataset_id=vid)
    assert got.description == "final text" and read_tree(got.get_local_copy(show_progress=False)) == before
    assert "--description" in error_line(dag("set-description", "--id", vid, code=2))
