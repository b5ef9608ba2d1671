"""Kept small files are spooled into unnamed files of the store itself, cut where a pack would
be cut: upload commits a segment holding exactly the blobs it sends as a pack, as it is (never
read back and written again); a segment with blobs the store already holds, or one upload was
asked to cut otherwise, is read back and packed as before. Nothing has a name in the store
before upload, and a draft never uploaded leaves nothing (full disks: tests/core/test_disk_full.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core import packs, staging
from dagstore.core.backend import local
from dagstore.core.hashing import hash_bytes
from dagstore.core.ops import commit, lookup, stage
from dagstore.core.version import Version
from helpers import noise, read_tree, write_tree

SEG = 8 << 10  # a small pack size: many segments from a small tree
CHUNK_MB = SEG / (1 << 20)  # upload(chunk_size=) of the same size: the segments are its packs


def _tree(n: int = 300, seed: str = "t") -> dict[str, bytes]:
    """Compressible and incompressible small files, kept by add_files (all under KEEP_BELOW)."""
    files = {f"d{i % 3}/t{i:03d}.txt": b"row %d %s\n" % (i, seed.encode()) * (20 + i) for i in range(n)}
    return files | {f"n/{i:03d}.bin": noise(f"{seed}{i}", 300 + 37 * i) for i in range(n // 3)}


@pytest.fixture(autouse=True)
def kept_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are kept by add_files however recently they were written."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))


@pytest.fixture
def read_back(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Hashes of the blobs upload reads back from the spool (to pack them again)."""
    seen: list[str] = []
    real = staging.Staged.read

    def read(self: staging.Staged, blobs: Any) -> Iterator[Any]:
        seen.extend(k.hash for k in blobs)
        yield from real(self, blobs)

    monkeypatch.setattr(staging.Staged, "read", read)
    return seen


def _draft(store: Path, src: Path, pack_size: int = SEG, name: str = "spool") -> Version:
    v = lookup.new_draft(Store(str(store)), name, "p", None, [], None, None, None)
    v.staged = staging.Staged(spool_dir=v.store.cache.root, store=v.store.content_backend(v.record), pack_size=pack_size)
    stage.add_files(v, src, None, None, None, True, None, False)
    v.staged.settle()  # every batch spooled (upload starts with this too)
    return v


def _named(store: Path) -> list[str]:
    """Every file under the store's packs/ and index/ folders (temp files included)."""
    return sorted(str(p.relative_to(store)) for d in ("packs", "index") if (store / d).is_dir() for p in (store / d).rglob("*") if p.is_file())


def _unnamed_in(folder: Path) -> list[str]:
    """This process's open files that are unnamed files in ``folder`` or below (O_TMPFILE: "#inode (deleted)")."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}/") and "/#" in target and target.endswith(" (deleted)"):
            out.append(target)
    return out


def _rows(store: Path) -> dict[str, list[list[Any]]]:
    """Each pack's blob rows ``[hash, offset, length, raw length, codec]`` from its index object."""
    out = {}
    for p in (store / "index").rglob("*"):
        if p.is_file():
            out[p.name] = packs.parse_object(p.read_bytes(), p.name, compressed=True)["blobs"]
    return out


def test_kept_files_become_packs_as_spooled_and_are_never_read_back(tmp_path: Path, read_back: list[str]) -> None:
    src = write_tree(tmp_path / "src", _tree())
    store = tmp_path / "store"
    v = _draft(store, src)
    assert _named(store) == []  # nothing named in the store before upload ...
    assert len(_unnamed_in(store / "packs")) >= 5  # ... the spool is unnamed files of it
    commit.upload(v, False, None, None, CHUNK_MB, None, 3)
    commit.finalize(v)
    assert read_back == [] and _unnamed_in(store / "packs") == []
    st = Store(str(store))
    assert st.verify(read_data=True) == []
    got = Dataset.get(dataset_id=v.id, store=st)
    assert read_tree(got.get_local_copy(show_progress=False)) == read_tree(src)
    # the same files read back from a spool in the cache (an object store would): the same manifest and packs
    other = tmp_path / "other"
    w = lookup.new_draft(Store(str(other)), "spool", "p", None, [], None, None, None)
    w.staged = staging.Staged(spool_dir=tmp_path / "cache-spool", pack_size=SEG)
    stage.add_files(w, write_tree(tmp_path / "src2", _tree()), None, None, None, True, None, False)
    commit.upload(w, False, None, None, CHUNK_MB, None, 3)
    commit.finalize(w)
    assert len(read_back) == len({hash_bytes(d) for d in _tree().values()})  # all of them read back there
    assert w.record.manifest == v.record.manifest
    assert sorted(map(str, _rows(store).values())) == sorted(map(str, _rows(other).values()))
    entries = sorted(got.file_entries, key=lambda e: e.relative_path)
    where = st.locations(st.chain(v.id))
    order = [where[e.hash][1].pack for e in entries]
    assert 1 + sum(a != b for a, b in zip(order, order[1:])) == len(set(order)) >= 5, "a pack's files are not one run of the path order"


