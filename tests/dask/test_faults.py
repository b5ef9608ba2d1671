"""Faults on a real LocalCluster: a worker SIGKILLed mid-task, a killed driver, a worker that
cannot reach the store."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core import fanout
from dagstore.errors import StorageError
from scale_trees import tree_bytes
from servers import wait_until

REPO = Path(__file__).resolve().parents[2]


def big_tree(root: Path, tasks: int, per_task: int = 8, size: int = 1 << 20) -> Path:
    """``tasks * per_task`` small-file-path files of ``size`` random bytes (slow enough to kill)."""
    for i in range(tasks * per_task):
        p = root / f"t{i // per_task:02d}" / f"f{i:03d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))
    return root


def _files(folder: Path) -> list[Path]:
    return [f for f in folder.rglob("*") if f.is_file()] if folder.exists() else []


# Run on every worker (``client.run(exec, code, {})``): each task stops at its store step --
# right before it, or right after it (its packs and their indexes written) -- touches
# flags/held-<worker pid> and waits for flags/go. A kill then lands mid-task on any machine,
# however fast the tasks are. A restarted worker starts without it; RELEASE undoes it.
HOLD = """
import os, time
from dagstore.core import fanout
real = getattr(fanout.store_files, "real", fanout.store_files)
def wait():
    open(os.path.join({flags!r}, "held-%d" % os.getpid()), "w").close()
    while not os.path.exists(os.path.join({flags!r}, "go")):
        time.sleep(0.005)
def held(*args, **kwargs):
    if not {after}:
        wait()
    out = real(*args, **kwargs)
    if {after}:
        wait()
    return out
held.real = real
fanout.store_files = held
"""
RELEASE = "from dagstore.core import fanout\nfanout.store_files = getattr(fanout.store_files, 'real', fanout.store_files)"


def _held(flags: Path) -> list[int]:
    """PIDs of the workers holding a task."""
    return [int(f.name.split("-")[1]) for f in flags.glob("held-*")]


def test_a_worker_killed_mid_task_is_retried_and_the_version_is_correct(tmp_path: Path, client: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "TASK_FILES", 8)
    src = big_tree(tmp_path / "src", tasks=8)
    st = Store(str(tmp_path / "store"))
    ds = Dataset.create("data", "faults", store=st)
    flags = tmp_path / "flags"
    flags.mkdir()
    errors: list[BaseException] = []

    def add() -> None:
        try:
            ds.add_files(src, show_progress=False, executor=client.get_executor())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    client.run(exec, HOLD.format(flags=str(flags), after=False), {})
    t = threading.Thread(target=add)
    try:
        t.start()
        held = wait_until(lambda: _held(flags) or not t.is_alive(), 60, what="a task to start on a worker")
        assert t.is_alive(), f"add_files ended before any task was held: {errors}"
        os.kill(held[0], signal.SIGKILL)  # mid-task: the worker is inside one, held before its store step
    finally:
        (flags / "go").touch()
    t.join(timeout=240)
    assert not t.is_alive() and not errors, errors
    ds.finalize()
    assert tree_bytes(ds.get_local_copy(show_progress=False)) == tree_bytes(src)
    assert st.verify(read_data=True) == []
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests
    client.run(exec, RELEASE, {})


DRIVER = """
import sys
from distributed import Client
from dagstore import Dataset, Store
from dagstore.core import fanout
fanout.TASK_FILES = 8
st = Store(sys.argv[2])
ds = Dataset.create("data", "faults", store=st)
print("draft", ds.id, flush=True)
with Client(sys.argv[1]) as c:
    ds.add_files(sys.argv[3], show_progress=False, executor=c.get_executor())
    ds.finalize()
print("finished", flush=True)
"""


def test_a_killed_driver_leaves_no_version_and_only_garbage_gc_collects(tmp_path: Path, client: Any, cluster: Any) -> None:
    src = big_tree(tmp_path / "src", tasks=10)
    store = tmp_path / "store"
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    client.run(exec, HOLD.format(flags=str(flags), after=True), {})  # the driver cannot finish while a task is held
    try:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, cluster.scheduler_address, str(store), str(src)],
                                env=env, stdout=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: _held(flags) or proc.poll() is not None, 90, what="a worker to store a pack")
            assert proc.poll() is None, f"the driver ended before any task was held: {proc.stdout.read() if proc.stdout else ''}"
            assert _files(store / "index"), "a task held after its store step has stored no pack"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    finally:
        (flags / "go").touch()
        client.run(exec, RELEASE, {})
    # a task already running when its driver died runs to its end (Python threads cannot be
    # interrupted): wait until the store is quiet, as an operator would before collecting
    deadline, last, quiet_since = time.monotonic() + 90, None, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
        now = sorted(str(f) for f in _files(store))
        if now != last:
            last, quiet_since = now, time.monotonic()
        time.sleep(0.2)
    st = Store(str(store))
    assert _files(store / "versions") == []
    assert Dataset.list_datasets(store=st, only_completed=True) == []
    report = st.gc(min_age_seconds=0)
    assert report.packs, "the workers' packs were garbage"
    assert _files(store / "packs") + _files(store / "index") + _files(store / "objects") == []
    assert st.verify() == []


def test_a_worker_that_cannot_reach_the_store_fails_the_whole_operation_once(tmp_path: Path, s3_server: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import Client, LocalCluster

    for k, v in s3_server.env.items():  # the driver reaches the store through its environment
        monkeypatch.setenv(k, v)
    url = s3_server.new_root("unreachable")
    st = Store(url)
    ds = Dataset.create("data", "faults", store=st)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a" * 2000)
    # port 9: nothing listens; one attempt per request, so the test is quick
    dead = {**s3_server.env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1", "PYTHONPATH": str(REPO)}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", env=dead,
                      silence_logs=40) as cl, Client(cl) as c:
        t0 = time.monotonic()
        with pytest.raises(StorageError) as exc:
            ds.add_files(src, show_progress=False, executor=c.get_executor())
        assert time.monotonic() - t0 < 120
    msg = str(exc.value)
    assert msg.startswith("ingestion failed on a worker: EndpointConnectionError") and "127.0.0.1:9" in msg
    assert "\n" not in msg and "testing" not in msg  # one line, no credentials
    assert Dataset.get(ds.id, store=st).list_files() == []  # nothing changed
