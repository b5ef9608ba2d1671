"""The worker side of a fan-out run in this process: what a task returns and what a worker
process keeps between its tasks (no cluster: the functions a worker runs, called directly)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagstore import InvalidPathError, Store
from dagstore.core import fanout, fanscan, layout
from dagstore.core.hashing import hash_bytes


@pytest.fixture
def ref(tmp_path: Path) -> Iterator[fanout.StoreRef]:
    """A fresh local store, and a worker process's state forgotten before and after."""
    Store(str(tmp_path / "store"))
    fanout._stores.clear()
    fanout._indexes.clear()
    yield fanout.StoreRef(str(tmp_path / "store"), {})
    fanout._stores.clear()
    fanout._indexes.clear()


def _files(root: Path, n: int, tag: str) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = root / f"f{i:03d}.bin"
        p.write_bytes(f"{tag} {i} ".encode() * (50 + i))
        out.append(p)
    return out


def test_a_task_returns_hashes_in_input_order_whether_given_or_hashed(tmp_path: Path, ref: fanout.StoreRef) -> None:
    paths = _files(tmp_path / "src", 12, "x")
    want = [(hash_bytes(p.read_bytes()), p.stat().st_size) for p in paths]
    items = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns, want[i][0] if i % 3 == 0 else "") for i, p in enumerate(paths))
    frag = fanout.ingest(fanout.IngestTask(ref, items, 1, None))
    assert frag.hashes == want
    assert frag.blobs_sent == 12 and frag.packs  # the given ones too: the store held none of them
    assert frag.cpu > 0 and frag.seconds > 0


def test_a_folder_task_reports_its_files_sorted_and_its_cpu(tmp_path: Path, ref: fanout.StoreRef) -> None:
    _files(tmp_path / "src" / "b", 5, "b")
    _files(tmp_path / "src" / "a", 4, "a")
    task = fanscan.TreeTask(ref, ((str(tmp_path / "src"), "", None),), None, 1, None)
    frag = fanscan.ingest_tree(task)
    paths = frag.table["path"].to_pylist()
    assert paths == sorted(paths) and len(paths) == 9 and paths[0] == "a/f000.bin"
    assert frag.cpu > 0 and frag.blobs_sent == 9


def test_later_tasks_of_a_worker_reuse_its_index_without_copying_it(tmp_path: Path, ref: fanout.StoreRef) -> None:
    st, be = fanout.open_store(ref)
    _files(tmp_path / "src", 6, "same")
    first = fanscan.ingest_tree(fanscan.TreeTask(ref, ((str(tmp_path / "src"), "", None),), None, 1, None))
    assert first.blobs_sent == 6
    index = fanout.reusable(st, be)
    assert fanout.reusable(st, be) is index and len(index) == 6  # one mapping per worker process, grown in place
    again = fanscan.ingest_tree(fanscan.TreeTask(ref, ((str(tmp_path / "src"), "copy/", None),), None, 1, None))
    assert again.blobs_sent == 0 and again.packs == first.packs  # the same content: found, not packed again
    (pack,) = first.packs
    marked = fanout.reusable(st, be, frozenset({layout.pack_key(pack)}))
    assert marked == {} and len(index) == 6  # a pack gc marked is never reused; the worker's index keeps it
    third = fanscan.ingest_tree(fanscan.TreeTask(ref, ((str(tmp_path / "src"), "third/", None),), None, 1, None,
                                                 frozenset({layout.pack_key(pack)})))
    assert third.blobs_sent == 6 and third.packs.isdisjoint(first.packs)


def test_a_pack_gone_since_starts_a_new_index_and_leaves_the_old_one_whole(tmp_path: Path, ref: fanout.StoreRef) -> None:
    st, be = fanout.open_store(ref)
    _files(tmp_path / "src", 5, "gone")
    first = fanscan.ingest_tree(fanscan.TreeTask(ref, ((str(tmp_path / "src"), "", None),), None, 1, None))
    old = fanout.reusable(st, be)
    (pack,) = first.packs
    be.delete([layout.pack_key(pack), layout.index_key(pack)])  # as gc sweeps it
    assert fanout.reusable(st, be) == {} and len(old) == 5  # a task still holding the old mapping loses nothing mid-way
    again = fanscan.ingest_tree(fanscan.TreeTask(ref, ((str(tmp_path / "src"), "again/", None),), None, 1, None))
    assert again.blobs_sent == 5 and again.packs.isdisjoint(first.packs)  # stored again, not pointed at the gone pack


def test_a_folder_task_refuses_a_name_not_utf8_before_uploading(tmp_path: Path, ref: fanout.StoreRef) -> None:
    """One clear error (it passes through the fan-out as the worker raised it), and nothing stored."""
    _files(tmp_path / "src", 3, "u")
    with open(os.fsencode(str(tmp_path / "src")) + b"/caf\xe9.bin", "wb") as f:
        f.write(b"x")
    task = fanscan.TreeTask(ref, ((str(tmp_path / "src"), "", None),), None, 1, None)
    with pytest.raises(InvalidPathError, match=r"^'caf\\udce9.bin': the file name is not valid UTF-8; rename it$"):
        fanscan.ingest_tree(task)
    assert not list((tmp_path / "store" / "packs").glob("*"))
