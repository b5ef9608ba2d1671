"""add_files of many files hashed by worker processes (core/hashprocs.py, core/hashworker.py):
the same hashes, the same kept blobs spooled in the same order (so the same packs) as the hashing
threads; a file they cannot read, or a worker that dies, refuses the call with nothing staged and
no worker left; no worker when they cannot start, for one worker, or for a few files."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

import dagstore.core.scan as scan_mod
from dagstore import Dataset, DagstoreError, InvalidPathError, Store
from dagstore.core import hashprocs
from dagstore.core.hashing import hash_file
from dagstore.core.hashprocs import Hashing, Pool
from helpers import read_tree, write_tree


def _files(seed: int = 1) -> dict[str, bytes]:
    """Sizes around every cut: tiny (stored raw), compressible, random, >= KEEP_BELOW, >= SMALL_FILE
    (patched to 64 KiB), empty, and a duplicate."""
    rnd = random.Random(seed)
    out: dict[str, bytes] = {}
    for i in range(60):
        kind = i % 6
        data = (b"x" * rnd.randrange(1, 100) if kind == 0 else (b"line %d\n" % i) * rnd.randrange(20, 900) if kind == 1
                else rnd.randbytes(rnd.randrange(100, 20000)) if kind == 2 else rnd.randbytes(40 << 10) if kind == 3
                else rnd.randbytes(100 << 10) if kind == 4 else b"")
        out[f"d{i % 4}/sub{i % 3}/f{i:03d}.bin"] = data
    out["dup/a"] = out["dup/b"] = b"the same content " * 50
    return out


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[Hashing]:
    """Every walk of 8 files or more is hashed by workers, 3 files a job; the runs that started."""
    monkeypatch.setattr(scan_mod, "_CHUNK_FILES", 8)
    monkeypatch.setattr(hashprocs, "JOB_FILES", 3)
    monkeypatch.setattr(hashprocs, "SMALL_FILE", 64 << 10)
    ran: list[Hashing] = []
    real = hashprocs.start

    def start(*args: object) -> Hashing | None:
        h = real(*args)  # type: ignore[arg-type]
        if h is not None:
            ran.append(h)
        return h

    monkeypatch.setattr(hashprocs, "start", start)
    return ran


def _reaped(ran: list[Hashing]) -> bool:
    return all(p.returncode is not None for h in ran for p in h._pool.procs)


def _add(tmp_path: Path, name: str, src: Path, max_workers: int | None = None) -> Dataset:
    st = Store(str(tmp_path / name / "store"), cache_dir=str(tmp_path / name / "cache"))
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(str(src), show_progress=False, max_workers=max_workers)
    return ds


def _spooled(ds: Dataset) -> list[tuple[object, ...]]:
    staged = ds._v.staged
    assert staged is not None
    staged.settle()
    return [(seg.rows(), os.pread(seg.fd, seg.size, seg.at)) for seg in staged._segs]


def test_workers_hash_and_keep_what_the_threads_do(tmp_path: Path, pools: list[Hashing], monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", _files())
    os.utime(src / "dup" / "a", ns=(1, 1))  # old enough to keep: every file's ctime is now, so only the budget decides
    monkeypatch.setattr("dagstore.core.staging.RACY_NS", 0)
    by_workers = _add(tmp_path, "w", src)
    assert len(pools) == 1 and len(pools[0]._pool.procs) == 2, "the walk was not hashed by worker processes"
    by_thread = _add(tmp_path, "t", src, max_workers=1)
    assert len(pools) == 1, "max_workers=1 started worker processes"
    assert _spooled(by_workers) == _spooled(by_thread) != []
    entries = {e.relative_path: (e.hash, e.size) for e in by_workers.file_entries}
    assert entries == {e.relative_path: (e.hash, e.size) for e in by_thread.file_entries}
    assert entries == {rel: hash_file(str(src / rel)) for rel in _files()}
    for ds in (by_workers, by_thread):
        ds.upload(show_progress=False)
        ds.finalize()
    assert read_tree(Dataset.get(by_workers.id, store=by_workers._v.store).get_local_copy(show_progress=False)) == _files()
    assert _reaped(pools)


def test_a_second_add_sends_only_what_the_stat_cache_does_not_know(tmp_path: Path, pools: list[Hashing],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dagstore.core.statcache._RACY_SECONDS", 0.0)  # files just written are remembered
    src = write_tree(tmp_path / "src", _files())
    _add(tmp_path, "a", src)
    sent: list[int] = []
    real = Hashing.submit
    monkeypatch.setattr(Hashing, "submit", lambda self, files: sent.append(len(files)) or real(self, files))
    (src / "d0" / "sub0" / "f000.bin").write_bytes(b"changed")
    st = Store(str(tmp_path / "a" / "store"), cache_dir=str(tmp_path / "a" / "cache"))
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(str(src), show_progress=False)
    assert sum(sent) == 1
    assert {e.relative_path: e.hash for e in ds.file_entries}["d0/sub0/f000.bin"] == hash_file(str(src / "d0/sub0/f000.bin"))[0]


def test_a_file_gone_before_its_worker_reads_it_refuses_the_call(tmp_path: Path, pools: list[Hashing],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", _files())
    gone: list[str] = []
    real = Pool._send

    def send(self: Pool, proc, job: int, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if job == 4:
            victim = pools[0]._jobs[4][0][0].path
            os.unlink(victim)
            gone.append(victim)
        real(self, proc, job, data)

    monkeypatch.setattr(Pool, "_send", send)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("d", "p", store=st)
    with pytest.raises(InvalidPathError, match=r": cannot read: No such file or directory$") as err:
        ds.add_files(str(src), show_progress=False)
    assert gone and str(err.value).startswith(gone[0])
    assert ds.list_files() == [] and ds._v.staged is None
    assert _reaped(pools)


def test_a_worker_killed_mid_walk_is_a_clear_error_and_the_next_add_completes(tmp_path: Path, pools: list[Hashing],
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", _files())
    real = Pool._send
    killed: list[int] = []

    def send(self: Pool, proc, job: int, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if job == 5:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed.append(proc.pid)
        real(self, proc, job, data)

    monkeypatch.setattr(Pool, "_send", send)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("d", "p", store=st)
    with pytest.raises(DagstoreError, match=r"^add_files's worker process \d+ ended with status -9 before its work was done.*nothing was staged"):
        ds.add_files(str(src), show_progress=False)
    assert killed and ds.list_files() == [] and ds._v.staged is None
    assert _reaped(pools)
    monkeypatch.setattr(Pool, "_send", real)
    ds.add_files(str(src), show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(ds.get_local_copy(show_progress=False)) == _files()


def test_a_loop_found_after_jobs_were_sent_raises_and_reaps_the_workers(tmp_path: Path, pools: list[Hashing]) -> None:
    src = write_tree(tmp_path / "src", _files())
    os.symlink(src, src / "d3" / "zz-loop")  # listed last: jobs are out before the walk finds it
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("d", "p", store=st)
    with pytest.raises(InvalidPathError, match="symbolic link loop"):
        ds.add_files(str(src), show_progress=False)
    assert len(pools) == 1 and _reaped(pools)
    assert ds.list_files() == [] and ds._v.staged is None


def test_workers_that_cannot_start_or_few_files_leave_the_hashing_to_this_process(tmp_path: Path, pools: list[Hashing],
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", _files())
    monkeypatch.setattr(Pool, "SCRIPT", str(tmp_path / "missing.py"))  # the interpreter cannot run it: no READY
    monkeypatch.setattr("dagstore.core.staging.RACY_NS", 0)
    ds = _add(tmp_path, "a", src)
    assert len(pools) == 1 and pools[0]._unstarted and _reaped(pools)
    assert {e.relative_path: e.hash for e in ds.file_entries} == {rel: hash_file(str(src / rel))[0] for rel in _files()}
    staged = ds._v.staged
    assert staged is not None and staged._planned == 0 and _spooled(ds) == _spooled(_add(tmp_path, "t", src, max_workers=1))
    monkeypatch.setattr(scan_mod, "_CHUNK_FILES", 2048)
    _add(tmp_path, "b", src)
    assert len(pools) == 1


def test_a_walk_of_large_files_is_left_to_the_threads(tmp_path: Path, pools: list[Hashing]) -> None:
    src = write_tree(tmp_path / "src", {f"f{i}": bytes([i]) * (64 << 10) for i in range(12)})
    _add(tmp_path, "a", src)
    assert pools == []
    (src / "f0").write_bytes(b"small")  # now under 64 KiB on average: workers
    _add(tmp_path, "b", src)
    assert len(pools) == 1


def test_a_failed_add_gives_back_the_keep_budget_it_planned(tmp_path: Path, pools: list[Hashing],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", _files())
    monkeypatch.setattr("dagstore.core.staging.RACY_NS", 0)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(str(src / "d0"), show_progress=False, dataset_path="first")  # the draft's spool now exists
    staged = ds._v.staged
    assert staged is not None and staged._planned == 0
    real = Pool._send

    def send(self: Pool, proc, job: int, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if job == 3:
            os.unlink(pools[-1]._jobs[3][0][0].path)
        real(self, proc, job, data)

    monkeypatch.setattr(Pool, "_send", send)
    with pytest.raises(InvalidPathError, match="cannot read"):
        ds.add_files(str(src), show_progress=False, dataset_path="second")
    assert ds._v.staged is staged and staged._planned == 0
    assert sorted(ds.list_files()) == sorted(f"first/{p[3:]}" for p in _files() if p.startswith("d0/"))
