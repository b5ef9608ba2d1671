"""Separator and decimal detection (issue 20): European CSVs describe as numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.errors import FormatError
from dagstore.tables import sniff
from helpers import write_tree

EU = "city;temp;rain;weather\nParis;12,5;0,2;wet\nLyon;9,0;1,5;dry\nNice;20,25;0,0;dry\n"


@pytest.mark.parametrize("head,sep,dec", [
    (EU, ";", ","),
    ("a,b,c\n1,2.5,x\n3,4.0,y\n", ",", "."),
    ("a\tb\n1,5\t2\n", "\t", ","),
    ("a|b|c\n1|2.5|x\n", "|", "."),
    ("only\n1\n2\n", ",", "."),
])
def test_separator_and_decimal_are_guessed(head: str, sep: str, dec: str) -> None:
    d = sniff(head.encode())
    assert (d.separator, d.decimal, d.guessed) == (sep, dec, True)


def test_given_values_win_and_bad_ones_are_refused() -> None:
    assert sniff(EU.encode(), separator=";", decimal=".").to_dict() == {"separator": ";", "decimal": ".", "guessed": False}
    assert sniff(b"a\tb\n", separator="tab").separator == "\t"
    with pytest.raises(FormatError, match="separator ':' is not one of"):
        sniff(b"a:b\n", separator=":")
    with pytest.raises(FormatError, match="cannot both be ','"):
        sniff(b"a,b\n", separator=",", decimal=",")


def test_describe_reads_a_semicolon_decimal_comma_csv(tmp_path: Path) -> None:
    ds = Dataset.create("weather", "tables")
    ds.add_files(write_tree(tmp_path / "src", {"w.csv": EU}), show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    d = ds.describe()
    assert d["dialect"] == {"separator": ";", "decimal": ",", "guessed": True}
    cols = {c["name"]: c for c in d["columns"]}
    assert list(cols) == ["city", "temp", "rain", "weather"] and d["rows"] == 3
    assert cols["temp"]["type"] == "double" and cols["temp"]["min"] == 9.0 and cols["temp"]["max"] == 20.25
    assert abs(cols["rain"]["mean"] - 1.7 / 3) < 1e-9
    assert d["sample"][0] == {"city": "Paris", "temp": 12.5, "rain": 0.2, "weather": "wet"}
    forced = ds.describe(separator=";", decimal=".")  # the override: "12,5" stays text
    assert forced["dialect"]["guessed"] is False and {c["name"]: c["type"] for c in forced["columns"]}["temp"] == "string"
