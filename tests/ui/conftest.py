"""Fixtures of the UI tests: one small world per session (local store), the app under
Starlette's TestClient for the fast HTTP tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# -- the browser: Debian's chromium driven by Playwright, one per session ----------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (./dev test installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save screenshots: ``DAGSTORE_UI_SCREENSHOTS`` (docs/images to
    refresh the user guide's pictures), else a temp folder."""
    target = os.environ.get("DAGSTORE_UI_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("ui-shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
