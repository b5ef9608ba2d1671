"""A table is a dataset of rows: SeeMe's tabular export (CSV + config.json), TSV, Parquet and
JSON lines imported through ``import_annotations`` as a tabular version (docs/format.md,
"Tabular versions"); the CSV dialect guessed or given; every bad input one line, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dagstore import Dataset, Store
from dagstore.annotations import ImportSourceError

from table_fixtures import COLUMNS, IRIS, iris_jsonl, iris_parquet, seeme_tabular

ROW3 = "rows/0000000003.json"


def _draft() -> Dataset:
    return Dataset.create("iris", "tables")


def _unchanged(ds: Dataset) -> None:
    assert ds.list_files() == [] and ds.classes == []


def test_seeme_tabular_export_imports_as_rows_with_labels_and_split(tmp_path: Path) -> None:
    ds = _draft()
    rep = ds.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")  # was: iris.csv: filename: column missing
    assert rep.counts == {"train": 4, "test": 2, "valid": 1}
    assert rep.classes_added == ["setosa", "versicolor", "virginica"]
    assert rep.guessed["table"]["label_column"] == "species" and rep.guessed["table"]["rows"] == 7
    files = ds.list_files()
    assert files[:2] == ["data.parquet", "rows/0000000001.json"] and files[-1] == "table.json" and len(files) == 9
    assert ds.get_annotation(ROW3) == {"labels": ["versicolor"], "split": "train"}
    assert ds.get_annotation("table.json") is None and ds.get_annotation("data.parquet") is None
    ds.upload()
    ds.finalize()
    local = Path(ds.get_local_copy())
    assert json.loads((local / ROW3).read_text()) == dict(zip(COLUMNS, IRIS[2][:4]))
    data = pq.read_table(local / "data.parquet")
    assert data.column_names == COLUMNS and data.num_rows == 7 and data["petal_length"].to_pylist()[2] == 4.7
    desc = json.loads((local / "table.json").read_text())
    assert desc["format"] == "dagstore.table/1" and desc["label_column"] == "species" and desc["split_column"] == "split"
    assert desc["source"] == {"file": "iris.csv", "format": "csv", "separator": ",", "decimal": "."}
    assert dict(ds.iter_annotations(split="valid")) == {"rows/0000000006.json": {"labels": ["virginica"], "split": "valid"}}


def test_relabelling_rows_is_an_annotation_only_child(tmp_path: Path) -> None:
    ds = _draft()
    ds.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")
    ds.upload()
    ds.finalize()
    child = Dataset.create("iris", "tables", parent_datasets=[ds.id])
    child.set_annotation(ROW3, {"labels": ["virginica"], "split": "test"})
    assert child.set_split("valid", wildcard="rows/0000000001.json") == 1
    child.upload()
    child.finalize()
    assert sorted(child.list_modified_files()) == ["rows/0000000001.json", ROW3]
    rec = Store.default().record(child.id)
    assert tuple(rec.packs) == () and tuple(rec.objects) == ()  # no content sent again
    assert child.get_annotation(ROW3) == {"labels": ["virginica"], "split": "test"}
    assert ds.get_annotation(ROW3) == {"labels": ["versicolor"], "split": "train"}


def test_european_csv_guessed_and_overridden(tmp_path: Path) -> None:
    src = tmp_path / "weather.csv"
    src.write_text("city;temp;rain;weather\nParis;12,5;0,2;wet\nNice;18,0;0,0;dry\n", encoding="utf-8")
    ds = _draft()
    rep = ds.import_annotations(src, "csv", label_column="weather")
    assert rep.guessed["table"]["dialect"] == {"separator": ";", "decimal": ",", "guessed": True}
    ds.upload()
    ds.finalize()
    local = Path(ds.get_local_copy())
    assert json.loads((local / "rows/0000000001.json").read_text()) == {"city": "Paris", "temp": 12.5, "rain": 0.2}
    assert ds.get_annotation("rows/0000000002.json") == {"labels": ["dry"]}
    given = _draft()
    given.import_annotations(src, "csv", separator=";", decimal=".", label_column="weather")
    given.upload()
    given.finalize()
    row = json.loads((Path(given.get_local_copy()) / "rows/0000000001.json").read_text())
    assert row == {"city": "Paris", "temp": "12,5", "rain": "0,2"}  # the decimal point given: 12,5 is text


@pytest.mark.parametrize("fmt, make", [
    ("table", lambda p: seeme_tabular(p, sep="\t", name="iris.tsv") / "iris.tsv"),
    ("parquet", lambda p: iris_parquet(p / "iris.parquet")),
    ("jsonl", lambda p: iris_jsonl(p / "iris.jsonl")),
])
def test_tsv_parquet_and_json_lines_tables(tmp_path: Path, fmt: str, make) -> None:
    ds = _draft()
    rep = ds.import_annotations(make(tmp_path), fmt, label_column="species")
    assert rep.counts == {"train": 4, "test": 2, "valid": 1}
    assert ds.get_annotation(ROW3) == {"labels": ["versicolor"], "split": "train"}
    assert ds.classes == ["setosa", "versicolor", "virginica"]


def test_multi_label_rows_and_a_dataset_path(tmp_path: Path) -> None:
    src = tmp_path / "t"
    src.mkdir()
    (src / "t.csv").write_text('text,tags,split\nhello,"greeting|short",train\nbye,,test\n', encoding="utf-8")
    (src / "config.json").write_text(json.dumps({"multi_label": True, "label_column": "tags", "split_column": "split",
                                                 "label_separator": "|", "filename": "t.csv", "csv_separator": ","}))
    ds = _draft()
    ds.import_annotations(src, "csv", dataset_path="tables/t")
    assert ds.get_annotation("tables/t/rows/0000000001.json") == {"labels": ["greeting", "short"], "split": "train"}
    assert ds.get_annotation("tables/t/rows/0000000002.json") == {"split": "test"}
    assert "tables/t/table.json" in ds.list_files()


@pytest.mark.parametrize("change, options, message", [
    ("label", {}, r"iris\.csv: label_column: column 'species' is not in the table \(columns: sepal_length"),
    ("split", {}, r"iris\.csv: split_column: column 'split' is not in the table"),
    ("ragged", {}, r"iris\.csv: .*Expected 6 columns, got 7"),
    (None, {"separator": ":"}, r"separator ':' is not one of"),
    (None, {"decimal": ";"}, r"decimal mark ';' is not one of"),
    (None, {"label_column": "nope"}, r"label_column: column 'nope' is not in the table"),
])
def test_bad_tables_are_one_line_errors_and_change_nothing(tmp_path: Path, change, options, message) -> None:
    folder = seeme_tabular(tmp_path / "iris")
    csv_file = folder / "iris.csv"
    text = csv_file.read_text()
    if change == "label":
        csv_file.write_text(text.replace("species", "kind", 1))
    elif change == "split":
        csv_file.write_text(text.replace(",split", ",fold", 1))
    elif change == "ragged":
        csv_file.write_text(text + "1,2,3,4,setosa,train,extra\n")
    ds = _draft()
    with pytest.raises(ImportSourceError, match=message) as err:
        ds.import_annotations(folder, "csv", **options)
    assert "\n" not in str(err.value)
    _unchanged(ds)


def test_a_table_without_labels_imports_unlabelled_rows(tmp_path: Path) -> None:
    src = tmp_path / "m.csv"
    src.write_text("x|y\n1|2\n3|4\n", encoding="utf-8")
    ds = _draft()
    rep = ds.import_annotations(src, "table")
    assert rep.counts == {"": 2} and rep.guessed["table"]["label_column"] is None
    assert rep.guessed["table"]["dialect"]["separator"] == "|"
    assert ds.get_annotation("rows/0000000001.json") == {}
