"""Pack indexes as columns in the cache (core/packindex.py): lookups answer as the decoded
indexes do, and a damaged or missing columns file is rebuilt from the index, never trusted."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import xxhash

from dagstore import Dataset, DraftError, FormatError, Store
from dagstore.core import layout, packindex
from dagstore.core.packs import BlobLocation, PackWriter, decode_header, encode_header, index_columns
from helpers import index_columns_of, write_tree


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


def test_columns_round_trip_through_the_cache_check() -> None:
    locs = {f"{i:032x}": BlobLocation("p", i * 10, i + 1, i + 2, i % 2) for i in (5, 1, 3)}
    cols = packindex.decode("p", index_columns_of("p", locs).data)
    assert cols is not None
    wanted = sorted([*locs, f"{9:032x}"])
    assert cols.lookup(wanted, packindex.wanted_array(wanted)) == locs
    empty = packindex.decode("p", index_columns_of("p", {}).data)
    assert empty is not None and [len(x) for x in empty.find(packindex.wanted_array(wanted))] == [0, 0]


def _random_locs(seed: int, n: int) -> dict[str, BlobLocation]:
    rng = random.Random(seed)
    return {f"{rng.getrandbits(128):032x}": BlobLocation("p", rng.randrange(1 << 40), rng.randrange(1 << 30),
                                                        rng.randrange(1 << 30), rng.randrange(2)) for _ in range(n)}


def test_the_cached_columns_keep_the_bytes_of_the_release_before() -> None:
    """Pinned from 77be29e (DAGIDXC2): a cache written by it is read as is, and this one's by it."""
    assert xxhash.xxh3_128_hexdigest(index_columns_of("p", _random_locs(19, 300)).data) == "a046d3171a51e32c6047f593c21ae24f"
    assert index_columns_of("p", {}).data.hex() == "44414749445843320000000000000000c294d3380580062d"
    small = {f"{i:032x}": BlobLocation("p", i * 10, i + 1, i + 2, i % 2) for i in (5, 1, 3)}
    assert index_columns_of("p", small).data.hex() == (
        "444147494458433203000000000000006f61f673580f89a3" + "".join(f"{i:032x}" for i in (1, 3, 5))
        + "".join(v.to_bytes(8, "little").hex() for v in (10, 30, 50, 2, 4, 6, 3, 5, 7)) + "010101")


def test_the_columns_a_writer_builds_are_the_bytes_of_its_locations() -> None:
    locs = _random_locs(7, 500)
    rows = [(h, *loc[1:]) for h, loc in locs.items()]
    built = packindex.build("p", rows)
    assert built.data == index_columns("p", encode_header(rows)).data  # what a reader of its index object caches
    assert packindex.build("p", []).data == index_columns("p", encode_header([])).data
    assert len(built) == 500
    assert sorted(built.locations().items()) == sorted(locs.items())
    others = list(_random_locs(8, 900))
    for wanted in ([], sorted(locs)[:3], sorted(locs)[::2] + others[:5], sorted([*locs, *others])):  # fewer or more than the pack holds
        wanted = sorted(wanted)
        assert built.lookup(wanted, packindex.wanted_array(wanted)) == {h: locs[h] for h in wanted if h in locs}
    again = pickle.loads(pickle.dumps(built))  # as a worker's fragment carries it to the driver
    assert again.pack == "p" and again.data == built.data and again.locations() == built.locations()


def test_all_locations_come_in_the_order_of_the_packs_header(tmp_path: Path) -> None:
    st, ds = _store(tmp_path)
    for pid in ds._v.record.packs:
        data = st.backend.read(layout.index_key(pid))
        assert list(index_columns(pid, data).locations().items()) == list(decode_header(pid, data).items())
    empty = write_tree(tmp_path / "empty", {"e.txt": b"", "a.txt": b"a", "z.txt": b"zz"})  # an empty blob shares an offset
    child = Dataset.create("d", "p", store=st)
    child.add_files(empty, show_progress=False)
    child.upload(show_progress=False)
    (pid,) = child._v.record.packs
    data = st.backend.read(layout.index_key(pid))
    assert list(index_columns(pid, data).locations().items()) == list(decode_header(pid, data).items())


