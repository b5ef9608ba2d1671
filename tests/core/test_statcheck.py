"""Upload's stat check of many kept files by a process of its own (``core.statworker``) while
upload packs, upload's thread checking from the other end: every change is found whichever side
checks the file, and a process that fails or cannot start leaves the whole check to upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.core import staging, statcheck, statworker, transfer
from dagstore.errors import InvalidPathError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import wait_until  # noqa: E402

N = 40


def kept_files(tmp_path: Path, n: int = N) -> tuple[list[transfer.Pending], list[bytes]]:
    """``n`` files in a few folders, with the stats they have now."""
    items = []
    for i in range(n):
        path = tmp_path / f"d{i % 4}" / f"f{i:03d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (i + 1))
        items.append(transfer.Pending("h", i + 1, str(path), 0))
    return items, [next(statworker.stats_of([p.local_path])) for p in items]


def change(items: list[transfer.Pending], positions: list[int]) -> None:
    for i in positions:
        if i % 2:
            os.unlink(items[i].local_path)
        else:
            Path(items[i].local_path).write_bytes(b"longer than before" * 20)


def check_all(items: list[transfer.Pending], stats: list[bytes]) -> tuple[bool, list[int]]:
    check = statcheck.StatCheck(items, stats)
    try:
        spawned = check.in_process
        check.run()
    finally:
        check.close()
    return spawned, check.changed()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statcheck, "_PROCESS_FROM", 1)
    monkeypatch.setattr(statcheck, "_CHECK", 3)
    monkeypatch.setattr(statcheck, "_PIECE", 4)  # paths written and stats compared over several pieces


@pytest.mark.parametrize("process_reached", [0, 7, 25, N])
def test_the_process_and_upload_thread_meet_and_find_every_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 small_chunks: None, process_reached: int) -> None:
    """Whatever the process has checked when upload's thread starts from the end, the two cover
    every file once, and a change on either side is found."""
    items, stats = kept_files(tmp_path)
    changed = [0, 5, 6, 19, 24, 31, 39]
    change(items, changed)
    real_done = statcheck._Process.done
    monkeypatch.setattr(statcheck._Process, "done", lambda self: min(real_done(self), process_reached) if real_done(self) >= 0 else -1)
    assert check_all(items, stats) == (True, changed)


def test_many_unchanged_files_are_checked_by_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None) -> None:
    items, stats = kept_files(tmp_path)
    seen: list[int] = []
    real = statcheck.changed
    monkeypatch.setattr(statcheck, "changed", lambda its, sts: seen.append(len(its)) or real(its, sts))
    monkeypatch.setattr(statcheck._Process, "done", lambda self: (self._proc.wait(), N)[1])  # it has done them all
    assert check_all(items, stats) == (True, [])
    assert seen == []  # upload's thread stat-ed none of them


def test_few_files_are_checked_without_a_process(tmp_path: Path) -> None:
    items, stats = kept_files(tmp_path)
    change(items, [3])
    assert statcheck._PROCESS_FROM > N
    assert check_all(items, stats) == (False, [3])


@pytest.mark.parametrize("script", ["import sys; sys.exit(3)", "import sys; sys.stdout.buffer.write(b'short')", "import time; time.sleep(60)"])
def test_a_failed_or_stuck_process_leaves_the_check_to_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               small_chunks: None, script: str) -> None:
    """A process that fails, answers too little or never answers: upload's thread checks every
    file itself (the stuck one is stopped once the thread has met it at the first file)."""
    items, stats = kept_files(tmp_path / "files")
    change(items, [2, 17, 38])
    bad = tmp_path / "bad.py"
    bad.write_text(script)
    monkeypatch.setattr(statworker, "__file__", str(bad))
    assert check_all(items, stats) == (True, [2, 17, 38])


def test_no_process_without_a_python_to_run_it_or_a_second_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_chunks: None) -> None:
    items, stats = kept_files(tmp_path)
    change(items, [1])
    with monkeypatch.context() as m:
        m.setattr(sys, "executable", "")
        assert check_all(items, stats) == (False, [1])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert check_all(items, stats) == (False, [1])


def test_a_file_changed_after_add_files_is_refused_when_a_process_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the kept files of an upload are checked by the process, and a change found
    there (size and mtime restored: only the change time tells) is refused."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))
    monkeypatch.setattr(statcheck, "_PROCESS_FROM", 1)
    started: list[int] = []
    real_start = statcheck._Process.start
    monkeypatch.setattr(statcheck._Process, "start", classmethod(lambda cls, paths: started.append(len(paths)) or real_start.__func__(cls, paths)))
    src = tmp_path / "src"
    for i in range(30):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.txt").write_text(f"file {i}\n" * 20)
    target = src / "d1" / "f4.txt"
    ds = Dataset.create("stat", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    st = os.stat(target)
    while os.stat(target).st_ctime_ns == st.st_ctime_ns:  # a change time the kernel's clock tells apart
        target.write_text("FILE 4\n" * 20)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(InvalidPathError, match="f4.txt: changed after it was added"):
        ds.upload(show_progress=False)
    assert started == [30]


_PARENT = """
import sys, time
from collections import namedtuple
from dagstore.core import statcheck
statcheck._cores = lambda: 2
item = namedtuple("item", "local_path hash")
proc = statcheck._Process.start([item(f"{sys.argv[1]}/missing{i}", "h") for i in range(int(sys.argv[2]))])
print(proc._proc.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (gone, or a zombie its new parent has not reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_the_process_stops_when_upload_is_killed(tmp_path: Path) -> None:
    """Upload killed (``kill -9``) while the process checks: the process stops at its next
    write, not after every file of a long list. It is paused from its start until its parent is
    dead, so the test does not depend on how fast it stats: it wrote all its stats if it ran on."""
    n = 100_000
    env = dict(os.environ, PYTHONPATH=str(Path(statcheck.__file__).parents[2]))
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path), str(n)], stdout=subprocess.PIPE, env=env)
    try:
        pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        os.kill(pid, signal.SIGSTOP)
        out = os.open(f"/proc/{pid}/fd/1", os.O_RDONLY)  # its answer file (unnamed)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]
    try:
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: _gone(pid), 60, what="the stat-check process to end")
        written = os.fstat(out).st_size // statworker.STAT.size
    finally:
        os.close(out)
    assert written < n, "the stat-check process ran on over every file after upload was killed"
