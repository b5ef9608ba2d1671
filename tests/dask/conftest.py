"""One real Dask ``LocalCluster`` of two worker processes for the whole session (startup costs
seconds), its executor, and small task sizes so that a test's few files make several tasks."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagstore.core import fanout


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """2 worker processes, 1 thread each; the workers' own cache, as on other nodes."""
    from distributed import LocalCluster

    cache = tmp_path_factory.mktemp("worker-cache")
    env = {"DAGSTORE_CACHE_DIR": str(cache), "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
           "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")] if p)}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=env,
                      silence_logs=40) as c:
        yield c


@pytest.fixture(scope="session")
def client(cluster: Any) -> Iterator[Any]:
    from distributed import Client

    with Client(cluster) as cl:
        yield cl


@pytest.fixture
def executor(client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The cluster as a ``concurrent.futures.Executor``; tasks of 40 files."""
    monkeypatch.setattr(fanout, "TASK_FILES", 40)
    return client.get_executor()
