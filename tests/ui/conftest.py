"""Fixtures of the UI tests: one small world per session (local store), the app under
Starlette's TestClient for the fast HTTP tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ui_server import SECRET, Running, start_ui  # noqa: E402
from ui_world import World, build  # noqa: E402

from starlette.testclient import TestClient  # noqa: E402

from dagstore.ui import create_app  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("ui-world")
    return build(root, str(root / "store"))


@pytest.fixture(scope="session")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.store()), base_url="http://127.0.0.1") as tc:
        yield tc


@pytest.fixture(scope="session")
def ui_server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`dagstore ui` over the session's local world, with a secret in its environment (a
    connector password) that no page, header or log line may show."""
    log = tmp_path_factory.mktemp("ui-server") / "server.log"
    run = start_ui(world.url, world.cache_dir, log, env={"DAGSTORE_CONNECTOR_env_pg":
                                                         f"sql, postgresql+psycopg://app:{SECRET}@127.0.0.1:1/db",
                                                         "UI_TEST_SECRET": SECRET})
    yield run
    run.stop()
