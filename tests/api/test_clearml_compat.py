"""ClearML behaviours and members real client code relies on (issue #9), through the public API."""

from __future__ import annotations

import inspect
from datetime import datetime
from pathlib import Path

import pytest

from dagstore import Dataset, DatasetFinalizedError, DraftError, FileEntry, LinkEntry, Store
from helpers import read_tree, write_tree


def final(tmp: Path, name: str, files: dict[str, str], parents: list[str] | None = None, tags: list[str] | None = None,
          project: str = "p", remove: list[str] | None = None) -> Dataset:
    ds = Dataset.create(name, project, parent_datasets=parents, dataset_tags=tags)
    if files:
        ds.add_files(write_tree(tmp / f"s{len(list(tmp.iterdir()))}", files), show_progress=False)
    for r in remove or []:
        ds.remove_files(r)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


# -- squash ------------------------------------------------------------------------------------


def test_squash_of_a_single_version_gives_its_whole_content_without_parents(tmp_path: Path) -> None:
    v1 = final(tmp_path, "d", {"a.txt": "a", "b.txt": "b"})
    v2 = final(tmp_path, "d", {"c.txt": "c"}, parents=[v1.id], remove=["b.txt"])
    flat = Dataset.squash("flat", dataset_ids=[v2.id])
    assert flat.parents == [] and flat.is_final()
    assert read_tree(flat.get_local_copy(show_progress=False)) == {"a.txt": b"a", "c.txt": b"c"}
    assert flat.list_files(dataset_id=flat.id) == ["a.txt", "c.txt"]  # all its own now


def test_squash_of_a_single_version_by_project_name_pair(tmp_path: Path) -> None:
    v1 = final(tmp_path, "d", {"a.txt": "a"})
    final(tmp_path, "d", {"c.txt": "c"}, parents=[v1.id])
    flat = Dataset.squash("flat", dataset_project_name_pairs=[("p", "d")])
    assert read_tree(flat.get_local_copy(show_progress=False)) == {"a.txt": b"a", "c.txt": b"c"}


def test_squash_of_several_versions_still_applies_each_ones_own_changes(tmp_path: Path) -> None:
    v1 = final(tmp_path, "d", {"a.txt": "a", "b.txt": "b"})
    v2 = final(tmp_path, "d", {"c.txt": "c"}, parents=[v1.id], remove=["b.txt"])
    other = final(tmp_path, "o", {"z.txt": "z"})
    flat = Dataset.squash("flat", dataset_ids=[v2.id, other.id])
    assert read_tree(flat.get_local_copy(show_progress=False)) == {"c.txt": b"c", "z.txt": b"z"}


# -- get ---------------------------------------------------------------------------------------


def test_get_by_tags_alone_returns_the_highest_version_carrying_them(tmp_path: Path) -> None:
    final(tmp_path, "d", {"a.txt": "1"}, tags=["gold"])
    v2 = final(tmp_path, "d", {"a.txt": "2"}, tags=["gold", "x"])
    final(tmp_path, "d", {"a.txt": "3"}, tags=["silver"])
    assert Dataset.get(dataset_tags=["gold"]).id == v2.id
    assert Dataset.get(dataset_tags="gold").id == v2.id  # a single tag as a string, as in ClearML's docs
    with pytest.raises(Exception, match="no dataset matches"):
        Dataset.get(dataset_tags=["bronze"])


def test_get_with_nothing_to_select_by_is_refused() -> None:
    with pytest.raises(Exception, match="dataset_id"):
        Dataset.get()


def test_get_accepts_clearml_search_parameters(tmp_path: Path) -> None:
    v1 = final(tmp_path, "d", {"a.txt": "1"})
    got = Dataset.get(dataset_project="p", dataset_name="d", include_archived=True, overridable=True,
                      shallow_search=True, alias="train")
    assert got.id == v1.id
    with pytest.raises(TypeError):
        Dataset.get(dataset_project="p", dataset_name="d", no_such_parameter=1)  # type: ignore[call-arg]


def test_remove_files_removes_links_by_their_url_as_in_clearml(tmp_path: Path) -> None:
    ext = write_tree(tmp_path / "ext", {"x/l1.bin": "1", "x/l2.bin": "2", "y.bin": "y"})
    ds = Dataset.create("d", "p")
    ds.add_external_files(f"file://{ext}/", dataset_path="links")
    assert ds.remove_files(f"file://{ext}/x/l1.bin") == 1
    assert ds.remove_files(f"file://{ext}/x") == 1  # a folder of links, recursively
    assert ds.list_files() == ["links/y.bin"]


def test_errors_clearml_raises_as_value_error_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Dataset.get(dataset_project="nowhere", dataset_name="nothing")
    final(tmp_path, "d", {"a.txt": "1"})
    final(tmp_path, "d", {"a.txt": "2"})
    with pytest.raises(ValueError, match="Multiple datasets found"):
        Dataset.delete(dataset_project="p", dataset_name="d")
    draft = Dataset.create("d", "p")
    draft.add_files(write_tree(tmp_path / "pending", {"x.txt": "x"}), show_progress=False)
    with pytest.raises(ValueError):
        draft.finalize()


# -- list_files / list_datasets ----------------------------------------------------------------


