"""One precedence for everything defined by name (core/store/definitions.py): the config file,
then the environment, then the store, later wins — the same for connectors and export methods;
a definition that cannot be made is skipped in listings (with a warning naming where it is)
and is the error when asked for by name."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dagstore import Store
from dagstore.delivery import ExportMethods
from dagstore.errors import DagstoreError


@dataclass
class Kind:
    id: str
    registry: Callable[[Store], Any]
    config: Callable[[str, str], str]  # (name, where) -> a config-file table defining it
    env_prefix: str
    env: Callable[[str], str]  # where -> the environment's spec
    create: Callable[[Any, str, str], Any]  # (registry, name, where)
    where: Callable[[Any], str]  # a definition -> where it points
    bad_env: str


KINDS = [
    Kind("connector", lambda st: st.connectors,
         lambda name, where: f'[connectors.{name}]\ntype = "sql"\nurl = "sqlite:///{where}.db"\n',
         "DAGSTORE_CONNECTOR_", lambda where: f"sql, sqlite:///{where}.db",
         lambda reg, name, where: reg.create(name, "sql", url=f"sqlite:///{where}.db"),
         lambda c: c.spec["url"], "oracle, nowhere"),
    Kind("export method", ExportMethods,
         lambda name, where: f'[export_methods.list]\n{name} = "post, http://{where}/"\n',
         "DAGSTORE_EXPORT_METHOD_", lambda where: f"post, http://{where}/",
         lambda reg, name, where: reg.create(name, f"post, http://{where}/"),
         lambda m: m.url, "post"),
]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("DAGSTORE_CONFIG", str(tmp_path / "config.toml"))
    return Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_config_then_environment_then_store_later_wins(kind: Kind, store: Store, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reg = kind.registry(store)
    kind.create(reg, "same", "from-store")  # (export methods refuse to create a name defined elsewhere)
    (tmp_path / "config.toml").write_text(kind.config("same", "from-config"))
    monkeypatch.setenv(f"{kind.env_prefix}same", kind.env("from-env"))
    got = reg.get("same")
    assert "from-store" in kind.where(got) and got.source == "store"
    assert [(d.name, d.source) for d in reg.list()] == [("same", "store")]

    reg.delete("same")  # the stored one: the environment's shows again, then the config file's
    assert reg.get("same").source == "env" and "from-env" in kind.where(reg.get("same"))
    with pytest.raises(DagstoreError, match=f"{kind.env_prefix}same.*remove it there"):
        reg.delete("same")
    monkeypatch.delenv(f"{kind.env_prefix}same")
    assert reg.get("same").source == "config" and "from-config" in kind.where(reg.get("same"))
    assert [(d.name, d.source) for d in reg.list()] == [("same", "config")]
    with pytest.raises(DagstoreError, match="config file.*remove it there"):
        reg.delete("same")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.id)
def test_a_bad_definition_hides_no_other(kind: Kind, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "config.toml").write_text(kind.config("fine", "from-config"))
    monkeypatch.setenv(f"{kind.env_prefix}broken", kind.bad_env)
    reg = kind.registry(store)
    kind.create(reg, "stored", "from-store")
    caplog.set_level(logging.WARNING, logger="dagstore")
    assert [d.name for d in reg.list()] == ["fine", "stored"]
    assert any(f"{kind.env_prefix}broken" in r.getMessage() for r in caplog.records), caplog.text
    assert reg.get("fine").source == "config" and reg.get("stored").source == "store"
    with pytest.raises(DagstoreError, match=f"environment variable {kind.env_prefix}broken: "):
        reg.get("broken")
