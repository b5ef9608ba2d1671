"""Shared fixtures: `store_url` over the real storage servers, and every server fixture
(tests/servers/fixtures.py, registered here once by `pytest_plugins`).

    def test_x(store_url):                # runs on local, s3, gcs and azure
        url, opts = store_url

Select backends with `--backends=local,s3` (or env DAGSTORE_TEST_BACKENDS), or `-m "not cloud"`.
A server that cannot start makes its tests fail (error), in CI and locally alike.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers.storage import Server, set_env_hygiene  # noqa: E402

set_env_hygiene()  # before anything imports gcsfs / botocore

import pytest  # noqa: E402

# the one place server fixtures are registered: object stores, SQL and file servers, webhooks, Kafka
pytest_plugins = ["servers.fixtures"]

BACKENDS = ("local", "s3", "gcs", "azure")
CLOUD = BACKENDS[1:]
_CHOSEN = pytest.StashKey[set[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default=os.environ.get("DAGSTORE_TEST_BACKENDS", "all"),
                     help="comma-separated subset of local,s3,gcs,azure (default: all)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cloud: needs a storage server (s3, gcs or azure)")
    for name in BACKENDS:
        config.addinivalue_line("markers", f"{name}: runs against the {name} backend")
    raw = str(config.getoption("--backends"))
    chosen = set(BACKENDS) if raw == "all" else {b.strip() for b in raw.split(",") if b.strip()}
    unknown = chosen - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"--backends: unknown {sorted(unknown)}; use {','.join(BACKENDS)}")
    config.stash[_CHOSEN] = chosen


def _item_backends(item: pytest.Item) -> set[str]:
    """Backends a test uses: its store_url/backend_server param and server fixtures it requests."""
    used = {b for b in CLOUD if f"{b}_server" in getattr(item, "fixturenames", ())}
    params = getattr(getattr(item, "callspec", None), "params", {})
    for key in ("store_url", "backend_server"):
        if params.get(key) in BACKENDS:
            used.add(params[key])
    return used


@pytest.hookimpl(tryfirst=True)  # before -m filtering, so the markers added here count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by backend (cloud + name) and deselect those outside --backends."""
    chosen = config.stash[_CHOSEN]
    keep, drop = [], []
    for item in items:
        used = _item_backends(item)
        for b in used:
            item.add_marker(b)
        if used & set(CLOUD):
            item.add_marker("cloud")
        (keep if used <= chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def backend_server(request: pytest.FixtureRequest) -> Server:
    """The server named by indirect parametrization, e.g.
    @pytest.mark.parametrize("backend_server", ["s3", "gcs", "azure"], indirect=True)."""
    name = getattr(request, "param", None)
    if name not in CLOUD:
        raise pytest.UsageError(f"backend_server needs an indirect param in {CLOUD}, got {name!r}")
    srv: Server = request.getfixturevalue(f"{name}_server")
    return srv


@pytest.fixture(params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS])
def store_url(request: pytest.FixtureRequest,
              tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(url, storage_options) of an empty store root: a tmp folder or a fresh bucket."""
    if request.param == "local":
        yield str(tmp_path / "store"), {}
        return
    srv: Server = request.getfixturevalue(f"{request.param}_server")
    url = srv.new_root()
    yield url, dict(srv.storage_options)
    srv.remove_bucket(url)               # keeps the in-memory servers small


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test HOME, DAGSTORE_URL and DAGSTORE_CACHE_DIR, so no test touches the real home."""
    base = tmp_path_factory.mktemp("env")
    for sub in ("home", "cache"):
        (base / sub).mkdir()
    monkeypatch.setenv("HOME", str(base / "home"))
    monkeypatch.setenv("DAGSTORE_URL", str(base / "default-store"))
    monkeypatch.setenv("DAGSTORE_CACHE_DIR", str(base / "cache"))
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    return base
