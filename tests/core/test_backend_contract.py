"""The backend contract: one class of behaviour tests that every backend must pass (local
folder, S3, GCS, Azure; each a real server), in the manner of zarr's StoreTests and restic's
backend tests. ``--backends=local`` (or any list) selects the backends, as for every test."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from dagstore.core.backend import Backend, open_backend
from dagstore.errors import InvalidPathError


@pytest.fixture
def be(store_url) -> Backend:
    url, opts = store_url
    backend = open_backend(url, opts)
    ensure = getattr(backend, "ensure_root", None)
    if ensure:
        ensure()
    return backend


class TestBackendContract:
    def test_a_missing_key_is_file_not_found(self, be: Backend) -> None:
        with pytest.raises(FileNotFoundError):
            be.read("nothing/here")
        assert not be.exists("nothing/here")

    def test_write_then_read_and_replace(self, be: Backend) -> None:
        be.write("a/b/obj", b"first")
        assert be.read("a/b/obj") == b"first"
        be.write("a/b/obj", b"second, longer")
        assert be.read("a/b/obj") == b"second, longer"
        assert be.exists("a/b/obj") and be.size("a/b/obj") == len(b"second, longer")

    def test_put_if_absent_writes_once(self, be: Backend) -> None:
        assert be.write_new("claims/v1", b"mine") is True
        assert be.write_new("claims/v1", b"theirs") is False
        assert be.read("claims/v1") == b"mine"

    def test_chunks_and_spools_become_one_object(self, be: Backend) -> None:
        be.write_chunks("packs/ab/chunked", [b"one ", b"two ", b"three"])
        assert be.read("packs/ab/chunked") == b"one two three"
        spool = be.open_spool("packs")
        spool.write(b"spooled ")
        spool.write(b"bytes")
        spool.commit("packs/cd/spooled")
        assert be.read("packs/cd/spooled") == b"spooled bytes"

    def test_an_aborted_spool_leaves_nothing(self, be: Backend) -> None:
        spool = be.open_spool("packs")
        spool.write(b"never committed")
        spool.abort()
        assert be.list("packs") == [] and be.list_temp("packs") == []

    def test_ranges_read_exact_bytes(self, be: Backend) -> None:
        be.write("r/obj", bytes(range(256)))
        assert be.read_ranges([("r/obj", 0, 4), ("r/obj", 250, 256), ("r/obj", 10, 10)]) == [b"\x00\x01\x02\x03", bytes(range(250, 256)), b""]
        assert be.read_range("r/obj", 100, 103) == bytes([100, 101, 102])

    def test_read_many_leaves_out_absent_keys(self, be: Backend) -> None:
        be.write("m/1", b"one")
        be.write("m/2", b"two")
        assert be.read_many(["m/1", "m/2", "m/3"]) == {"m/1": b"one", "m/2": b"two"}
        assert be.read_many([]) == {}

    def test_list_is_recursive_sorted_and_scoped_to_the_prefix(self, be: Backend) -> None:
        for key in ("p/b/2", "p/a", "p/b/1", "pq/x", "other/y"):
            be.write(key, b".")
        assert be.list("p") == ["p/a", "p/b/1", "p/b/2"]
        assert be.list("absent") == []

    def test_delete_removes_and_tolerates_missing_keys(self, be: Backend) -> None:
        be.write("d/1", b"x")
        be.write("d/2", b"y")
        be.delete(["d/1", "d/never"])
        assert be.list("d") == ["d/2"]
        be.delete([])
        assert be.read("d/2") == b"y"

    def test_files_round_trip_with_progress(self, be: Backend, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        data = bytes(range(256)) * 4096  # 1 MiB
        src.write_bytes(data)
        sent: list[int] = []
        be.put_file(str(src), "objects/ab/file", callback=sent.append)
        assert sum(sent) == len(data)
        got: list[int] = []
        dst = tmp_path / "dst.bin"
        be.get_file("objects/ab/file", str(dst), callback=got.append)
        assert dst.read_bytes() == data and sum(got) == len(data)

    def test_open_is_a_seekable_reader(self, be: Backend) -> None:
        be.write("o/obj", b"0123456789")
        with be.open("o/obj") as f:
            f.seek(4)
            assert f.read(3) == b"456"
            f.seek(-2, io.SEEK_END)
            assert f.read() == b"89"

    def test_mtime_is_the_time_of_the_write(self, be: Backend) -> None:
        before = time.time()
        be.write("t/obj", b"now")
        assert before - 5 <= be.mtime("t/obj") <= time.time() + 5  # server clocks may round

    @pytest.mark.parametrize("key", ["../escape", "/absolute", "a//b", "a/./b", "a\\b", ""])
    def test_keys_that_could_leave_the_root_are_refused(self, be: Backend, key: str) -> None:
        with pytest.raises(InvalidPathError):
            be.write(key, b"x")
        with pytest.raises(InvalidPathError):
            be.read(key)
