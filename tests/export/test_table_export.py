"""A tabular version exported as its rows: SeeMe's CSV / TSV (``<version_id>.csv`` + config.json),
Parquet and JSON lines, each read back by pandas, pyarrow, Hugging Face ``datasets`` and json."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dagstore import Dataset
from dagstore.export import ExportError

from export_fixtures import image_bytes
from helpers import write_tree
from table_fixtures import COLUMNS, IRIS, iris_version, seeme_tabular

HEADER = COLUMNS + ["species", "split"]


@pytest.fixture
def iris(tmp_path: Path) -> Dataset:
    return iris_version(tmp_path)


def _hf(kind: str, path: Path, cache: Path):
    from datasets import load_dataset

    return load_dataset(kind, data_files=str(path), cache_dir=str(cache), split="train")


def test_csv_export_is_the_rows_with_label_and_split_and_seeme_config(iris: Dataset, tmp_path: Path) -> None:
    rep = iris.export("CSV", tmp_path / "out")
    out = tmp_path / "out"
    assert rep.counts == {"train": 4, "test": 2, "valid": 1} and rep.skipped == []
    config = json.loads((out / "config.json").read_text())
    assert config == {"multi_label": False, "label_column": "species", "split_column": "split", "label_separator": ",",
                      "filename": f"{iris.id}.csv", "csv_separator": ","}
    table = out / config["filename"]
    df = pd.read_csv(table, sep=config["csv_separator"])
    assert list(df.columns) == HEADER
    assert [tuple(r) for r in df.itertuples(index=False)] == IRIS
    hf = _hf("csv", table, tmp_path / "hf")
    assert hf.num_rows == 7 and hf.column_names == HEADER and hf[2]["species"] == "versicolor"
    assert hf.features["petal_length"].dtype == "float64"


def test_csv_export_round_trips_through_import(iris: Dataset, tmp_path: Path) -> None:
    iris.export("CSV", tmp_path / "out")
    again = Dataset.create("iris2", "tables")
    again.import_annotations(tmp_path / "out", "csv")
    assert dict(again.iter_annotations()) == dict(iris.iter_annotations())
    again.upload()
    again.finalize()
    assert Path(again.get_local_copy(), "data.parquet").read_bytes() == Path(iris.get_local_copy(), "data.parquet").read_bytes()


def test_parquet_and_json_lines_exports_read_by_pandas_and_datasets(iris: Dataset, tmp_path: Path) -> None:
    iris.export("PARQUET", tmp_path / "pq")
    config = json.loads((tmp_path / "pq" / "config.json").read_text())
    assert config["filename"] == f"{iris.id}.parquet" and "csv_separator" not in config
    df = pd.read_parquet(tmp_path / "pq" / config["filename"])
    assert list(df.columns) == HEADER and [tuple(r) for r in df.itertuples(index=False)] == IRIS
    assert _hf("parquet", tmp_path / "pq" / config["filename"], tmp_path / "hf1")[6]["sepal_width"] == 3.0
    iris.export("jsonl", tmp_path / "jl")
    lines = (tmp_path / "jl" / f"{iris.id}.jsonl").read_text().splitlines()
    assert [tuple(json.loads(x).values()) for x in lines] == IRIS
    hf = _hf("json", tmp_path / "jl" / f"{iris.id}.jsonl", tmp_path / "hf2")
    assert hf.column_names == HEADER and hf.num_rows == 7


def test_tsv_zip_and_split_filter(iris: Dataset, tmp_path: Path) -> None:
    rep = iris.export("TSV", tmp_path / "t.zip", splits=["test"])
    assert rep.counts == {"test": 2}
    with zipfile.ZipFile(tmp_path / "t.zip") as z:
        rows = list(csv.reader(io.StringIO(z.read(f"{iris.id}.tsv").decode()), delimiter="\t"))
        assert json.loads(z.read("config.json"))["csv_separator"] == "\t"
    assert rows == [HEADER, ["4.9", "3.0", "1.4", "0.2", "setosa", "test"], ["6.4", "3.2", "4.5", "1.5", "versicolor", "test"]]
    iris.export("PARQUET", tmp_path / "p.zip", splits=["valid"])
    with zipfile.ZipFile(tmp_path / "p.zip") as z:
        assert pd.read_parquet(io.BytesIO(z.read(f"{iris.id}.parquet")))["species"].tolist() == ["virginica"]


def test_a_relabelled_child_exports_its_labels_and_removed_rows_are_gone(iris: Dataset, tmp_path: Path) -> None:
    child = Dataset.create("iris", "tables", parent_datasets=[iris.id])
    child.set_annotation("rows/0000000001.json", {"labels": ["versicolor", "virginica"], "split": "test"})
    child.remove_files("rows/0000000002.json")
    child.upload()
    child.finalize()
    child.export("CSV", tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["multi_label"] is True
    df = pd.read_csv(tmp_path / "out" / config["filename"])
    assert len(df) == 6 and df.loc[0, "species"] == "versicolor,virginica" and df.loc[0, "split"] == "test"
    assert df.loc[1, "sepal_length"] == 7.0


def test_a_files_version_exports_one_row_per_file_as_parquet(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.jpg": image_bytes(8, 8), "b.jpg": image_bytes(9, 9)})
    ds = Dataset.create("imgs", "tables")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat"])
    ds.set_annotation("a.jpg", {"labels": ["cat"], "split": "test", "fields": {"n": 3}})
    ds.upload()
    ds.finalize()
    ds.export("PARQUET", tmp_path / "out")
    rows = pq.read_table(tmp_path / "out" / f"{ds.id}.parquet").to_pylist()
    assert rows == [{"filename": "a.jpg", "labels": "cat", "split": "test", "n": "3"},
                                     {"filename": "b.jpg", "labels": "", "split": "train", "n": None}]
    assert (tmp_path / "out" / "media" / "a.jpg").is_file()


def test_a_damaged_table_description_is_an_export_error(tmp_path: Path) -> None:
    seeme_tabular(tmp_path / "iris")
    ds = Dataset.create("iris", "tables")
    ds.import_annotations(tmp_path / "iris", "csv")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "table.json").write_text('{"format": "dagstore.table/9"}')
    ds.add_files(bad, show_progress=False)
    ds.upload()
    ds.finalize()
    with pytest.raises(ExportError, match="table.json: not a dagstore.table/1 description"):
        ds.export("CSV", tmp_path / "out")
    assert not (tmp_path / "out").exists()