def test_an_uploads_written_columns_answer_as_the_index_read_back_from_the_store(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"))
    write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(200 + 7 * i) for i in range(40)} | {"empty": b""})
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.upload(show_progress=False, chunk_size=0.002)
    packs_written = ds._v.record.packs
    assert len(packs_written) > 2 and all((st.url, p) in st._written_indexes for p in packs_written)
    fresh = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "other-cache"))  # reads the store's index objects
    whole = fresh.pack_index(fresh.backend)
    wanted = sorted(whole)[::3] + ["0" * 32, "nothex"]
    assert st.pack_index(st.backend, packs_written) == whole
    assert st.pack_index(st.backend, packs_written, only=wanted) == fresh.pack_index(fresh.backend, only=wanted) \
        == {h: whole[h] for h in wanted if h in whole}
    for pid in packs_written:  # and the very bytes a later process would cache from the index
        assert st._written_indexes[(st.url, pid)].data == index_columns(pid, st.backend.read(layout.index_key(pid))).data
        assert (Path(fresh.cache.root) / "meta" / "index-cols" / pid).read_bytes() == st._written_indexes[(st.url, pid)].data


@pytest.mark.parametrize("damage", ["garbage", "wrong-size"])
def test_verify_right_after_an_upload_reads_the_stores_index_not_the_written_one(tmp_path: Path, damage: str) -> None:
    st, ds = _store(tmp_path)  # uploaded and finalized in this process: its packs' columns are in memory and cached
    pid = ds._v.record.packs[0]
    key = tmp_path / "store" / layout.index_key(pid)
    locs = decode_header(pid, key.read_bytes())
    if damage == "garbage":
        data = b"not an index"
    else:  # a sound index that misstates one blob's size
        h = next(iter(locs))
        data = encode_header([(x, loc.offset, loc.length, loc.raw_length + (x == h), loc.codec) for x, loc in locs.items()])
    os.chmod(key, 0o644)
    key.write_bytes(data)
    problems = st.verify()
    assert problems and all(ds.id in p for p in problems), problems
    assert any((f"pack {pid}" in p) if damage == "garbage" else ("its pack holds" in p) for p in problems), problems
    assert st.pack_index(st.backend, [pid]) == locs  # lookups still use the columns written with the pack


def test_an_upload_leaves_the_columns_of_the_packs_it_wrote(tmp_path: Path) -> None:
    st, ds = _store(tmp_path)
    cols = Path(st.cache.root) / "meta" / "index-cols"
    assert sorted(os.listdir(cols)) == sorted(ds._v.record.packs)  # a child's upload in another process reads them
    whole = st.pack_index(st.backend)
    for pid in ds._v.record.packs:
        got = packindex.decode(pid, (cols / pid).read_bytes())
        assert got is not None
        assert got.lookup(sorted(whole), packindex.wanted_array(sorted(whole))) == {h: loc for h, loc in whole.items() if loc.pack == pid}


def _sources(tmp_path: Path) -> tuple[Store, list[str], dict[str, BlobLocation]]:
    """A store whose packs' indexes a new process finds in each place: the cache's columns, the
    cache's copy of the index object, the store only."""
    st, ds = _store(tmp_path)
    pids = list(ds._v.record.packs)
    assert len(pids) >= 3
    meta = Path(st.cache.root) / "meta"
    (meta / "index").mkdir(parents=True, exist_ok=True)
    for pid in pids[1:]:
        (meta / "index-cols" / pid).unlink()
    (meta / "index" / pids[1]).write_bytes(st.backend.read(layout.index_key(pids[1])))
    whole = {h: loc for pid in pids for h, loc in decode_header(pid, st.backend.read(layout.index_key(pid))).items()}
    return Store(str(tmp_path / "store")), pids, whole  # another process: nothing written in memory


def test_pack_columns_come_in_the_records_order_whatever_the_cache_holds(tmp_path: Path) -> None:
    later, pids, _whole = _sources(tmp_path)
    for order in (pids, pids[::-1], pids[1:] + pids[:1]):
        got = later.pack_columns(later.backend, iter(order))  # any iterable, walked once
        assert [c.pack for c in got] == order
        assert [c.data for c in got] == [index_columns(p, later.backend.read(layout.index_key(p))).data for p in order]
    assert sorted(os.listdir(Path(later.cache.root) / "meta" / "index-cols")) == sorted(pids)  # each decoded index cached


