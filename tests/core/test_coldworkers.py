"""Cold copies made by worker processes (core/fetchprocs.py, core/fetchworker.py): the folder the
threads make, every blob verified in its worker before its file exists, and every failure (a
damaged blob, a missing or short pack, a file the cache cannot create, a worker or the parent
killed mid-copy) a clear error with nothing visible and no worker left running."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import zstandard

from dagstore import Dataset, IntegrityError, Store
from dagstore.core import fetchplan, layout
from dagstore.core.cache import Cache
from dagstore.core.cache.files import BLOB_MTIME_NS
from dagstore.core.cache.versions import _TreeSink
from dagstore.core.fetchprocs import Pool
from dagstore.core.hashing import hash_bytes
from dagstore.errors import DagstoreError
from test_coldcopy import _cold, _files, _open_in, _tree, _version

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import Children, wait_until  # noqa: E402


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[Pool]:
    """Every build from a local store uses worker processes, however small; the pools that ran."""
    monkeypatch.setattr(fetchplan, "PROCESS_MIN", 0)
    ran: list[Pool] = []
    real = Pool.run

    def run(self: Pool, *args: object) -> None:
        ran.append(self)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Pool, "run", run)
    return ran


def _reaped(ran: list[Pool]) -> bool:
    return all(p.returncode is not None for pool in ran for p in pool.procs)


def _nothing_visible(cold: Store) -> None:
    versions = Path(cold.cache.root) / "versions"
    assert not versions.exists() or os.listdir(versions) == [], "a failed build left a folder behind"
    assert _open_in(cold.cache.root) == [], "a failed build left a descriptor open"


def test_workers_make_the_folder_the_threads_make(tmp_path: Path, pools: list[Pool]) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = _files(1)
    parent = _version(st, tmp_path / "src", files)
    files["d1/new.bin"] = b"new content " * 50
    del files["d3/e0/f3.bin"]
    child = _version(st, tmp_path / "src2", files, parents=[parent.id])
    assert len(set(files.values())) < len(files), "test setup: no duplicated content"
    cold = _cold(tmp_path, "cache-read")
    path = Dataset.get(child.id, store=cold).get_local_copy(show_progress=False)
    assert len(pools) == 1 and len(pools[0].procs) == 2, "the copy was not made by worker processes"
    assert [p.returncode for p in pools[0].procs] == [0, 0]
    assert _tree(path) == files
    blobs = Path(cold.cache.root) / "blobs"
    assert {p.name for p in blobs.glob("*/*")} == {hash_bytes(d) for d in files.values()}, "every blob is linked into the cache"
    for p in files:
        st_ = os.stat(os.path.join(path, p))
        assert st_.st_nlink >= 2 and st_.st_mtime_ns == BLOB_MTIME_NS and not st_.st_mode & 0o222, p
    assert not os.stat(path).st_mode & 0o222
    again = _cold(tmp_path, "cache-threads")
    assert _tree(Dataset.get(child.id, store=again).get_local_copy(show_progress=False, max_workers=1)) == files
    assert len(pools) == 1, "max_workers=1 started worker processes"


def test_small_builds_and_one_worker_start_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real = Pool.start.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Pool, "start", classmethod(lambda cls, *a: started.append(1) or real(cls, *a)))
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(2))
    assert _tree(Dataset.get(ds.id, store=_cold(tmp_path, "c1")).get_local_copy(show_progress=False)) == _files(2)
    monkeypatch.setattr(fetchplan, "PROCESS_MIN", 0)
    Dataset.get(ds.id, store=_cold(tmp_path, "c2")).get_local_copy(show_progress=False, max_workers=1)
    Dataset.get(ds.id, store=_cold(tmp_path, "c3")).get_local_copy(show_progress=False, use_soft_links=True)
    assert started == []


def test_blobs_before_a_damaged_one_in_the_last_pack_are_cached_verified(tmp_path: Path, pools: list[Pool]) -> None:
    """The worker that meets the damaged blob (in the last read) has made its earlier reads' files;
    each is in the cache matching its hash, the damaged one is not."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(8, n=600))
    packs = ds._v.record.packs
    assert len(packs) >= 5, "test setup: too few reads"
    docs = {p: json.loads(zstandard.ZstdDecompressor().decompress((Path(st.url) / layout.index_key(p)).read_bytes())) for p in packs}
    # in the last pack holding a compressed blob (which packs hold one depends on upload's timing), read after the 4 first packs
    last, name, offset, length = next((p, *b[:3]) for p in reversed(packs[4:]) for b in docs[p]["blobs"] if b[4] == 1 and b[2] > 10)
    pack = Path(st.url) / layout.pack_key(last)
    data = bytearray(pack.read_bytes())
    data[offset + length // 2] ^= 0x55
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(IntegrityError, match=f"blob {name} in pack "):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    cached = [Path(d, f) for d, _, fs in os.walk(Path(cold.cache.root) / "blobs") for f in fs]
    assert cached and all(hash_bytes(p.read_bytes()) == p.name for p in cached), "an unverified blob entered the cache"
    assert name not in {p.name for p in cached}
    _nothing_visible(cold)


@pytest.mark.parametrize("damage", ["missing", "short"])
def test_a_missing_or_short_pack_is_an_integrity_error_naming_it(tmp_path: Path, pools: list[Pool], damage: str) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(4))
    key = layout.pack_key(ds._v.record.packs[-1])
    pack = Path(st.url) / key
    if damage == "missing":
        pack.unlink()
    else:
        os.chmod(pack, 0o644)
        os.truncate(pack, pack.stat().st_size // 2)
    cold = _cold(tmp_path, "cache-read")
    text = "is missing from the store" if damage == "missing" else "is shorter than its index or manifest says"
    with pytest.raises(IntegrityError, match=f"^{key} {text}"):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert _reaped(pools)
    _nothing_visible(cold)


def test_a_file_a_worker_cannot_create_is_named_by_its_full_path(tmp_path: Path, pools: list[Pool]) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = {"a.txt": b"abc" * 100}
    ds = _version(st, tmp_path / "src", files)
    cache = Cache(tmp_path / "cache")
    build = tmp_path / "cache" / "versions" / ".tmp-build"
    build.mkdir(parents=True)
    name = hash_bytes(files["a.txt"])
    sink = _TreeSink(cache, str(build), pa.array(["no-such-folder/a.txt"]), {name: 0}, {}, False, np.array([0]))
    pool = Pool.start()
    assert pool is not None
    try:
        with pytest.raises(FileNotFoundError) as exc:
            fetchplan.fetch(sink, fetchplan.Wanted.stored({name: 300}), fetchplan.Where.of(st, st.chain(ds.id)), show_progress=False, pool=pool)
    finally:
        pool.close()
        sink.close()
    assert exc.value.filename == f"{build}/no-such-folder/a.txt"
    assert _reaped(pools) and _open_in(cache.root) == []


def test_a_worker_killed_mid_copy_is_a_clear_error_and_the_next_copy_completes(tmp_path: Path, pools: list[Pool],
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """At a fixed step (the third read handed out) the worker it goes to is killed first."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(5, n=600))
    killed: list[int] = []
    real = Pool._send

    def send(self: Pool, proc, job: int, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if job == 2:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed.append(proc.pid)
        real(self, proc, job, data)

    monkeypatch.setattr(Pool, "_send", send)
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(DagstoreError, match=r"^the cold copy's worker process \d+ ended with status -9 before its work was done.*nothing was exposed"):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert killed, "test setup: fewer than three reads"
    assert _reaped(pools), "the other worker outlived the failed build"
    _nothing_visible(cold)
    monkeypatch.setattr(Pool, "_send", real)
    assert _tree(Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)) == _files(5, n=600)


def _state(pid: int) -> str:
    """The process's state letter (Z: exited, not reaped), '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return ""


def test_a_killed_parent_takes_its_workers_and_the_next_reader_sweeps_its_partial_folder(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(6, n=600))
    cache = tmp_path / "cache"
    (tmp_path / "logs").mkdir()
    kids = Children(tmp_path / "logs", {"DAGSTORE_URL": str(st.url), "DAGSTORE_CACHE_DIR": str(cache), "DAGSTORE_CACHE_MAX_SIZE": ""})
    paused, never = str(tmp_path / "paused"), str(tmp_path / "never")
    try:
        reader = kids.start("reader", f"""
        from dagstore.core import fetchplan
        from dagstore.core.fetchprocs import Pool
        fetchplan.PROCESS_MIN = 0

        def third_read(pool, proc, job, data):
            if job == 2:
                emit([p.pid for p in pool.procs])
            return job == 2

        pause_at(Pool, "_send", third_read, {paused!r}, {never!r}, before=True)
        Dataset.get(dataset_id={ds.id!r}).get_local_copy(show_progress=False)
        emit("done")
        """)
        wait_until(lambda: os.path.exists(paused) or not reader.alive(), 60, what="the reader to stop mid-copy")
        assert reader.alive(), reader.stderr()[-2000:]
        workers = reader.results()[0]
        assert len(workers) == 2 and all(_state(p) not in ("", "Z") for p in workers), "test setup: the workers are not running"
        reader.kill()
        wait_until(lambda: all(_state(p) in ("", "Z") for p in workers), 60, what="the workers to end with their parent")
        assert not (cache / "versions" / ds.id).exists()
        assert [e for e in os.listdir(cache / "versions") if e.startswith(".tmp-")], "test setup: the kill left no partial folder"
        path = kids.start("after", f"emit(Dataset.get(dataset_id={ds.id!r}).get_local_copy(show_progress=False))").result(60)
        assert _tree(path) == _files(6, n=600)
        assert [e for e in os.listdir(cache / "versions") if e.startswith(".")] == [], "the killed build's partial folder was left"
    finally:
        kids.close()


def test_an_interrupted_copy_reaps_its_workers_before_the_folder_is_removed(tmp_path: Path, pools: list[Pool],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (a real SIGINT to the main thread, sent when the third read is handed out) stops the
    copy with every worker reaped, so nothing can still be writing when its folder is removed."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(7, n=600))
    real = Pool._send
    main = threading.main_thread().ident
    assert main is not None

    def send(self: Pool, proc, job: int, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if job == 2:
            signal.pthread_kill(main, signal.SIGINT)
        real(self, proc, job, data)

    monkeypatch.setattr(Pool, "_send", send)
    cold = _cold(tmp_path, "cache-read")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises, whatever an earlier test left
    try:
        with pytest.raises(KeyboardInterrupt):
            Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert pools and _reaped(pools), "a worker was still running when the interrupted build removed its folder"
    _nothing_visible(cold)


def _sigint_pending(pid: int) -> bool:
    """Whether a SIGINT sent to ``pid`` is not yet delivered (False once it is, or it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    masks = [int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(m >> (signal.SIGINT - 1) & 1 for m in masks)


def test_ctrl_c_in_a_program_that_handles_it_does_not_kill_the_workers(tmp_path: Path, pools: list[Pool],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal's Ctrl-C goes to every process of the foreground group, the workers too. A program
    that handles SIGINT itself (a server finishing its requests, a job saving a checkpoint) goes on,
    and so must its cold copy: the workers leave Ctrl-C to their parent, which stops them when it
    is interrupted. SIGINT is sent to the parent and its workers when the third read is handed out."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(8, n=600))
    real = Pool._send
    seen: list[int] = []

    def send(self: Pool, proc, job: int, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if job == 2:
            for pid in [os.getpid(), *(p.pid for p in self.procs)]:
                os.kill(pid, signal.SIGINT)
            for p in self.procs:  # delivered (or discarded) before the copy goes on
                wait_until(lambda p=p: not _sigint_pending(p.pid), 60, what="the worker to take its SIGINT")
        real(self, proc, job, data)

    monkeypatch.setattr(Pool, "_send", send)
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: seen.append(signum))
    try:
        path = Dataset.get(ds.id, store=_cold(tmp_path, "cache-read")).get_local_copy(show_progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIGINT] and pools and _reaped(pools)
    assert _tree(path) == _files(8, n=600)



def test_workers_that_cannot_start_leave_the_copy_to_the_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interpreter that cannot run the worker (here it exits at once) never says it started:
    the threads make the folder, and every process started is reaped."""
    monkeypatch.setattr(fetchplan, "PROCESS_MIN", 0)
    started: list[Pool | None] = []
    real = Pool.start.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Pool, "start", classmethod(lambda cls, *a: started.append(real(cls, *a)) or started[-1]))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to("/bin/false")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(9, n=600))
    cold = _cold(tmp_path, "cache-read")
    assert _tree(Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)) == _files(9, n=600)
    pools = [p for p in started if p is not None]
    assert pools and all(p.procs for p in pools), "test setup: no worker was started"
    assert _reaped(pools) and _open_in(cold.cache.root) == []


@pytest.mark.parametrize(("name", "frozen"), [("app", False), ("python3", True)], ids=["embedding-host", "frozen-app"])
def test_a_program_that_is_not_a_python_command_is_never_run_as_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         name: str, frozen: bool) -> None:
    """``sys.executable`` of an embedded interpreter is its host program (uWSGI, which would serve
    on with the worker's arguments: the copy waited for it forever), of a frozen program the
    program itself (it would run again): neither is started; the threads make the folder."""
    monkeypatch.setattr(fetchplan, "PROCESS_MIN", 0)
    ran = tmp_path / "ran"
    host = tmp_path / "bin" / name
    host.parent.mkdir()
    host.write_text(f"#!/bin/sh\ntouch {ran}\n")
    host.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(host))
    if frozen:
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(10, n=600))
    cold = _cold(tmp_path, "cache-read")
    assert _tree(Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)) == _files(10, n=600)
    assert not ran.exists(), f"{host} was run as a cold copy worker"


def test_workers_that_died_before_their_first_read_fail_the_copy(tmp_path: Path, pools: list[Pool],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that said they started but died before the copy began (the OOM killer, a SIGTERM to
    the whole group the program itself handles) are a clear error, never a folder without their files."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = {f"d{i % 5}/f{i}.txt": b"file %d\n" % i * (20 + i % 50) for i in range(600)}  # no content at two paths
    ds = _version(st, tmp_path / "src", files)
    real = Pool.run

    def run(self: Pool, *args: object) -> None:
        for p in self.procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in self.procs:
            wait_until(lambda p=p: _state(p.pid) in ("", "Z"), 60, what="the worker to die")
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Pool, "run", run)
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(DagstoreError, match=r"^the cold copy's worker process \d+ ended with status -9 before its work was done"):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert pools and _reaped(pools)
    _nothing_visible(cold)