def test_list_files_with_dataset_id_lists_only_files_that_version_introduced(tmp_path: Path) -> None:
    v1 = final(tmp_path, "d", {"a.txt": "a", "b.txt": "b"})
    v2 = final(tmp_path, "d", {"b.txt": "B", "c.txt": "c"}, parents=[v1.id])
    assert v2.list_files(dataset_id=v2.id) == ["b.txt", "c.txt"]
    assert v2.list_files(dataset_id=v1.id) == ["a.txt"]
    assert v2.list_files() == ["a.txt", "b.txt", "c.txt"]
    assert v2.list_files("*.txt", dataset_id=v1.id) == ["a.txt"]
    draft = Dataset.create("d", "p", parent_datasets=[v2.id])
    draft.add_files(write_tree(tmp_path / "dd", {"n.txt": "n"}), show_progress=False)
    assert draft.list_files(dataset_id=draft.id) == ["n.txt"]


def test_list_datasets_created_is_a_datetime(tmp_path: Path) -> None:
    final(tmp_path, "d", {"a.txt": "a"})
    found = Dataset.list_datasets(dataset_project="p")
    assert found and all(isinstance(d["created"], datetime) and d["created"].tzinfo is not None for d in found)


def test_list_datasets_accepts_include_archived_and_recursive_project_search(tmp_path: Path) -> None:
    final(tmp_path, "d", {"a.txt": "a"}, project="top/sub")
    assert len(Dataset.list_datasets(dataset_project="top", recursive_project_search=True, include_archived=False)) == 1
    assert Dataset.list_datasets(dataset_project="top", recursive_project_search=False) == []


# -- setters and members -------------------------------------------------------------------------


def test_tags_setter_on_a_draft_and_on_a_final_version(tmp_path: Path) -> None:
    ds = Dataset.create("d", "p", dataset_tags=["old"])
    ds.tags = ["a", "b"]
    assert Dataset.get(dataset_id=ds.id).tags == ["a", "b"]
    ds.finalize()
    ds.tags = ["c"]
    assert Dataset.get(dataset_id=ds.id).tags == ["c"]
    ds.tags = None  # type: ignore[assignment]  # ClearML treats None as no tags
    assert Dataset.get(dataset_id=ds.id).tags == []


def test_version_setter_on_a_draft_is_kept_at_finalize_and_refused_on_a_final(tmp_path: Path) -> None:
    ds = Dataset.create("d", "p")
    ds.version = "3.1.4"
    assert Dataset.get(dataset_id=ds.id).version == "3.1.4"
    ds.finalize()
    assert Dataset.get(dataset_project="p", dataset_name="d").version == "3.1.4"
    with pytest.raises(DatasetFinalizedError):
        ds.version = "9.9.9"


def test_get_default_storage_is_the_content_location(tmp_path: Path) -> None:
    st = Store.default()
    assert Dataset.create("d", "p").get_default_storage() == st.url
    elsewhere = str(tmp_path / "content")
    assert Dataset.create("e", "p", output_uri=elsewhere).get_default_storage() == elsewhere


def test_file_entries_and_link_entries_are_lists_beside_the_dicts(tmp_path: Path) -> None:
    ext = write_tree(tmp_path / "ext", {"l.bin": "link"})
    ds = Dataset.create("d", "p")
    ds.add_files(write_tree(tmp_path / "s", {"a.txt": "a"}), show_progress=False)
    ds.add_external_files(f"file://{ext}/l.bin")
    assert [e.relative_path for e in ds.file_entries] == ["a.txt"] and isinstance(ds.file_entries[0], FileEntry)
    assert [e.link for e in ds.link_entries] == [f"file://{ext}/l.bin"] and isinstance(ds.link_entries[0], LinkEntry)
    assert ds.file_entries == list(ds.file_entries_dict.values())


def test_update_changed_files_is_accepted_and_counts_stay_exact(tmp_path: Path) -> None:
    ds = Dataset.create("d", "p")
    ds.add_files(write_tree(tmp_path / "s", {"a.txt": "a", "b.txt": "b"}), show_progress=False)
    ds.update_changed_files(num_files_added=5, num_files_modified=1, num_files_removed=2)
    assert ds.changed_files == {"files added": 2, "files modified": 0, "files removed": 0}
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.record.stats["added"] == 2


def test_set_description_on_a_final_version_is_kept_as_metadata(tmp_path: Path) -> None:
    ds = final(tmp_path, "d", {"a.txt": "a"})
    ds.set_description("the first one")
    again = Dataset.get(dataset_id=ds.id)
    assert again.description == "the first one"
    assert read_tree(again.get_local_copy(show_progress=False)) == {"a.txt": b"a"}  # content untouched


# -- parameters real scripts pass ----------------------------------------------------------------


def test_create_accepts_use_current_task(tmp_path: Path) -> None:
    assert not Dataset.create("d", "p", use_current_task=False).is_final()


def test_upload_accepts_preview_and_publish_honours_raise_on_error(tmp_path: Path) -> None:
    ds = Dataset.create("d", "p")
    ds.add_files(write_tree(tmp_path / "s", {"a.txt": "a"}), show_progress=False)
    assert ds.publish(raise_on_error=False) is False  # a draft cannot be published
    with pytest.raises(DraftError):
        ds.publish(raise_on_error=True)
    ds.upload(show_progress=False, preview=False)
    ds.finalize()
    assert ds.publish(raise_on_error=False) is True and Dataset.get(dataset_id=ds.id).is_published()


CLEARML_METHODS = ("create", "get", "delete", "squash", "list_datasets", "rename", "move_to_project", "upload",
                   "finalize", "publish", "list_files", "add_files", "add_external_files", "remove_files",
                   "sync_folder", "get_local_copy", "get_mutable_local_copy", "verify_dataset_hash")


@pytest.mark.parametrize("name", CLEARML_METHODS)
def test_clearml_methods_never_swallow_unknown_keywords(name: str) -> None:
    kinds = {p.kind for p in inspect.signature(getattr(Dataset, name)).parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds, f"Dataset.{name} takes **kwargs: a misspelt or unsupported parameter would be ignored"
