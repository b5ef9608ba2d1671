"""Pack indexes as columns in the cache (core/packindex.py): lookups answer as the decoded
indexes do, and a damaged or missing columns file is rebuilt from the index, never trusted."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from dagstore.core import packindex
from dagstore.core.packs import BlobLocation, WrittenIndex
from helpers import write_tree


def _version(st: Store, src: Path, files: dict[str, bytes | str]) -> Dataset:
    write_tree(src, files)
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False, chunk_size=0.001)  # packs of ~1 KB: several packs
    ds.finalize()
    return ds


def _store(tmp_path: Path) -> tuple[Store, Dataset]:
    st = Store(str(tmp_path / "store"))
    return st, _version(st, tmp_path / "src", {f"f{i}.bin": os.urandom(300 + i) for i in range(12)})


def test_a_lookup_answers_as_the_whole_index_does(tmp_path: Path) -> None:
    st, ds = _store(tmp_path)
    be = st.backend
    whole = st.pack_index(be)
    assert len({loc.pack for loc in whole.values()}) > 2
    wanted = sorted(whole)[::2] + ["0" * 32, "f" * 32, "nothex", ""]
    assert st.pack_index(be, only=wanted) == {h: whole[h] for h in wanted if h in whole}
    cols = Path(st.cache.root) / "meta" / "index-cols"
    assert sorted(os.listdir(cols)) == sorted({loc.pack for loc in whole.values()})
    assert st.pack_index(be, only=wanted) == {h: whole[h] for h in wanted if h in whole}  # from the columns now
    assert st.pack_index(be, ds._v.record.packs[:1], only=list(whole)) == {
        h: loc for h, loc in whole.items() if loc.pack == ds._v.record.packs[0]}


@pytest.mark.parametrize("damage", ["truncate", "unsorted", "codec", "magic", "empty", "hash-bit", "offset-bit"])
def test_a_damaged_columns_file_is_rebuilt_from_the_index(tmp_path: Path, damage: str) -> None:
    st, ds = _store(tmp_path)
    whole = st.pack_index(st.backend)
    st.pack_index(st.backend, only=list(whole))
    pid = ds._v.record.packs[0]
    path = Path(st.cache.root) / "meta" / "index-cols" / pid
    data = path.read_bytes()
    head = 24  # magic, n, digest
    n = (len(data) - head) // 41
    assert n >= 2
    if damage == "truncate":
        data = data[:-1]
    elif damage == "unsorted":
        hashes = data[head : head + 16 * n]
        data = data[:head] + hashes[16:32] + hashes[:16] + hashes[32:] + data[head + 16 * n :]
    elif damage in ("hash-bit", "offset-bit"):  # still sorted, right length, plausible values: only the digest tells
        at = head + 15 if damage == "hash-bit" else head + 16 * n
        data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    elif damage == "codec":
        data = data[:-1] + b"\x07"
    elif damage == "magic":
        data = b"X" + data[1:]
    else:
        data = b""
    path.write_bytes(data)
    assert packindex.decode(pid, data) is None
    later = Store(str(tmp_path / "store"))  # another process: not the one whose upload wrote the pack
    assert later.pack_index(later.backend, only=list(whole)) == whole
    assert packindex.decode(pid, path.read_bytes()) is not None  # rewritten from the index


def test_upload_sends_only_what_no_pack_holds_with_or_without_columns(tmp_path: Path) -> None:
    st, ds = _store(tmp_path)
    for cols_present in (True, False):
        if not cols_present:
            for f in (Path(st.cache.root) / "meta" / "index-cols").iterdir():
                f.write_bytes(b"damaged")
        src = write_tree(tmp_path / f"again-{cols_present}", {"new.txt": f"new {cols_present}"})
        child = Dataset.create("d", "p", parent_datasets=[ds.id], store=st)
        child.add_files(ds.get_local_copy(), dataset_path="copy", show_progress=False)  # stored content, new paths
        child.add_files(src, show_progress=False)
        child.upload(show_progress=False)
        child.finalize()
        assert len(child.list_added_files()) == 13
        new_packs = set(child._v.record.packs) - set(ds._v.record.packs)
        locs = st.pack_index(st.backend, new_packs)
        assert len(locs) == 1  # only the new file's blob was sent


def test_encode_and_decode_round_trip() -> None:
    locs = {f"{i:032x}": BlobLocation("p", i * 10, i + 1, i + 2, i % 2) for i in (5, 1, 3)}
    cols = packindex.decode("p", packindex.encode(locs))
    assert cols is not None
    wanted = sorted(locs) + [f"{9:032x}"]
    hit, rows = cols.find(packindex.wanted_array(sorted(wanted)))
    assert {sorted(wanted)[i]: cols.location(int(r)) for i, r in zip(hit, rows)} == locs
    empty = packindex.decode("p", packindex.encode({}))
    assert empty is not None and [len(x) for x in empty.find(packindex.wanted_array(wanted))] == [0, 0]


def test_the_columns_of_a_written_index_are_the_bytes_of_its_locations() -> None:
    rng = random.Random(7)
    locs = {f"{rng.getrandbits(128):032x}": BlobLocation("p", rng.randrange(1 << 40), rng.randrange(1 << 30),
                                                           rng.randrange(1 << 30), rng.randrange(2)) for _ in range(500)}
    assert packindex.encode_written(WrittenIndex.of(locs)) == packindex.encode(locs)
    assert packindex.encode_written(WrittenIndex.of({})) == packindex.encode({})
    cols = packindex.decode("p", packindex.encode_written(WrittenIndex.of(locs)))
    assert cols is not None and cols.location(0) == locs[min(locs)]


def test_an_upload_leaves_the_columns_of_the_packs_it_wrote(tmp_path: Path) -> None:
    st, ds = _store(tmp_path)
    cols = Path(st.cache.root) / "meta" / "index-cols"
    assert sorted(os.listdir(cols)) == sorted(ds._v.record.packs)  # a child's upload in another process reads them
    whole = st.pack_index(st.backend)
    for pid in ds._v.record.packs:
        got = packindex.decode(pid, (cols / pid).read_bytes())
        assert got is not None
        hit, rows = got.find(packindex.wanted_array(sorted(whole)))
        assert {sorted(whole)[i]: got.location(int(r)) for i, r in zip(hit, rows)} == {h: loc for h, loc in whole.items() if loc.pack == pid}
