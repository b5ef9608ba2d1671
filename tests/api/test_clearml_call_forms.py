"""ClearML Data calls in the forms its reference documents, beyond keyword-only use:
positional ``Dataset.create`` arguments, ``add_external_files`` with one ``dataset_path`` per
URL, ``Dataset.get(silence_alias_warnings=)``, and the ``ValueError`` a finalized dataset raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore import Dataset, InvalidPathError


def test_create_takes_clearmls_positional_order() -> None:
    # clearml: create(dataset_name, dataset_project, dataset_tags, parent_datasets,
    #                 use_current_task, dataset_version, output_uri, description)
    ds = Dataset.create("cats", "vision", ["raw"], None, False, "2.0.0", None, "first")
    assert (ds.version, ds.tags, ds.description) == ("2.0.0", ["raw"], "first")


def test_external_files_with_one_dataset_path_per_url(tmp_path: Path) -> None:
    for n in ("a", "b"):
        (tmp_path / f"{n}.txt").write_text(n)
    ds = Dataset.create("links", "p")
    urls = [(tmp_path / "a.txt").as_uri(), (tmp_path / "b.txt").as_uri()]
    assert ds.add_external_files(urls, dataset_path=["x", "y/z"]) == 2
    assert ds.list_files() == ["x/a.txt", "y/z/b.txt"]
    with pytest.raises(InvalidPathError, match="one per source_url"):
        ds.add_external_files(urls, dataset_path=["only-one"])
    assert ds.list_files() == ["x/a.txt", "y/z/b.txt"]


def test_get_accepts_silence_alias_warnings() -> None:
    ds = Dataset.create("quiet", "p")
    assert Dataset.get(dataset_id=ds.id, silence_alias_warnings=True).id == ds.id


def test_a_finalized_dataset_raises_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    ds = Dataset.create("final", "p")
    ds.add_files(tmp_path, show_progress=False)
    ds.finalize(auto_upload=True)
    for change in (lambda: ds.finalize(), lambda: ds.add_files(tmp_path, show_progress=False), lambda: ds.remove_files("a.txt")):
        with pytest.raises(ValueError, match="is finalized"):  # what ClearML's callers catch
            change()
    assert ds.list_files() == ["a.txt"]
