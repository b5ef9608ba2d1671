"""Exporters write a version's rows: a tabular version's table with its label and split
columns, or the version's one table file, as CSV / TSV / Parquet / JSON lines to an SFTP path
or into a SQL table; CSV files read in their dialect (guessed, or the datasource's)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dagstore import Dataset, Store
from dagstore.connectors import ConnectorRegistry
from dagstore.delivery import DeliveryError, list_deliveries
from dagstore.delivery.exporters import Exporters
from helpers import write_tree
from table_fixtures import COLUMNS, IRIS, iris_version

HEADER = COLUMNS + ["species", "split"]


@pytest.fixture
def store() -> Store:
    return Store.default()


@pytest.fixture
def iris(tmp_path: Path) -> Dataset:
    return iris_version(tmp_path)


def _files(tmp: Path, name: str, files: dict[str, bytes | str]) -> Dataset:
    src = write_tree(tmp / f"src-{name}-{time.time_ns()}", files)
    ds = Dataset.create(name, "tables")
    ds.add_files(str(src), show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


@pytest.fixture
def sqlite(store: Store, tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    sa.create_engine(url).connect().close()
    ConnectorRegistry(store).create("wh", "sql", url=url)
    eng = sa.create_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def sftp(store: Store, sshd_server: Any) -> Path:
    """An SFTP connector ``sd`` on the test sshd; returns its root folder."""
    i = sshd_server.info
    ConnectorRegistry(store).create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                                    key_file=i["key_file"], root=i["root"])
    return Path(i["root"])


def _select(eng: Any, sql: str) -> list[tuple]:
    with eng.connect() as c:
        return [tuple(r) for r in c.execute(sa.text(sql)).all()]


def test_a_tabular_version_into_a_sql_table_with_label_and_split(store, sqlite, iris) -> None:
    ex = Exporters(store)
    ex.create("to_wh", "wh", table="iris")
    d = ex.run("to_wh", iris.id)
    assert (d.status, d.count) == ("delivered", 7)
    assert _select(sqlite, "SELECT * FROM iris") == IRIS
    with sqlite.connect() as c:
        assert [col["name"] for col in sa.inspect(c).get_columns("iris")] == HEADER


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_row_formats_write_the_rows_to_a_path(store, sftp, iris, fmt) -> None:
    ex = Exporters(store)
    run = f"rows-{time.time_ns()}"
    ex.create("out", "sd", path=run)
    d = ex.run("out", iris.id, export_format=fmt.upper())
    assert d.count == 1 and d.status == "delivered"
    written = sftp / run
    assert sorted(p.name for p in written.iterdir()) == [f"data.{fmt}"]
    data = (written / f"data.{fmt}").read_bytes()
    df = {"csv": lambda b: pd.read_csv(io.BytesIO(b)), "tsv": lambda b: pd.read_csv(io.BytesIO(b), sep="\t"),
          "parquet": lambda b: pd.read_parquet(io.BytesIO(b)), "jsonl": lambda b: pd.read_json(io.BytesIO(b), lines=True)}[fmt](data)
    assert list(df.columns) == HEADER and [tuple(r) for r in df.itertuples(index=False)] == IRIS


def test_csv_of_a_datasource_table_is_its_rows_not_a_file_list(store, sftp, tmp_path) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2], "name": ["a", "b,c"]}), buf)
    v = _files(tmp_path, "src", {"data.parquet": buf.getvalue()})
    ex = Exporters(store)
    run = f"ds-{time.time_ns()}"
    ex.create("out", "sd", path=run)
    ex.run("out", v.id, export_format="csv")  # was: filename,labels,split / data.parquet,,train
    assert (sftp / run / "data.csv").read_bytes() == b'id,name\r\n1,a\r\n2,"b,c"\r\n'


def test_a_european_csv_file_reads_in_its_dialect(store, sqlite, tmp_path) -> None:
    v = _files(tmp_path, "eu", {"w.csv": "city;temp;rain;weather\nParis;12,5;0,2;wet\nNice;18,0;0,0;dry\n"})
    ex = Exporters(store)
    ex.create("w", "wh", table="weather")
    assert ex.run("w", v.id).count == 2  # was: a parse error (read as comma-separated)
    assert _select(sqlite, "SELECT * FROM weather") == [("Paris", 12.5, 0.2, "wet"), ("Nice", 18.0, 0.0, "dry")]


def test_files_without_a_table_keep_the_format_export_and_bad_cases_fail_recorded(store, sftp, tmp_path) -> None:
    ex = Exporters(store)
    run = f"f-{time.time_ns()}"
    ex.create("out", "sd", path=run)
    v = _files(tmp_path, "txt", {"a.txt": "one"})
    ex.run("out", v.id, export_format="csv")
    assert sorted(p.name for p in (sftp / run).iterdir()) == sorted(["config.json", "export.json", f"{v.id}.csv", "media"])
    two = _files(tmp_path, "two", {"a.csv": "x\n1\n", "b.csv": "x\n2\n"})
    with pytest.raises(DeliveryError, match="holds 2 tabular files .*give dataset_path"):
        ex.run("out", two.id, export_format="parquet")
    ragged = _files(tmp_path, "ragged", {"r.csv": "a,b\n1,2\n3,4,5\n"})
    with pytest.raises(DeliveryError, match="cannot read r.csv: .*Expected 2 columns, got 3"):
        ex.run("out", ragged.id, export_format="jsonl")
    assert [d.status for d in list_deliveries(store, method="out")][:2] == ["failed", "failed"]
    assert sorted(p.name for p in (sftp / run).iterdir()) == sorted(["config.json", "export.json", f"{v.id}.csv", "media"])  # untouched
