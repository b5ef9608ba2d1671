"""The local folder backend makes every stored object durable before it is named: each pack,
index and large object is fsynced as a temp file, then renamed into place (docs/format.md,
"Rules that make concurrency and crashes safe", rule 2), so a version recorded after its
content never names an object a crash could leave empty."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, StorageError
from dagstore.core.backend import local
from dagstore.core.backend.local import LocalBackend
from helpers import noise, write_tree

MiB = 1 << 20


def test_every_pack_index_and_large_object_is_fsynced_before_it_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "src", {**{f"s/{i:03d}.txt": b"row %d\n" % i * 40 for i in range(200)},
                                        "mid.bin": noise("mid", 100_000), "big/a.bin": noise("a", (4 << 20) + 1),
                                        "big/b.bin": noise("b", 6 << 20)})
    store = tmp_path / "store"
    ds = Dataset.create("durable", "p", store=str(store))
    ds.add_files(src, show_progress=False)
    synced: set[tuple[int, int]] = set()
    renamed: dict[str, bool] = {}
    lock = threading.Lock()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        st = os.fstat(fd)
        with lock:
            synced.add((st.st_dev, st.st_ino))

    def replace(src_path: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        st = os.stat(src_path)
        with lock:
            renamed[os.fspath(dst)] = (st.st_dev, st.st_ino) in synced
        real_replace(src_path, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    ds.upload(show_progress=False)
    monkeypatch.undo()
    ds.finalize()
    stored = [p for kind in ("objects", "packs", "index") for p in (store / kind).rglob("*") if p.is_file()]
    assert len([p for p in stored if "/objects/" in p.as_posix()]) == 2 and any("/packs/" in p.as_posix() for p in stored)
    assert {str(p): renamed.get(str(p)) for p in stored} == {str(p): True for p in stored}


class _Spy:
    """libc whose ``sync_file_range`` calls are recorded (and made) in ``events``."""

    def __init__(self, libc: Any, events: list[tuple[Any, ...]]):
        self._libc, self._events = libc, events

    def sync_file_range(self, fd: int, offset: int, nbytes: int, flags: int) -> int:
        self._events.append(("writeback", offset, nbytes, flags))
        return int(self._libc.sync_file_range(fd, offset, nbytes, flags))


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch, events: list[tuple[Any, ...]]) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _put(tmp_path: Path, data: bytes) -> tuple[LocalBackend, Path]:
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    be = LocalBackend(tmp_path / "store")
    be.put_file(str(src), "objects/ab/big")
    return be, tmp_path / "store" / "objects" / "ab" / "big"


def test_a_large_object_is_copied_a_chunk_at_a_time_each_chunk_sent_to_the_disk_before_the_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk writes while the copy goes on: each chunk's writeback starts as soon as it is
    copied, so the fsync before the rename waits for the last chunk, not the whole file."""
    events: list[tuple[Any, ...]] = []
    monkeypatch.setattr(local, "_CHUNK", MiB)
    monkeypatch.setattr(local, "_LIBC", _Spy(local._LIBC, events))
    _record_fsyncs(monkeypatch, events)
    data = noise("big", 5 * MiB // 2)
    be, stored = _put(tmp_path, data)
    assert events == [("writeback", 0, MiB, 2), ("writeback", MiB, MiB, 2), ("writeback", 2 * MiB, MiB // 2, 2),
                      ("fsync", len(data))]
    assert stored.read_bytes() == data and be.list_temp("") == []


@pytest.mark.parametrize("why", ["the kernel refuses sendfile", "a sandbox forbids sendfile", "not linux"])
def test_without_the_kernel_copy_a_large_object_is_copied_by_reads_and_writes_and_still_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    if why == "not linux":
        monkeypatch.setattr(local, "_LIBC", None)
    else:
        def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
            raise OSError(errno.EINVAL, "Invalid argument") if why == "the kernel refuses sendfile" else OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "sendfile", sendfile)
    events: list[tuple[Any, ...]] = []
    _record_fsyncs(monkeypatch, events)
    data = noise("fallback", 3 * MiB + 5)
    be, stored = _put(tmp_path, data)
    assert events == [("fsync", len(data))]
    assert stored.read_bytes() == data and be.list_temp("") == []


def test_a_copy_failing_halfway_is_one_error_and_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read or write error after the first chunk is not taken for a kernel without sendfile: the
    put fails, nothing is named, no temp file is left, and a retry stores the object."""
    monkeypatch.setattr(local, "_CHUNK", MiB)
    real_sendfile = os.sendfile
    calls = []

    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", sendfile)
    with pytest.raises(StorageError, match=r"cannot write objects/ab/big: Input/output error; nothing was published"):
        _put(tmp_path, noise("half", 3 * MiB))
    be = LocalBackend(tmp_path / "store")
    assert len(calls) == 2 and not be.exists("objects/ab/big") and be.list_temp("") == []
    monkeypatch.undo()
    be.put_file(str(tmp_path / "big.bin"), "objects/ab/big")
    assert be.read("objects/ab/big") == noise("half", 3 * MiB)