def test_pack_index_answers_alike_from_every_source(tmp_path: Path) -> None:
    for only in (None, "some"):
        later, pids, whole = _sources(tmp_path / str(only))
        wanted = None if only is None else sorted(whole)[::2] + ["0" * 32, "nothex"]
        expected = whole if wanted is None else {h: whole[h] for h in wanted if h in whole}
        assert later.pack_index(later.backend, iter(pids[::-1]), only=wanted) == expected
        assert later.pack_index(later.backend, only=wanted) == expected  # now from the cache's columns (and index objects)


@pytest.mark.parametrize("reader", ["pack_index", "pack_columns"])
def test_a_damaged_cached_index_object_is_read_again_from_the_store(tmp_path: Path, reader: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    later, pids, whole = _sources(tmp_path)
    cached = Path(later.cache.root) / "meta" / "index" / pids[1]
    cached.write_bytes(b"not an index")
    got = getattr(later, reader)(later.backend, pids)
    if reader == "pack_index":
        assert got == whole
    else:
        assert [c.pack for c in got] == pids
    assert f"reading the index of pack {pids[1]} again" in caplog.text
    assert cached.read_bytes() == later.backend.read(layout.index_key(pids[1]))  # replaced by the store's


def test_a_malformed_or_missing_stored_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    later, pids, whole = _sources(tmp_path)
    bad, gone = pids[2], pids[0]
    key = Path(later.url) / layout.index_key(bad)
    os.chmod(key, 0o644)
    key.write_bytes(b"not an index")
    with pytest.raises(FormatError, match=f"index of pack {bad}"):
        later.pack_columns(later.backend, pids)
    with pytest.raises(FormatError, match=f"index of pack {bad}"):
        later.pack_index(later.backend, pids, only=list(whole))
    kept = {h: loc for h, loc in whole.items() if loc.pack != bad}
    assert later.pack_index(later.backend) == kept  # every pack: skipped with a warning, its blobs just not reused
    assert bad in caplog.text
    meta = Path(later.cache.root) / "meta"
    assert not (meta / "index" / bad).exists() and not (meta / "index-cols" / bad).exists()  # never cached
    (meta / "index-cols" / gone).unlink()
    os.unlink(Path(later.url) / layout.index_key(gone))
    assert [c.pack for c in later.pack_columns(later.backend, [gone, pids[1]])] == [pids[1]]  # missing: left out
    assert later.pack_index(later.backend, [gone, pids[1]]) == {h: loc for h, loc in whole.items() if loc.pack == pids[1]}


def test_the_packs_holding_a_drafts_blobs_are_those_pack_index_names(tmp_path: Path) -> None:
    st, ds = _store(tmp_path)
    be = st.backend
    whole = st.pack_index(be)
    first = ds._v.record.packs
    again = sorted(whole)[:5]  # blobs a later pack holds too: its location wins, as in pack_index
    writer = PackWriter(be, lambda _pid, _cols: None)
    writer.add_many((h, b"x" * whole[h].raw_length, whole[h].raw_length, 0) for h in again)
    writer.close()
    (extra,) = set(layout.leaf(k) for k in be.list(layout.INDEX)) - set(first)
    wanted = sorted(whole)[::2] + ["0" * 32, "f" * 32]
    keys = np.unique(np.frombuffer(bytes.fromhex("".join(wanted)), dtype="S16"))
    for order in ([*first, extra], [extra, *first], [extra], []):
        index = st.pack_index(be, order, only=wanted)
        held, absent = st.pack_holders(be, order, keys)
        assert held == {index[h].pack for h in wanted if h in index}
        assert sorted(absent) == sorted(h for h in wanted if h not in index)
    assert extra in st.pack_holders(be, [*first, extra], keys)[0] and extra not in st.pack_holders(be, [extra, *first], keys)[0]
    assert st.pack_holders(be, first, keys[:0]) == (set(), [])


def test_finalize_refuses_a_draft_whose_content_no_index_lists(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"))
    write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(300 + i) for i in range(6)})
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.upload(show_progress=False, chunk_size=0.001)
    gone = ds._v.record.packs[0]
    st.backend.delete([layout.index_key(gone)])
    for kind in ("index-cols", "index"):
        (Path(st.cache.root) / "meta" / kind / gone).unlink(missing_ok=True)
    fresh = Dataset.get(dataset_id=ds.id, store=Store(str(tmp_path / "store")))  # no index kept in memory
    with pytest.raises(DraftError, match=r"content of \d+ files is not in the store; call upload\(\)"):
        fresh.finalize()
    assert not fresh.is_final() and Dataset.get(dataset_id=ds.id, store=st).is_dirty() is False
