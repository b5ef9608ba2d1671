"""export/filewriter.py: many files made by a helper process, with every failure raised as it was."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dagstore
from dagstore.export import filewriter
from dagstore.export.filewriter import SPAWN_AFTER, FileWriter


def _many(w: FileWriter, root: Path, n: int) -> None:
    for i in range(n):
        w.write(str(root / f"f{i}"), f"file {i}\n".encode())


def test_past_the_threshold_a_helper_makes_the_files(tmp_path: Path) -> None:
    w = FileWriter()
    _many(w, tmp_path, SPAWN_AFTER + 500)
    w.link(str(tmp_path / "f3"), str(tmp_path / "l3"))
    w.write(str(tmp_path / "big"), b"x" * 300_000)  # larger than a batch: written here
    assert w.helped
    w.close()
    assert not w.helped
    assert len(list(tmp_path.glob("f*"))) == SPAWN_AFTER + 500
    assert all((tmp_path / f"f{i}").read_bytes() == f"file {i}\n".encode() for i in range(SPAWN_AFTER + 500))
    assert os.stat(tmp_path / "l3").st_ino == os.stat(tmp_path / "f3").st_ino
    assert (tmp_path / "big").read_bytes() == b"x" * 300_000
    assert stat.S_IMODE(os.stat(tmp_path / "f0").st_mode) == 0o644 & ~_umask()


def test_below_the_threshold_calls_are_made_here_at_once(tmp_path: Path) -> None:
    w = FileWriter()
    _many(w, tmp_path, 10)
    assert not w.helped and (tmp_path / "f9").read_bytes() == b"file 9\n"
    with pytest.raises(FileExistsError):
        w.write(str(tmp_path / "f1"), b"again")
    assert (tmp_path / "f1").read_bytes() == b"file 1\n"


@pytest.mark.parametrize("spawn_after", [0, None])
def test_an_existing_file_is_a_file_exists_error_naming_it(tmp_path: Path, spawn_after: int | None) -> None:
    (tmp_path / "taken").write_bytes(b"old")
    w = FileWriter(spawn_after)
    with pytest.raises(FileExistsError) as exc:
        w.write(str(tmp_path / "taken"), b"new")
        w.close()
    assert exc.value.filename == str(tmp_path / "taken")
    assert (tmp_path / "taken").read_bytes() == b"old"


def test_a_missing_link_source_is_a_file_not_found_error(tmp_path: Path) -> None:
    (tmp_path / "src.jpg").write_bytes(b"x")
    w = FileWriter(spawn_after=0)
    w.link(str(tmp_path / "src.jpg"), str(tmp_path / "before.jpg"))
    w.link(str(tmp_path / "missing.jpg"), str(tmp_path / "out.jpg"))
    w.link(str(tmp_path / "src.jpg"), str(tmp_path / "after.jpg"))
    with pytest.raises(FileNotFoundError) as exc:
        w.close()
    assert exc.value.filename == str(tmp_path / "missing.jpg") and exc.value.filename2 == str(tmp_path / "out.jpg")
    assert (tmp_path / "before.jpg").exists() and not (tmp_path / "after.jpg").exists()  # the helper stops at the failure


def test_a_failure_is_raised_while_writing_once_the_helper_stopped(tmp_path: Path) -> None:
    (tmp_path / "taken").write_bytes(b"old")
    w = FileWriter(spawn_after=0)
    w.write(str(tmp_path / "taken"), b"new")
    with pytest.raises(FileExistsError):  # the helper's pipe breaks: raised before close()
        for i in range(10_000):
            w.write(str(tmp_path / f"n{i}"), b"y" * 1000)
    assert not w.helped


def test_across_file_systems_links_become_copies(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev, "the test needs /dev/shm on another file system"
    src = shm / f"dagstore-filewriter-{os.getpid()}"
    src.write_bytes(b"content")
    try:
        for spawn_after in (0, None):
            w = FileWriter(spawn_after)
            w.link(str(src), str(tmp_path / f"copy{spawn_after}"))
            w.link(str(src), str(tmp_path / f"copy{spawn_after}b"))
            w.close()
            copy = os.stat(tmp_path / f"copy{spawn_after}")
            assert copy.st_ino != os.stat(src).st_ino and (tmp_path / f"copy{spawn_after}").read_bytes() == b"content"
            assert (tmp_path / f"copy{spawn_after}b").read_bytes() == b"content"
    finally:
        src.unlink()


def test_abort_stops_the_helper_before_returning(tmp_path: Path) -> None:
    w = FileWriter(spawn_after=0)
    _many(w, tmp_path, 3000)
    procs = list(w._procs)
    assert len(procs) == 2
    w.abort()
    assert all(p.poll() is not None for p in procs) and not w.helped
    before = sorted(os.listdir(tmp_path))
    assert sorted(os.listdir(tmp_path)) == before  # nothing is written any more
    w.close()  # nothing left to wait for


def test_a_close_interrupted_while_waiting_stops_the_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = FileWriter(spawn_after=0)
    _many(w, tmp_path, 3000)
    procs = list(w._procs)
    assert len(procs) == 2

    def interrupted(proc: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(filewriter, "_failure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        w.close()
    assert all(p.poll() is not None for p in procs) and not w.helped  # the owner may now remove the folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_links_and_writes_in_many_folders_across_batches(tmp_path: Path) -> None:
    for sub in ("src", "images", "labels"):
        (tmp_path / sub).mkdir()
    (tmp_path / "src" / "0.jpg").write_bytes(b"0")
    (tmp_path / "src" / "1.jpg").write_bytes(b"1")
    w = FileWriter(spawn_after=0)
    for i in range(3000):
        w.link(str(tmp_path / "src" / f"{i % 2}.jpg"), str(tmp_path / "images" / f"{i}.jpg"))
        w.write(str(tmp_path / "labels" / f"{i}.txt"), b"0 0.5 0.5 0.1 0.1\n" * (i % 3))
    assert w.helped
    w.close()
    assert all(os.stat(tmp_path / "images" / f"{i}.jpg").st_ino == os.stat(tmp_path / "src" / f"{i % 2}.jpg").st_ino for i in range(3000))
    assert all((tmp_path / "labels" / f"{i}.txt").read_bytes() == b"0 0.5 0.5 0.1 0.1\n" * (i % 3) for i in range(3000))


def test_names_without_a_folder_are_made_in_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "source.jpg").write_bytes(b"media")
    w = FileWriter(spawn_after=0)
    w.write("alone.txt", b"here")
    w.link("source.jpg", "linked.jpg")
    w.close()
    assert (tmp_path / "alone.txt").read_bytes() == b"here"
    assert os.stat(tmp_path / "linked.jpg").st_ino == os.stat(tmp_path / "source.jpg").st_ino


def test_a_folder_gone_before_its_helper_opens_it_is_named(tmp_path: Path) -> None:
    w = FileWriter(spawn_after=0)
    w.write(str(tmp_path / "gone" / "a.txt"), b"1")  # the folder does not exist
    with pytest.raises(FileNotFoundError) as exc:
        w.close()
    assert exc.value.filename == str(tmp_path / "gone")


def test_files_and_links_in_more_folders_than_a_helper_may_hold_open(tmp_path: Path) -> None:
    """A helper keeps at most half its descriptor limit of folders open and uses the others by
    path: with a limit of 256 (macOS's default; at Linux's 1024 a helper failed at its ~1,020th folder), files
    and links in 1,200 folders are made (run in a child: the limit is its helpers' too)."""
    script = textwrap.dedent("""
        import os, resource, sys
        from dagstore.export.filewriter import FileWriter
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        root, src = sys.argv[1], sys.argv[2]
        w = FileWriter(spawn_after=0)
        for i in range(1200):
            os.makedirs(f"{root}/c{i}")
            w.write(f"{root}/c{i}/a.txt", b"file %d" % i)
            w.link(f"{src}/s{i % 7}.bin", f"{root}/c{i}/b.bin")
        assert w.helped
        w.close()
    """)
    src = tmp_path / "src"
    src.mkdir()
    for k in range(7):
        (src / f"s{k}.bin").write_bytes(b"source %d" % k)
    env = {**os.environ, "PYTHONPATH": str(Path(dagstore.__file__).resolve().parents[1])}
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out"), str(src)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    for i in range(1200):
        assert (tmp_path / "out" / f"c{i}" / "a.txt").read_bytes() == b"file %d" % i
        assert os.stat(tmp_path / "out" / f"c{i}" / "b.bin").st_ino == os.stat(src / f"s{i % 7}.bin").st_ino
