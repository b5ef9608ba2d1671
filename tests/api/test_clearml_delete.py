"""Deletes remove exactly what was asked for, as ClearML's do (issue #9).

Every delete here runs in a real separate process (the `dagstore` command, or a Python child
through tests/servers/children.py); afterwards the store must still hold, byte for byte, every version
that was not asked to be deleted, and `verify` must find nothing wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagstore import ConflictError, Dataset, DatasetNotFoundError, InvalidPathError, Store
from helpers import read_tree, write_tree
from servers import Children

DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")
FILES = {"a.txt": "alpha\n", "b/c.csv": "x,y\n1,2\n"}


def run_cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    assert DAGSTORE, "the dagstore console script is not installed"
    p = subprocess.run([DAGSTORE, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == code, f"dagstore {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def version(tmp: Path, name: str, files: dict[str, str], project: str = "p", parents: list[str] | None = None,
            ver: str | None = None) -> Dataset:
    src = write_tree(tmp / f"src-{name}-{len(list(tmp.iterdir()))}", files)
    ds = Dataset.create(name, project, parent_datasets=parents, dataset_version=ver)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def contents(ds_id: str) -> dict[str, bytes]:
    return read_tree(Dataset.get(dataset_id=ds_id).get_local_copy(show_progress=False))


def ids_of(project: str, name: str) -> list[str]:
    return sorted(d["id"] for d in Dataset.list_datasets(dataset_project=project, only_completed=False)
                  if d["name"] == name)


@pytest.fixture
def three(tmp_path: Path) -> list[Dataset]:
    """Three versions of p/d (1.0.0 <- 1.0.1, and an unrelated 2.0.0) plus p/other."""
    v1 = version(tmp_path, "d", FILES)
    v2 = version(tmp_path, "d", {**FILES, "a.txt": "ALPHA\n"}, parents=[v1.id])
    v3 = version(tmp_path, "d", {"z.txt": "zulu\n"}, ver="2.0.0")
    version(tmp_path, "other", {"o.txt": "other\n"})
    return [v1, v2, v3]


def assert_store_intact(expected: dict[str, dict[str, bytes]]) -> None:
    """Every listed version is still there with exactly its content, from a cold cache."""
    st = Store.default()
    assert st.verify() == []
    shutil.rmtree(st.cache.root / "versions", ignore_errors=True)
    for vid, files in expected.items():
        assert contents(vid) == files


def snapshot(ds: list[Dataset]) -> dict[str, dict[str, bytes]]:
    return {d.id: contents(d.id) for d in ds}


# -- several versions match: refuse, delete nothing ----------------------------------------------


def test_cli_delete_by_name_with_several_versions_refuses_and_deletes_nothing(three: list[Dataset]) -> None:
    before = snapshot(three)
    p = run_cli("delete", "--project", "p", "--name", "d", code=1)
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]  # one line
    assert "Multiple datasets found" in p.stderr and "--version" in p.stderr
    assert ids_of("p", "d") == sorted(d.id for d in three)
    assert_store_intact(before)


def test_python_delete_by_name_in_another_process_refuses_and_deletes_nothing(three: list[Dataset], tmp_path: Path) -> None:
    before = snapshot(three)
    kids = Children(tmp_path, {})
    try:
        child = kids.start("deleter", """
            try:
                Dataset.delete(dataset_project="p", dataset_name="d")
                emit({"raised": None})
            except Exception as exc:
                emit({"raised": type(exc).__name__, "message": str(exc)})
        """)
        res = child.result()
    finally:
        kids.close()
    assert res["raised"] == "ConflictError"
    assert res["message"].startswith("Multiple datasets found")
    assert ids_of("p", "d") == sorted(d.id for d in three)
    assert_store_intact(before)


def test_cli_delete_of_an_id_given_as_project_name_never_picks_the_highest(three: list[Dataset]) -> None:
    before = snapshot(three)
    assert "Multiple datasets found" in run_cli("delete", "--id", "p/d", code=1).stderr
    run_cli("delete", "--id", "p/d@2.0.0")
    assert ids_of("p", "d") == sorted(d.id for d in three[:2])
    assert_store_intact({k: v for k, v in before.items() if k != three[2].id})


def test_delete_by_name_and_version_deletes_only_that_version(three: list[Dataset]) -> None:
    v1, v2, v3 = three
    before = snapshot([v1, v2])
    out = run_cli("delete", "--project", "p", "--name", "d", "--version", "2.0.0", "--json")
    assert json.loads(out.stdout)["deleted"] == 1
    assert ids_of("p", "d") == sorted([v1.id, v2.id])
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=v3.id)
    assert_store_intact(before)


def test_delete_by_name_of_a_single_version_dataset_deletes_it(three: list[Dataset]) -> None:
    before = snapshot(three)
    run_cli("delete", "--project", "p", "--name", "other")
    assert ids_of("p", "other") == []
    assert_store_intact(before)


def test_several_drafts_and_finals_of_one_name_count_as_several(tmp_path: Path) -> None:
    v1 = version(tmp_path, "solo", FILES)
    draft = Dataset.create("solo", "p", parent_datasets=[v1.id])
    with pytest.raises(ConflictError, match="Multiple datasets found"):
        Dataset.delete(dataset_project="p", dataset_name="solo")
    assert Dataset.get(dataset_id=draft.id).id == draft.id and Dataset.get(dataset_id=v1.id).is_final()


# -- entire_dataset needs force ---------------------------------------------------------------


def test_cli_entire_dataset_without_force_refuses_and_deletes_nothing(three: list[Dataset]) -> None:
    before = snapshot(three)
    p = run_cli("delete", "--project", "p", "--name", "d", "--entire-dataset", code=1)
    assert "Can only delete entire dataset if force is True" in p.stderr
    assert ids_of("p", "d") == sorted(d.id for d in three)
    assert_store_intact(before)


def test_python_entire_dataset_without_force_refuses(three: list[Dataset]) -> None:
    with pytest.raises(InvalidPathError, match="Can only delete entire dataset if force is True"):
        Dataset.delete(dataset_project="p", dataset_name="d", entire_dataset=True)
    assert ids_of("p", "d") == sorted(d.id for d in three)


def test_entire_dataset_with_force_deletes_every_version_of_that_dataset_only(three: list[Dataset], tmp_path: Path) -> None:
    other = Dataset.get(dataset_project="p", dataset_name="other")
    before = snapshot([other])
    kids = Children(tmp_path, {})
    try:
        res = kids.start("deleter", """
            emit({"n": Dataset.delete(dataset_project="p", dataset_name="d", entire_dataset=True, force=True)})
        """).result()
    finally:
        kids.close()
    assert res == {"n": 3}
    assert ids_of("p", "d") == []
    assert_store_intact(before)


# -- delete_files / delete_external_files: honoured, never swallowed ----------------------------


def test_unknown_delete_parameters_are_a_type_error_not_ignored(three: list[Dataset]) -> None:
    with pytest.raises(TypeError):
        Dataset.delete(dataset_id=three[2].id, delete_everything_else=True)  # type: ignore[call-arg]
    assert Dataset.get(dataset_id=three[2].id).is_final()


def test_delete_files_false_keeps_the_content_for_a_later_gc(three: list[Dataset]) -> None:
    v3 = three[2]
    st = Store.default()
    Dataset.delete(dataset_id=v3.id, delete_files=False)
    assert st.gc_marks() == set()  # nothing marked: the content stays until a later gc decides
    report = st.gc(dry_run=True, min_age_seconds=0)
    assert report.packs  # v3's pack is unreferenced now, and still stored
    assert_store_intact(snapshot(three[:2]))


def test_delete_files_true_marks_only_content_no_other_version_uses(three: list[Dataset]) -> None:
    v1, v2, v3 = three
    st = Store.default()
    keep = {k for r in st.records() if r.id != v3.id
            for k in (r.manifest, *(f"packs/{p}" for p in r.packs), *(f"objects/{o}" for o in r.objects))}
    Dataset.delete(dataset_id=v3.id)  # delete_files=True is the default, as in ClearML
    marked = st.gc_marks()
    assert marked and all(k.startswith(("packs/", "objects/", "manifests/")) for k in marked)
    assert not marked & keep
    st.gc(min_age_seconds=0)
    assert_store_intact(snapshot([v1, v2]))


def test_delete_external_files_removes_link_targets_only_of_the_deleted_version(tmp_path: Path) -> None:
    ext = write_tree(tmp_path / "ext", {"mine.bin": "mine", "shared.bin": "shared"})
    a = Dataset.create("links", "p")
    a.add_external_files([f"file://{ext}/mine.bin"])
    a.finalize()
    b = Dataset.create("keep", "p")
    b.add_external_files([f"file://{ext}/shared.bin"])
    b.finalize()
    Dataset.delete(dataset_id=a.id, delete_external_files=True)
    assert not (ext / "mine.bin").exists()
    assert (ext / "shared.bin").read_text() == "shared"
    assert read_tree(Dataset.get(dataset_id=b.id).get_local_copy(show_progress=False)) == {"shared.bin": b"shared"}


def test_delete_external_files_keeps_targets_another_version_still_links(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ext = write_tree(tmp_path / "ext", {"shared.bin": "shared", "mine.bin": "mine"})
    a = Dataset.create("links", "p")
    a.add_external_files([f"file://{ext}/shared.bin", f"file://{ext}/mine.bin"])
    a.finalize()
    b = Dataset.create("keep", "p")
    b.add_external_files([f"file://{ext}/shared.bin"])
    b.finalize()
    with caplog.at_level("WARNING", logger="dagstore"):
        Dataset.delete(dataset_id=a.id, delete_external_files=True)
    assert (ext / "shared.bin").read_text() == "shared" and not (ext / "mine.bin").exists()
    assert "shared.bin" in caplog.text
    assert read_tree(Dataset.get(dataset_id=b.id).get_local_copy(show_progress=False)) == {"shared.bin": b"shared"}


def test_cli_keep_files_and_delete_external_files(tmp_path: Path) -> None:
    ext = write_tree(tmp_path / "ext", {"mine.bin": "mine"})
    a = Dataset.create("links", "p")
    a.add_external_files([f"file://{ext}/mine.bin"])
    a.add_files(write_tree(tmp_path / "own", {"own.txt": "own"}), show_progress=False)
    a.upload(show_progress=False)
    a.finalize()
    run_cli("delete", "--id", a.id, "--keep-files", "--delete-external-files")
    assert not (ext / "mine.bin").exists()
    assert Store.default().gc_marks() == set()


def test_delete_external_files_default_false_leaves_link_targets(tmp_path: Path) -> None:
    ext = write_tree(tmp_path / "ext", {"mine.bin": "mine"})
    a = Dataset.create("links", "p")
    a.add_external_files([f"file://{ext}/mine.bin"])
    a.finalize()
    run_cli("delete", "--id", a.id)
    assert (ext / "mine.bin").read_text() == "mine"


def test_a_parent_is_still_refused_without_force_in_another_process(three: list[Dataset]) -> None:
    v1, v2, _ = three
    before = snapshot(three)
    p = run_cli("delete", "--id", v1.id, code=1)
    assert f"is a parent of {v2.id}" in p.stderr
    assert_store_intact(before)
