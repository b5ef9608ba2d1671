"""The ClearML-compatible Dataset API: one behaviour per test, on the local folder store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dagstore import (
    ConflictError,
    Dataset,
    DatasetFinalizedError,
    DatasetNotFoundError,
    DraftError,
    InvalidPathError,
    Store,
)
from helpers import read_tree, write_tree

SAMPLE = {
    "a.txt": "alpha\n",
    "sub/b.bin": bytes(range(256)) * 40,
    "sub/deep/c.csv": "x,y\n1,2\n",
    "img/cat.jpg": os.urandom(3000),
}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src", SAMPLE)


def final(name: str, folder: Path, parents=None, project: str = "proj", **kw) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=parents, **kw)
    ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


# -- create / versions ------------------------------------------------------------------------


def test_first_version_is_1_0_0_and_later_versions_bump(src):
    v1 = final("d", src)
    v2 = final("d", src, parents=[v1])
    v3 = Dataset.create(dataset_name="d", dataset_project="proj")
    assert (v1.version, v2.version, v3.version) == ("1.0.0", "1.0.1", "1.0.2")


def test_explicit_version_is_kept_and_a_taken_one_refused(src):
    v = final("d", src, dataset_version="2.5.0")
    assert v.version == "2.5.0"
    assert Dataset.create(dataset_name="d", dataset_project="proj").version == "2.5.1"
    dup = Dataset.create(dataset_name="d", dataset_project="proj", dataset_version="2.5.0")
    dup.add_files(src)
    with pytest.raises(ConflictError, match="2.5.0 .* already exists"):
        dup.finalize(auto_upload=True)


def test_version_numbers_compare_numerically(src):
    final("d", src, dataset_version="1.0.9")
    final("d", src, dataset_version="1.0.10")
    assert Dataset.get(dataset_project="proj", dataset_name="d").version == "1.0.10"


def test_bad_version_string_is_refused(src):
    with pytest.raises(InvalidPathError, match="dataset_version"):
        Dataset.create(dataset_name="d", dataset_project="p", dataset_version="../1")


def test_draft_parent_is_refused(src):
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    with pytest.raises(DraftError, match="draft"):
        Dataset.create(dataset_name="e", dataset_project="p", parent_datasets=[draft.id])


def test_unknown_parent_is_refused():
    with pytest.raises(DatasetNotFoundError):
        Dataset.create(dataset_name="e", dataset_project="p", parent_datasets=["f" * 32])


def test_project_defaults_to_the_parents(src):
    v1 = final("d", src, project="vision")
    child = Dataset.create(dataset_name="d", parent_datasets=[v1])
    assert child.project == "vision"


# -- get ---------------------------------------------------------------------------------------


def test_get_by_id_and_by_name_returns_the_highest_version(src):
    v1 = final("d", src)
    v2 = final("d", src, parents=[v1])
    assert Dataset.get(dataset_id=v1.id).version == "1.0.0"
    assert Dataset.get(dataset_project="proj", dataset_name="d").id == v2.id
    assert Dataset.get(dataset_name="d").id == v2.id
    assert Dataset.get(dataset_project="proj", dataset_name="d", dataset_version="1.0.0").id == v1.id


def test_get_filters_by_tags_completion_and_publication(src):
    v1 = final("d", src, dataset_tags=["gold"])
    v2 = final("d", src, parents=[v1])
    draft = Dataset.create(dataset_name="d", dataset_project="proj")
    assert Dataset.get(dataset_project="proj", dataset_name="d").id == draft.id
    assert Dataset.get(dataset_project="proj", dataset_name="d", only_completed=True).id == v2.id
    assert Dataset.get(dataset_project="proj", dataset_name="d", dataset_tags=["gold"]).id == v1.id
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_project="proj", dataset_name="d", only_published=True)
    v1.publish()
    assert Dataset.get(dataset_project="proj", dataset_name="d", only_published=True).id == v1.id


def test_get_nothing_raises_a_clear_error():
    with pytest.raises(DatasetNotFoundError, match="no dataset matches proj/missing"):
        Dataset.get(dataset_project="proj", dataset_name="missing")
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id="0" * 32)
    with pytest.raises(DatasetNotFoundError, match="invalid dataset id"):
        Dataset.get(dataset_id="../../etc")


def test_get_auto_create_and_writable_copy(src):
    made = Dataset.get(dataset_project="proj", dataset_name="new", auto_create=True)
    assert not made.is_final() and made.name == "new"
    v1 = final("d", src)
    w = Dataset.get(dataset_id=v1.id, writable_copy=True)
    assert not w.is_final() and w.parents == [v1.id] and w.list_files() == v1.list_files()


def test_draft_persists_across_processes(src, tmp_path):
    import subprocess
    import sys

    d = Dataset.create(dataset_name="d", dataset_project="proj")
    d.add_files(src / "a.txt")
    code = (
        "from dagstore import Dataset; import sys;"
        "d = Dataset.get(dataset_id=sys.argv[1]); d.add_files(sys.argv[2], dataset_path='more');"
        "d.upload(show_progress=False); d.finalize()"
    )
    subprocess.run([sys.executable, "-c", code, d.id, str(src / "sub")], check=True)
    done = Dataset.get(dataset_id=d.id)
    assert done.is_final()
    assert done.list_files() == ["a.txt", "more/b.bin", "more/deep/c.csv"]


# -- add / remove / sync -----------------------------------------------------------------------


def test_add_files_paths_wildcards_and_counts(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    assert d.add_files(src, wildcard="*.csv") == 1
    assert d.add_files(src / "sub", dataset_path="data") == 2
    assert d.add_files(src / "a.txt", dataset_path="/root/x") == 1
    assert d.add_files(src, wildcard=["*.jpg", "a.*"], recursive=True) == 2
    assert d.add_files(src / "a.txt", dataset_path="/root/x") == 0  # unchanged
    assert d.list_files() == ["a.txt", "data/b.bin", "data/deep/c.csv", "img/cat.jpg", "root/x/a.txt", "sub/deep/c.csv"]


def test_add_files_local_base_folder_sets_relative_paths(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(src / "sub" / "deep", local_base_folder=src)
    assert d.list_files() == ["sub/deep/c.csv"]


def test_add_files_non_recursive(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    assert d.add_files(src, recursive=False) == 1
    assert d.list_files() == ["a.txt"]


@pytest.mark.parametrize("bad", ["..", "../x", "a/../../x"])
def test_dataset_path_escaping_the_root_is_refused_and_changes_nothing(src, bad):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(src / "a.txt")
    with pytest.raises(InvalidPathError, match="escapes"):
        d.add_files(src, dataset_path=bad)
    assert Dataset.get(dataset_id=d.id).list_files() == ["a.txt"]


def test_dot_dot_inside_the_root_is_allowed(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(src / "a.txt", dataset_path="x/../y")
    assert d.list_files() == ["y/a.txt"]


def test_missing_path_is_a_clear_error(tmp_path):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    with pytest.raises(InvalidPathError, match="no such file"):
        d.add_files(tmp_path / "nope")


def test_fifo_socket_and_symlink_loop_are_refused_and_change_nothing(src, tmp_path):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(src / "a.txt")
    fifo_dir = write_tree(tmp_path / "fifo", {"ok.txt": "ok"})
    os.mkfifo(fifo_dir / "pipe")
    with pytest.raises(InvalidPathError, match="special file"):
        d.add_files(fifo_dir)
    loop_dir = write_tree(tmp_path / "loop", {"ok.txt": "ok"})
    os.symlink(loop_dir / "l1", loop_dir / "l2")
    os.symlink(loop_dir / "l2", loop_dir / "l1")
    with pytest.raises(InvalidPathError, match="loop"):
        d.add_files(loop_dir)
    dir_loop = write_tree(tmp_path / "dirloop", {"x/ok.txt": "ok"})
    os.symlink(dir_loop, dir_loop / "x" / "up")
    with pytest.raises(InvalidPathError, match="loop"):
        d.add_files(dir_loop)
    assert Dataset.get(dataset_id=d.id).list_files() == ["a.txt"]


def test_unreadable_file_is_refused_and_changes_nothing(src, tmp_path):
    # /proc/self/mem is a regular file whose read fails with EIO, even for root
    bad = write_tree(tmp_path / "bad", {"x.txt": "x"})
    os.symlink("/proc/self/mem", bad / "mem")
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(src / "a.txt")
    with pytest.raises(InvalidPathError, match="cannot read"):
        d.add_files(bad)
    assert Dataset.get(dataset_id=d.id).list_files() == ["a.txt"]


def test_broken_symlink_is_a_clear_error(tmp_path):
    bad = write_tree(tmp_path / "bad", {"x.txt": "x"})
    os.symlink(tmp_path / "gone", bad / "dangling")
    with pytest.raises(InvalidPathError, match="broken symbolic link"):
        Dataset.create(dataset_name="d", dataset_project="p").add_files(bad)


def test_symlinked_files_are_followed(src, tmp_path):
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(src / "a.txt", linked / "a_link.txt")
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(linked)
    d.finalize(auto_upload=True)
    assert read_tree(d.get_local_copy()) == {"a_link.txt": b"alpha\n"}


def test_remove_files_by_path_folder_and_wildcard(src):
    v1 = final("d", src)
    c = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    assert c.remove_files("a.txt") == 1
    assert c.remove_files("sub/deep") == 1
    assert c.remove_files("*.jpg") == 1
    assert c.remove_files("nothing/*") == 0
    assert c.list_files() == ["sub/b.bin"]
    c.finalize()
    assert c.list_removed_files() == ["a.txt", "img/cat.jpg", "sub/deep/c.csv"]


def test_sync_folder_reports_removed_added_modified(src):
    v1 = final("d", src)
    (src / "a.txt").write_text("changed\n")
    (src / "img" / "cat.jpg").unlink()
    (src / "new.txt").write_text("new")
    c = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    assert c.sync_folder(src) == (1, 1, 1)
    c.finalize(auto_upload=True)
    assert (c.list_added_files(), c.list_modified_files(), c.list_removed_files()) == (["new.txt"], ["a.txt"], ["img/cat.jpg"])
    assert read_tree(c.get_local_copy()) == read_tree(src)


def test_sync_folder_into_a_subtree_leaves_the_rest(src, tmp_path):
    v1 = final("d", src)
    other = write_tree(tmp_path / "other", {"z.txt": "z"})
    c = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    assert c.sync_folder(other, dataset_path="sub") == (2, 1, 0)
    assert c.list_files() == ["a.txt", "img/cat.jpg", "sub/z.txt"]


def test_sync_does_not_rehash_unchanged_files(src, monkeypatch):
    import dagstore.core.scan as scan_mod

    v1 = final("d", src)
    os.utime(src / "a.txt", ns=(1, 1))  # old mtimes, so the stat cache may trust them
    for p in src.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(10**18, 10**18))
    Dataset.create(dataset_name="warm", dataset_project="proj").add_files(src)  # fill the stat cache
    hashed: list[str] = []
    real, real_small = scan_mod.hash_file, scan_mod.read_small  # small files are read whole, then hashed
    monkeypatch.setattr(scan_mod, "hash_file", lambda p, *a: hashed.append(p) or real(p, *a))
    monkeypatch.setattr(scan_mod, "read_small", lambda p, *a: hashed.append(p) or real_small(p, *a))
    (src / "a.txt").write_text("changed!")
    c = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    assert c.sync_folder(src) == (0, 0, 1)
    assert hashed == [str(src / "a.txt")]


def test_re_adding_parent_content_is_not_a_change(src):
    v1 = final("d", src)
    c = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    assert c.add_files(src) == 0
    assert c.sync_folder(src) == (0, 0, 0)
    c.finalize()
    assert c.list_added_files() == c.list_modified_files() == c.list_removed_files() == []


# -- multi-parent merge -------------------------------------------------------------------------


def test_multiple_parents_merge_in_order_later_wins(tmp_path):
    a = final("a", write_tree(tmp_path / "a", {"same.txt": "from a", "only_a.txt": "a"}))
    b = final("b", write_tree(tmp_path / "b", {"same.txt": "from b", "only_b.txt": "b"}))
    c = Dataset.create(dataset_name="c", dataset_project="proj", parent_datasets=[a, b.id])
    c.finalize()
    assert read_tree(c.get_local_copy()) == {"same.txt": b"from b", "only_a.txt": b"a", "only_b.txt": b"b"}
    c2 = Dataset.create(dataset_name="c2", dataset_project="proj", parent_datasets=[b, a])
    c2.finalize()
    assert read_tree(c2.get_local_copy())["same.txt"] == b"from a"
    assert c.get_dependency_graph() == {c.id: [a.id, b.id], a.id: [], b.id: []}
    assert c.file_entries_dict["same.txt"].parent_dataset_id == b.id


def test_child_stores_only_its_delta(src):
    v1 = final("d", src)
    (src / "a.txt").write_text("v2")
    c = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    c.sync_folder(src)
    c.finalize(auto_upload=True)
    delta = c.store.delta(c.record)
    assert list(delta.entries) == ["a.txt"] and not delta.removed
    assert c.record.stats == {"files": 4, "bytes": sum(len(v) if isinstance(v, bytes) else len(v.encode()) for v in {**SAMPLE, "a.txt": "v2"}.values()), "added": 0, "modified": 1, "removed": 0}


# -- finalize / immutability -------------------------------------------------------------------


def test_finalize_requires_upload_unless_auto_upload(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.add_files(src)
    assert d.is_dirty()
    with pytest.raises(DraftError, match="not uploaded"):
        d.finalize()
    assert d.finalize(raise_on_error=False) is False
    assert d.finalize(auto_upload=True) is True
    assert d.is_final() and not d.is_dirty()


def test_final_versions_refuse_mutation(src):
    v = final("d", src)
    for call in (lambda: v.add_files(src), lambda: v.remove_files("a.txt"), lambda: v.sync_folder(src),
                 lambda: v.upload(), lambda: v.finalize(), lambda: v.set_metadata({"a": 1})):
        with pytest.raises(DatasetFinalizedError, match="finalized"):
            call()
    assert Dataset.get(dataset_id=v.id).list_files() == sorted(SAMPLE)


def test_get_local_copy_of_a_draft_is_refused(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    with pytest.raises(DraftError):
        d.get_local_copy()


# -- local copies ------------------------------------------------------------------------------


def test_get_local_copy_is_complete_byte_identical_and_read_only(src):
    v = final("d", src)
    folder = Dataset.get(dataset_id=v.id).get_local_copy()
    assert read_tree(folder) == read_tree(src)
    for dirpath, dirs, files in os.walk(folder):
        for name in [*files, *dirs, "."]:
            mode = os.stat(os.path.join(dirpath, name)).st_mode
            assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), name


def test_second_get_local_copy_does_no_per_file_work(src, monkeypatch):
    v = final("d", src)
    first = Dataset.get(dataset_id=v.id).get_local_copy()
    import dagstore.core.cache as cache_mod

    monkeypatch.setattr(cache_mod.Cache, "materialize", lambda *a, **k: pytest.fail("rebuilt"))
    monkeypatch.setattr(Store, "state", lambda *a, **k: pytest.fail("loaded the manifest"))
    assert Dataset.get(dataset_id=v.id).get_local_copy() == first


def test_parts_partition_the_files_deterministically(tmp_path):
    files = {f"f{i:03d}.txt": f"{i}" for i in range(50)}
    v = final("d", write_tree(tmp_path / "s", files))
    parts = [set(read_tree(v.get_local_copy(part=k, num_parts=3))) for k in range(3)]
    assert set().union(*parts) == set(files)
    assert sum(map(len, parts)) == 50
    again = set(read_tree(Dataset.get(dataset_id=v.id).get_local_copy(part=1, num_parts=3)))
    assert again == parts[1]
    with pytest.raises(InvalidPathError, match="part"):
        v.get_local_copy(part=3, num_parts=3)


def test_files_subset_by_path_and_glob(src):
    v = final("d", src)
    assert set(read_tree(v.get_local_copy(files=["a.txt"]))) == {"a.txt"}
    assert set(read_tree(v.get_local_copy(files="sub/**"))) == {"sub/b.bin", "sub/deep/c.csv"}
    assert set(read_tree(v.get_local_copy(files=["**/*.csv", "img/*"]))) == {"sub/deep/c.csv", "img/cat.jpg"}


def test_mutable_copy_is_a_real_writable_copy(src, tmp_path):
    v = final("d", src)
    target = v.get_mutable_local_copy(tmp_path / "mut")
    assert read_tree(target) == read_tree(src)
    cached = v.get_local_copy()
    a_mut, a_cache = os.stat(Path(target) / "a.txt"), os.stat(Path(cached) / "a.txt")
    assert a_mut.st_ino != a_cache.st_ino
    (Path(target) / "a.txt").write_text("mine")
    assert (Path(cached) / "a.txt").read_text() == "alpha\n"


def test_mutable_copy_refuses_non_empty_target_unless_overwrite(src, tmp_path):
    v = final("d", src)
    target = write_tree(tmp_path / "t", {"keep.txt": "precious"})
    with pytest.raises(InvalidPathError, match="not empty"):
        v.get_mutable_local_copy(target)
    assert (target / "keep.txt").read_text() == "precious"
    v.get_mutable_local_copy(target, overwrite=True)
    assert read_tree(target) == read_tree(src)


def test_mutable_copy_never_follows_a_symlinked_target(src, tmp_path):
    v = final("d", src)
    precious = write_tree(tmp_path / "precious", {"keep.txt": "keep"})
    os.symlink(precious, tmp_path / "link")
    with pytest.raises(InvalidPathError, match="symbolic link"):
        v.get_mutable_local_copy(tmp_path / "link", overwrite=True)
    assert read_tree(precious) == {"keep.txt": b"keep"}


def test_verify_dataset_hash_finds_same_size_corruption(src, tmp_path):
    v = final("d", src)
    copy = Path(v.get_mutable_local_copy(tmp_path / "m"))
    assert v.verify_dataset_hash(str(copy)) == []
    data = bytearray((copy / "sub/b.bin").read_bytes())
    data[100] ^= 1
    (copy / "sub/b.bin").write_bytes(bytes(data))
    (copy / "a.txt").unlink()
    assert v.verify_dataset_hash(str(copy)) == ["a.txt", "sub/b.bin"]
    assert v.verify_dataset_hash(str(copy), skip_hash=True) == ["a.txt"]


# -- squash ------------------------------------------------------------------------------------


def test_squash_of_a_chain_equals_its_last_version(src):
    v1 = final("d", src)
    (src / "a.txt").write_text("two")
    (src / "img/cat.jpg").unlink()
    v2 = Dataset.create(dataset_name="d", dataset_project="proj", parent_datasets=[v1])
    v2.sync_folder(src)
    v2.finalize(auto_upload=True)
    sq = Dataset.squash("flat", dataset_ids=[v1.id, v2.id])
    assert sq.is_final() and sq.parents == []
    assert read_tree(sq.get_local_copy()) == read_tree(v2.get_local_copy())


def test_squash_applies_each_inputs_own_changes_in_order(tmp_path):
    base = final("base", write_tree(tmp_path / "b", {"x.txt": "x0", "y.txt": "y0"}))
    a = Dataset.create(dataset_name="a", dataset_project="proj", parent_datasets=[base])
    a.remove_files("y.txt")
    a.finalize()
    other = final("other", write_tree(tmp_path / "o", {"y.txt": "y1", "z.txt": "z"}))
    sq = Dataset.squash("sq", dataset_project_name_pairs=[("proj", "base"), ("proj", "other"), ("proj", "a")])
    assert read_tree(sq.get_local_copy()) == {"x.txt": b"x0", "z.txt": b"z"}
    sq2 = Dataset.squash("sq2", dataset_ids=[base, a, other])
    assert read_tree(sq2.get_local_copy()) == {"x.txt": b"x0", "y.txt": b"y1", "z.txt": b"z"}


# -- delete / rename / move / list ----------------------------------------------------------------


def test_delete_refuses_while_children_depend_unless_forced(src):
    v1 = final("d", src)
    v2 = final("d", src, parents=[v1])
    with pytest.raises(ConflictError, match="parent of"):
        Dataset.delete(dataset_id=v1.id)
    assert Dataset.get(dataset_id=v1.id)
    Dataset.delete(dataset_id=v2.id)
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=v2.id)
    Dataset.delete(dataset_id=v1.id)
    assert Dataset.list_datasets() == []


def test_delete_entire_dataset(src):
    v1 = final("d", src)
    final("d", src, parents=[v1])
    final("keep", src)
    assert Dataset.delete(dataset_project="proj", dataset_name="d", entire_dataset=True, force=True) == 2
    assert [d["name"] for d in Dataset.list_datasets()] == ["keep"]


def test_rename_and_move_keep_ids_and_versions(src):
    v1 = final("d", src)
    v2 = final("d", src, parents=[v1])
    Dataset.rename("renamed", dataset_project="proj", dataset_name="d")
    assert Dataset.get(dataset_project="proj", dataset_name="renamed").id == v2.id
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_project="proj", dataset_name="d")
    Dataset.move_to_project("elsewhere", dataset_project="proj", dataset_name="renamed")
    got = Dataset.get(dataset_project="elsewhere", dataset_name="renamed", dataset_version="1.0.0")
    assert got.id == v1.id and got.project == "elsewhere"
    assert Dataset.create(dataset_name="renamed", dataset_project="elsewhere").version == "1.0.2"


def test_list_datasets_filters(src):
    a = final("cats", src, project="vision", dataset_tags=["t1"])
    final("dogs", src, project="vision/sub")
    final("text", src, project="nlp")
    Dataset.create(dataset_name="draft", dataset_project="vision")

    def names(**kw):
        return sorted(d["name"] for d in Dataset.list_datasets(**kw))

    assert names(dataset_project="vision") == ["cats", "dogs"]
    assert names(dataset_project="vision", recursive_project_search=False) == ["cats"]
    assert names(partial_name="og") == ["dogs"]
    assert names(tags=["t1"]) == ["cats"]
    assert names(ids=[a.id]) == ["cats"]
    assert "draft" in names(only_completed=False)


# -- metadata, tags, entries ---------------------------------------------------------------------


def test_metadata_round_trips_and_must_be_json(src):
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.set_metadata({"classes": ["cat", "dog"], "n": 2})
    d.set_metadata([1, 2, 3], metadata_name="other")
    with pytest.raises(InvalidPathError, match="JSON"):
        d.set_metadata(object())
    d.finalize()
    got = Dataset.get(dataset_id=d.id)
    assert got.get_metadata() == {"classes": ["cat", "dog"], "n": 2}
    assert got.get_metadata("other") == [1, 2, 3] and got.get_metadata("none") is None


def test_metadata_dataframe_round_trips(src):
    import pandas as pd

    df = pd.DataFrame({"label": ["cat", "dog"], "count": [3, 4]})
    d = Dataset.create(dataset_name="d", dataset_project="p")
    d.set_metadata(df)
    d.finalize()
    assert Dataset.get(dataset_id=d.id).get_metadata().equals(df)


def test_tags_on_drafts_and_final_versions(src):
    d = Dataset.create(dataset_name="d", dataset_project="p", dataset_tags=["a"])
    d.add_tags(["b"])
    d.finalize()
    d.add_tags("c")
    assert Dataset.get(dataset_id=d.id).tags == ["a", "b", "c"]


def test_file_and_link_entries(src):
    v = Dataset.create(dataset_name="d", dataset_project="p")
    v.add_files(src / "a.txt")
    assert v.add_external_files(f"file://{src / 'sub'}", dataset_path="ext") == 2
    v.finalize(auto_upload=True)
    files, links = v.file_entries_dict, v.link_entries_dict
    assert list(files) == ["a.txt"] and files["a.txt"].size == 6 and files["a.txt"].parent_dataset_id == v.id
    assert sorted(links) == ["ext/b.bin", "ext/deep/c.csv"]
    assert links["ext/b.bin"].link.endswith("sub/b.bin")
    assert read_tree(v.get_local_copy())["ext/deep/c.csv"] == b"x,y\n1,2\n"


def test_num_chunks_counts_packs_and_large_objects(tmp_path):
    big = os.urandom(5 << 20)
    v = final("d", write_tree(tmp_path / "s", {"small.txt": "s", "big.bin": big}))
    assert v.get_num_chunks() == 2


def test_diff_between_any_two_versions(tmp_path):
    a = final("a", write_tree(tmp_path / "a", {"x": "1", "y": "2"}))
    b = final("b", write_tree(tmp_path / "b", {"y": "3", "z": "4"}))
    d = b.diff(a)
    assert (d.added, d.removed, d.modified) == (["z"], ["x"], ["y"])
    assert b.store.diff(a.id, b.id) == d
