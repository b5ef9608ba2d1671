"""What a source holds that its import format does not keep is said in the report
(``ImportReport.ignored`` and a ``not imported`` line of ``dagstore import``), never dropped
without a word: files beside class folders' split folders, CoNLL's POS and chunk columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.cli import main
from helpers import write_tree

CONLL = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n\n"
         "-DOCSTART- -X- -X- O\n\nParis NNP B-NP B-LOC\n")


def test_files_beside_split_folders_are_reported_not_imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "src", {"train/cat/1.txt": b"a", "test/dog/2.txt": b"b", "export.json": b"{}", "README.md": b"hi", "metadata.jsonl": b"",
                                  ".hidden": b"x"})
    ds = Dataset.create("cls", "p")
    report = ds.import_annotations(tmp_path / "src", "folders", show_progress=False)
    assert sorted(ds.list_files()) == ["test/dog/2.txt", "train/cat/1.txt"]
    assert [i["path"] for i in report.ignored] == ["README.md", "export.json", "metadata.jsonl"]
    assert "belongs to no split" in report.ignored[0]["reason"]
    assert report.ignored[2]["reason"] == "a metadata file beside the split folders is not read (one goes in each split folder)"
    assert report.skipped == [] and report.to_dict()["ignored"] == report.ignored
    assert main(["import", "--id", ds.id, "--format", "folders", str(tmp_path / "src")]) == 0
    assert "not imported export.json: a file beside the split folders belongs to no split" in capsys.readouterr().out


def test_files_of_class_folders_without_splits_are_all_imported(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"cat/1.txt": b"a", "dog/2.txt": b"b", "notes.txt": b"n"})
    ds = Dataset.create("cls", "p")
    report = ds.import_annotations(tmp_path / "src", "folders", show_progress=False)
    assert sorted(ds.list_files()) == ["cat/1.txt", "dog/2.txt", "notes.txt"]
    assert report.ignored == [] and "ignored" not in report.to_dict()


def test_conll_pos_and_chunk_columns_are_reported_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "c", {"train.txt": CONLL.encode(), "test.txt": b"Bob NNP B-NP B-PER\n"})
    ds = Dataset.create("ner", "p")
    report = ds.import_annotations(tmp_path / "c", "conll2003", show_progress=False)
    assert report.total == 3
    assert len(report.ignored) == 1
    assert report.ignored[0]["path"] == "test.txt, train.txt"  # the files that hold them (a zip's temporary folder is no name)
    assert "(POS, chunk) are not kept (found on 5 token lines)" in report.ignored[0]["reason"]
    assert main(["import", "--id", ds.id, "--format", "conll2003", str(tmp_path / "c" / "test.txt")]) == 0
    assert "not imported test.txt: the columns between the token and the NER tag (POS, chunk) are not kept (found on 1 token line)" \
        in capsys.readouterr().out


def test_conll_without_middle_columns_or_with_placeholders_reports_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path / "c", {"train.txt": b"EU B-ORG\nrejects O\n", "test.txt": b"-DOCSTART- -X- O O\n\nBob -X- _ B-PER\n"})
    ds = Dataset.create("ner", "p")
    report = ds.import_annotations(tmp_path / "c", "conll2003", show_progress=False)
    assert report.total == 2 and report.ignored == []
