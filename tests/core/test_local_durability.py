"""The local folder backend makes every stored object durable before it is named: each pack,
index and large object is fsynced as a temp file, then renamed into place (docs/format.md,
"Rules that make concurrency and crashes safe", rule 2), so a version recorded after its
content never names an object a crash could leave empty."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dagstore import Dataset
from helpers import noise, write_tree


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