def test_segments_with_blobs_the_store_holds_are_read_back_and_no_blob_is_stored_twice(tmp_path: Path, read_back: list[str]) -> None:
    store = tmp_path / "store"
    first = _tree(seed="a")
    v = _draft(store, write_tree(tmp_path / "a", first))
    commit.upload(v, False, None, None, CHUNK_MB, None, 3)
    commit.finalize(v)
    second = {p: d for i, (p, d) in enumerate(first.items()) if i % 7 == 0} | {f"new/{p}": d for p, d in _tree(seed="b").items()}
    w = _draft(store, write_tree(tmp_path / "b", second), name="again")  # another folder: every file read and kept
    commit.upload(w, False, None, None, CHUNK_MB, None, 3)
    commit.finalize(w)
    stored = [h for rows in _rows(store).values() for h, *_rest in rows]
    assert len(stored) == len(set(stored)) == len({hash_bytes(d) for d in (first | second).values()})
    held = {hash_bytes(d) for d in first.values()}
    assert read_back and not held & set(read_back)  # only the mixed segments' new blobs were read back
    assert Store(str(store)).verify(read_data=True) == []
    assert read_tree(Dataset.get(dataset_id=w.id, store=str(store)).get_local_copy(show_progress=False)) == second


def test_another_pack_size_or_compression_at_upload_reads_the_spool_back(tmp_path: Path, read_back: list[str]) -> None:
    src = write_tree(tmp_path / "src", _tree())
    v = _draft(tmp_path / "store", src)
    commit.upload(v, False, None, None, 2 * CHUNK_MB, None, 3)  # packs twice the segments' size
    commit.finalize(v)
    assert len(read_back) == len({hash_bytes(d) for d in _tree().values()})
    assert _unnamed_in(tmp_path / "store" / "packs") == []
    assert read_tree(Dataset.get(dataset_id=v.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == read_tree(src)


def test_past_the_unnamed_file_limit_the_spool_goes_on_in_the_cache(tmp_path: Path, read_back: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "_MAX_PACK_FILES", 2)
    src = write_tree(tmp_path / "src", _tree())
    v = _draft(tmp_path / "store", src)
    assert len(_unnamed_in(tmp_path / "store" / "packs")) == 2
    commit.upload(v, False, None, None, CHUNK_MB, None, 3)
    commit.finalize(v)
    assert 0 < len(read_back) < len({hash_bytes(d) for d in _tree().values()})  # the first two segments were not
    assert Store(str(tmp_path / "store")).verify(read_data=True) == []
    assert read_tree(Dataset.get(dataset_id=v.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == read_tree(src)


def test_an_object_store_spools_in_the_cache_folder(tmp_path: Path, read_back: list[str]) -> None:
    src = write_tree(tmp_path / "src", _tree(60))
    ds = Dataset.create("mem", "p", store=Store("memory://spool-packs-test", cache_dir=str(tmp_path / "cache")))
    ds.add_files(src, show_progress=False)
    ds._v.staged.settle()
    assert len(_unnamed_in(tmp_path / "cache")) == 1  # one unnamed temp file of the cache folder
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(read_back) == len({hash_bytes(d) for d in _tree(60).values()})
    assert read_tree(ds.get_local_copy(show_progress=False)) == read_tree(src)


def test_a_draft_never_uploaded_leaves_nothing_in_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    v = _draft(store, write_tree(tmp_path / "src", _tree()))
    assert _unnamed_in(store / "packs")
    assert v.staged is not None
    v.staged.close()  # the draft is dropped (as when its process ends)
    assert _unnamed_in(store / "packs") == [] and _named(store) == []


def test_without_unnamed_files_the_spool_goes_on_in_the_cache(tmp_path: Path, read_back: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform without O_TMPFILE or /proc/self/fd (macOS, Windows) spools in the cache as before."""
    monkeypatch.setattr(local, "_TMPFILE", 0)
    src = write_tree(tmp_path / "src", _tree(60))
    v = _draft(tmp_path / "store", src)
    assert _unnamed_in(tmp_path / "store" / "packs") == [] and len(_unnamed_in(v.store.cache.root)) == 1
    commit.upload(v, False, None, None, CHUNK_MB, None, 3)
    commit.finalize(v)
    assert len(read_back) == len({hash_bytes(d) for d in _tree(60).values()})
    assert read_tree(Dataset.get(dataset_id=v.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == read_tree(src)


def test_an_upload_to_another_store_reads_the_spool_back(tmp_path: Path, read_back: list[str]) -> None:
    """The spool's segments are unnamed files of the draft's store: an upload to another content
    store (output_url) packs their blobs again there, and leaves no file in the draft's store."""
    src = write_tree(tmp_path / "src", _tree(60))
    v = _draft(tmp_path / "store", src)
    commit.upload(v, False, str(tmp_path / "content"), None, CHUNK_MB, None, 3)
    commit.finalize(v)
    assert len(read_back) == len({hash_bytes(d) for d in _tree(60).values()})
    assert _unnamed_in(tmp_path / "store" / "packs") == [] and _named(tmp_path / "store") == []
    assert read_tree(Dataset.get(dataset_id=v.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == read_tree(src)
