"""Tables as rows (dagstore.tables.rows): reading a table in its dialect, each row's JSON, and
the tabular version's description and layout."""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path

import pyarrow as pa
import pytest

from dagstore.errors import FormatError
from dagstore.tables.rows import (DATA_FILE, DESCRIPTION, description, find_table, parse_description, read_table,
                                  row_json, row_number, row_path, split_labels)


def test_a_european_csv_reads_as_text_numbers_and_text(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    p.write_text("city;temp;rain;weather\nParis;12,5;0,2;wet\n")
    table, fmt, dialect = read_table(str(p))
    assert fmt == "csv" and (dialect.separator, dialect.decimal, dialect.guessed) == (";", ",", True)
    assert table.to_pylist() == [{"city": "Paris", "temp": 12.5, "rain": 0.2, "weather": "wet"}]
    given, _, d = read_table(str(p), ";", ".")
    assert given.column("temp").to_pylist() == ["12,5"] and not d.guessed


@pytest.mark.parametrize("name, text, message", [
    ("r.csv", "a,b\n1,2\n3,4,5\n", "r.csv: cannot read csv data: .*Expected 2 columns, got 3"),
    ("e.csv", "", "e.csv: "),
    ("d.csv", "a,a\n1,2\n", "column names must be unique"),
    ("j.jsonl", '{"a": 1}\n{"a": \n', "j.jsonl: cannot read jsonl data"),
    ("x.txt", "a\n", "x.txt: not a table"),
])
def test_bad_tables_are_one_format_error(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(FormatError, match=message) as err:
        read_table(str(tmp_path / name))
    assert "\n" not in str(err.value)


def test_unknown_overrides_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match="separator ':' is not one of"):
        read_table(str(tmp_path / "a.csv"), separator=":")
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(FormatError, match="apply to CSV / TSV only"):
        read_table(str(tmp_path / "a.jsonl"), separator=";")


def test_row_json_keeps_column_order_and_types() -> None:
    t = pa.table({"z": [1.5, float("nan")], "a": ["x", None], "d": [datetime.date(2024, 1, 2), None],
                  "m": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(5, 2))})
    rows = [r.decode() for r in row_json(t)]
    assert rows == ['{"z":1.5,"a":"x","d":"2024-01-02","m":"1.10"}\n', '{"z":null,"a":null,"d":null,"m":null}\n']


def test_row_paths_and_numbers() -> None:
    assert row_path(7) == "rows/0000000007.json" and row_number("rows/0000000007.json") == 7
    assert row_number("rows/7.json") is None and row_number("rows/0000000000.json") is None
    assert split_labels(" a| b |", True, "|") == ["a", "b"] and split_labels("a|b", False, "|") == ["a|b"]
    assert split_labels(None, True, ",") == [] and split_labels(3, False, ",") == ["3"]


def test_description_round_trip_and_refusals() -> None:
    doc = description(pa.table({"x": [1]}), "label", None, False, ",", {"file": "t.csv", "format": "csv"})
    assert parse_description(json.dumps(doc).encode(), "t") == doc
    assert doc["columns"] == [{"name": "x", "type": "int64"}]
    for bad in (b"[", b"{}", json.dumps({**doc, "format": "dagstore.table/2"}).encode(),
                json.dumps({**doc, "data": "../x.parquet"}).encode(), json.dumps({**doc, "label_column": 3}).encode()):
        with pytest.raises(FormatError):
            parse_description(bad, "t/table.json")


def test_find_table() -> None:
    assert find_table(["a.jpg"]) is None
    assert find_table([DESCRIPTION, DATA_FILE, "rows/0000000001.json"]) == ""
    assert find_table(["t/" + DESCRIPTION, "t/" + DATA_FILE, "other/table.json"]) == "t/"
    with pytest.raises(FormatError, match="holds 2 tables"):
        find_table([DESCRIPTION, DATA_FILE, "t/" + DESCRIPTION, "t/" + DATA_FILE])
