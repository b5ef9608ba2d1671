"""A path datasource's CSV files: separator and decimal mark guessed, or fixed on the
datasource (``separator=`` / ``decimal=``), in its preview and in what exporters read from the
versions it makes; bad overrides are one-line errors that store nothing. On the test sshd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagstore import Dataset, Store
from dagstore.connectors import ConnectorError
from dagstore.delivery.exporters import Exporters

EUROPEAN = "city;temp;rain;weather\nParis;12,5;0,2;wet\nNice;18,0;0,0;dry\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


@pytest.fixture
def sd(store: Store, sshd_server: Any) -> Path:
    i = sshd_server.info
    root = Path(i["root"]) / "eu"
    root.mkdir(exist_ok=True)
    (root / "weather.csv").write_text(EUROPEAN)
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    return root


def test_preview_guesses_semicolons_and_decimal_commas(store: Store, sd: Path) -> None:
    store.datasources.create("w", "sd", path="eu/weather.csv")
    p = store.datasources.test("w")
    assert p.ok and "separator ';', decimal mark ',' (guessed)" in p.message
    assert p.columns == [("city", "string"), ("temp", "double"), ("rain", "double"), ("weather", "string")]
    assert p.rows[0] == ["Paris", 12.5, 0.2, "wet"]


def test_given_dialect_wins_in_preview_and_in_exporters(store: Store, sd: Path, tmp_path: Path) -> None:
    store.datasources.create("w", "sd", path="eu/weather.csv", separator=";", decimal=".")
    assert store.datasources.get("w").to_dict()["separator"] == ";"
    p = store.datasources.test("w")
    assert "(given)" in p.message and p.columns[1] == ("temp", "string") and p.rows[0][1] == "12,5"
    v = Dataset.create_from_datasource("w", "weather", store=store)
    assert v.get_metadata("datasource")["decimal"] == "."
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    sa.create_engine(url).connect().close()
    store.connectors.create("wh", "sql", url=url)
    ex = Exporters(store)
    ex.create("t", "wh", table="weather")
    ex.run("t", v.id)
    with sa.create_engine(url).connect() as c:
        assert c.execute(sa.text("SELECT temp FROM weather")).scalars().all() == ["12,5", "18,0"]
    store.datasources.create("g", "sd", path="eu/weather.csv")  # guessed: numbers
    ex.create("t2", "wh", table="weather2")
    ex.run("t2", Dataset.create_from_datasource("g", "weather2", store=store).id)
    with sa.create_engine(url).connect() as c:
        assert c.execute(sa.text("SELECT temp FROM weather2")).scalars().all() == [12.5, 18.0]


@pytest.mark.parametrize("kwargs, message", [
    ({"path": "eu/weather.csv", "separator": ":"}, "separator ':' is not one of"),
    ({"path": "eu/weather.csv", "decimal": "_"}, "decimal mark '_' is not one of"),
    ({"path": "eu/weather.csv", "separator": ",", "decimal": ","}, "cannot both be ','"),
])
def test_bad_overrides_are_refused_and_store_nothing(store: Store, sd: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ConnectorError, match=message) as err:
        store.datasources.create("w", "sd", **kwargs)
    assert "\n" not in str(err.value) and store.datasources.list() == []


def test_a_dialect_goes_with_a_path_only(store: Store, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    sa.create_engine(url).connect().close()
    store.connectors.create("lite", "sql", url=url)
    with pytest.raises(ConnectorError, match="separator and decimal go with a path"):
        store.datasources.create("q", "lite", table="t", separator=";")
    assert store.datasources.list() == []
