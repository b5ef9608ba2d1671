"""The cold copy planned on columns (core/fetchplan.py, core/packs.index_columns): the same
folder as the files added, every blob verified, every damaged store a clear error that leaves
nothing visible, and pack indexes read as columns exactly as the decoded index reads."""

from __future__ import annotations

import gc
import itertools
import json
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import zstandard

from dagstore import Dataset, FormatError, IntegrityError, Store
from dagstore.core import fetchplan, layout, packs
from dagstore.core.backend import LocalBackend
from dagstore.core.cache import Cache
from dagstore.core.cache.versions import _TreeSink
from dagstore.core.packs import BlobLocation
from dagstore.core.hashing import hash_bytes
from helpers import index_columns_of, write_tree


def _files(seed: int, n: int = 300) -> dict[str, bytes]:
    rng = random.Random(seed)
    out: dict[str, bytes] = {}
    for i in range(n):
        if i % 3 == 0:
            data = rng.randbytes(rng.randint(1, 3000))  # stored raw
        else:
            data = (b"line %d\n" % (i % 40)) * rng.randint(20, 200)  # compressed; some repeat: one blob, several paths
        out[f"d{i % 5}/e{i % 3}/f{i}.bin"] = data
    out["empty-1"] = b""
    out["d0/empty-2"] = b""
    out["big.bin"] = rng.randbytes(5 << 20)  # a large object of its own
    return out


def _tree(root: str | Path) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/"): Path(d, f).read_bytes()
            for d, _, fs in os.walk(root) for f in fs}


def _version(st: Store, src: Path, files: dict[str, bytes], parents: list[str] | None = None) -> Dataset:
    write_tree(src, files)
    ds = Dataset.create("cold", "p", store=st, parent_datasets=parents)
    ds.sync_folder(src) if parents else ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False, chunk_size=0.05)  # packs of ~50 KB: several packs, several reads
    ds.finalize()
    return ds


def _cold(tmp_path: Path, name: str) -> Store:
    return Store(str(tmp_path / "store"), cache_dir=str(tmp_path / name))


def test_a_cold_copy_is_the_folder_added_with_duplicates_empty_files_and_a_parent_chain(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = _files(1)
    parent = _version(st, tmp_path / "src", files)
    files["d1/new.bin"] = b"new content " * 50
    files["d2/e0/f2.bin"] = b"changed"
    del files["d3/e0/f3.bin"]
    child = _version(st, tmp_path / "src2", files, parents=[parent.id])
    assert len({h for h in files.values()}) < len(files), "test setup: no duplicated content"

    cold = _cold(tmp_path, "cache-read")
    part = Dataset.get(child.id, store=cold).get_local_copy(part=1, num_parts=3, show_progress=False)  # some blobs cached first
    path = Dataset.get(child.id, store=cold).get_local_copy(show_progress=False)
    assert _tree(path) == files
    assert set(_tree(part)) < set(files)
    blobs = Path(cold.cache.root) / "blobs"
    assert {p.name for p in blobs.glob("*/*")} == {hash_bytes(d) for d in files.values()}, "every blob is linked into the cache"
    assert all(os.stat(os.path.join(path, p)).st_nlink >= 2 for p in files), "a copy's files are the cache's blobs"
    assert not os.stat(path).st_mode & 0o222

    soft = Dataset.get(child.id, store=_cold(tmp_path, "cache-soft")).get_local_copy(use_soft_links=True, show_progress=False)
    assert _tree(soft) == files
    assert os.path.islink(os.path.join(soft, "d1/new.bin"))


def test_parts_and_patterns_pick_the_same_files_as_before(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = _files(2)
    ds = _version(st, tmp_path / "src", files)
    cold = _cold(tmp_path, "cache-read")
    parts = [_tree(Dataset.get(ds.id, store=cold).get_local_copy(part=k, num_parts=3, show_progress=False)) for k in range(3)]
    assert sorted(p for part in parts for p in part) == sorted(files)
    assert all(parts)
    picked = _tree(Dataset.get(ds.id, store=cold).get_local_copy(files=["d1/*", "big.bin"], show_progress=False))
    assert picked == {p: d for p, d in files.items() if p.startswith("d1/") or p == "big.bin"}


def _one_pack_blob(st: Store, ds: Dataset, compressed: bool, after: int = 0) -> tuple[Path, list]:
    """A blob of ``ds`` stored raw (or compressed) in a pack, at offset ``after`` or later, and its index row."""
    for pid in ds._v.record.packs:
        doc = json.loads(zstandard.ZstdDecompressor().decompress((Path(st.url) / layout.index_key(pid)).read_bytes()))
        for b in doc["blobs"]:
            if b[4] == int(compressed) and b[2] > 10 and b[1] >= after:
                return Path(st.url) / layout.pack_key(pid), b
    raise AssertionError("test setup: no such blob")


def _damage(st: Store, ds: Dataset, compressed: bool, after: int = 0) -> list:
    """Flip a byte in the middle of one of ``ds``'s packed blobs (at offset ``after`` or later); its index row."""
    pack, blob = _one_pack_blob(st, ds, compressed, after)
    data = bytearray(pack.read_bytes())
    data[blob[1] + blob[2] // 2] ^= 0x55
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    return blob


@pytest.mark.parametrize("by", ["threads", "workers"])
@pytest.mark.parametrize("compressed", [False, True])
def test_a_damaged_blob_is_an_integrity_error_and_nothing_is_visible(tmp_path: Path, compressed: bool, by: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if by == "workers":  # every build from a local store by worker processes, however small (tests/core/test_coldworkers.py)
        monkeypatch.setattr(fetchplan, "PROCESS_MIN", 0)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(3))
    blob = _damage(st, ds, compressed)
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(IntegrityError, match=f"blob {blob[0]} in pack .* (does not match its hash|does not decompress)"):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    versions = Path(cold.cache.root) / "versions"
    assert not versions.exists() or os.listdir(versions) == [], "a failed build left a folder behind"
    assert not (Path(cold.cache.root) / "blobs" / blob[0][:2] / blob[0]).exists(), "a damaged blob entered the cache"


def _open_in(root: str | Path) -> list[str]:
    """What this process holds open under the cache's ``blobs/`` and ``versions/`` (a lease is in ``leases/``)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return [t for t in held if t.startswith((f"{root}/blobs", f"{root}/versions"))]


def test_blobs_before_a_damaged_one_are_cached_verified_and_no_descriptor_or_paused_gc_is_left(tmp_path: Path) -> None:
    """Blobs are verified and written one at a time: those of a read before a damaged blob may
    enter the blob cache, each matching its hash; the damaged one never; nothing is visible."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(8))
    blob = _damage(st, ds, compressed=True, after=1)  # not its pack's first: the blobs before it, in the same read, are written first
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(IntegrityError, match=f"blob {blob[0]} in pack "):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert _open_in(cold.cache.root) == [], "a failed build left a descriptor open"
    assert gc.isenabled(), "the cyclic collector stayed paused after a failed fetch"
    cached = [Path(d, f) for d, _, fs in os.walk(Path(cold.cache.root) / "blobs") for f in fs]
    assert cached, "the blobs read before the damaged one were not cached"
    assert all(hash_bytes(p.read_bytes()) == p.name for p in cached), "an unverified blob entered the cache"
    assert blob[0] not in {p.name for p in cached}
    assert os.listdir(Path(cold.cache.root) / "versions") == []
    good = _cold(tmp_path, "cache-good")
    ds2 = _version(st, tmp_path / "src2", _files(9))
    assert _tree(Dataset.get(ds2.id, store=good).get_local_copy(show_progress=False)) == _files(9)
    assert _open_in(good.cache.root) == [] and gc.isenabled()


def test_a_file_the_build_cannot_create_is_named_by_its_full_path(tmp_path: Path) -> None:
    """Files are made relative to the build folder's descriptor; an error names the whole path
    (the cache's one-line errors and the "cannot hold this name" check read it)."""
    cache = Cache(tmp_path / "cache")
    build = tmp_path / "cache" / "versions" / ".tmp-build"
    build.mkdir(parents=True)
    name = hash_bytes(b"abc")
    sink = _TreeSink(cache, str(build), pa.array(["no-such-folder/a.txt"]), {name: 0}, {}, False, np.array([0]))
    try:
        with pytest.raises(FileNotFoundError) as exc:
            sink.put_blob(name, b"abc")
    finally:
        sink.close()
    assert exc.value.filename == f"{build}/no-such-folder/a.txt"
    assert _open_in(cache.root) == []


def test_a_size_the_index_contradicts_is_an_error_before_anything_is_written(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(4))
    pid = ds._v.record.packs[0]
    key = Path(st.url) / layout.index_key(pid)
    doc = json.loads(zstandard.ZstdDecompressor().decompress(key.read_bytes()))
    doc["blobs"][0][3] += 1
    os.chmod(key, 0o644)
    key.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(doc).encode()))
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(IntegrityError, match=f"content {doc['blobs'][0][0]}: the manifest says .* bytes, the store holds"):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert not (Path(cold.cache.root) / "blobs").exists(), "blobs were fetched before the plan was checked"


def test_a_missing_index_is_missing_content(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(5))
    os.unlink(Path(st.url) / layout.index_key(ds._v.record.packs[-1]))
    with pytest.raises(IntegrityError, match="content .* is missing from the store"):
        Dataset.get(ds.id, store=_cold(tmp_path, "cache-read")).get_local_copy(show_progress=False)


def test_reads_cover_each_blob_once_in_pack_order_and_stay_bounded(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    ds = _version(st, tmp_path / "src", _files(6, n=600))
    where = fetchplan.Where.of(_cold(tmp_path, "cache-read"), st.chain(ds.id))
    assert len(where.packs) == len(ds._v.record.packs) > 3
    at = np.random.default_rng(0).permutation(len(where.raw))
    perm, reads = fetchplan.sort_reads(where, at)
    assert sorted(at[perm].tolist()) == sorted(at.tolist())
    assert reads[0].first == 0 and reads[-1].last == len(at) and all(a.last == b.first for a, b in itertools.pairwise(reads))
    assert len(reads) == len(where.packs), "a pack's neighbouring blobs share one read"
    for r in reads:
        rows = at[perm][r.first:r.last]
        assert (where.pack[rows] == r.pack).all()
        assert r.start == where.offset[rows].min() and r.end == (where.offset[rows] + where.length[rows]).max()
        assert (np.diff(where.offset[rows]) >= 0).all()  # (an empty blob shares its offset with the next)
    far = np.array([0, 0])  # the same blob asked twice is read twice, never dropped
    assert sum(r.last - r.first for r in fetchplan.sort_reads(where, far)[1]) == 2


def test_reads_are_cut_at_gaps_and_at_each_window_of_a_pack(tmp_path: Path) -> None:
    gap, window = fetchplan.MAX_GAP, fetchplan.MAX_RANGE
    far = window - gap // 2  # more than a gap after the first two, within a gap of the next
    rows = [("p1", 0, 10), ("p1", 20, 10), ("p1", far, 10), ("p1", window - 5, 10), ("p1", window + 5, 0), ("p2", 0, 7)]
    locs: dict[str, dict[str, BlobLocation]] = {}
    for i, (pack, offset, length) in enumerate(rows):
        locs.setdefault(pack, {})[f"{i:032x}"] = BlobLocation(pack, offset, length, length, packs.CODEC_RAW)
    be = LocalBackend(tmp_path / "store")
    where = fetchplan.Where([(be, index_columns_of(p, ls)) for p, ls in locs.items()], {})
    perm, reads = fetchplan.sort_reads(where, np.arange(len(rows))[::-1].copy())
    got = [(where.packs[r.pack], r.start, r.end, r.last - r.first) for r in reads]
    assert got == [("p1", 0, 30, 2), ("p1", far, window + 5, 2), ("p1", window + 5, window + 5, 1), ("p2", 0, 7, 1)]  # the next window: a new read


def test_reads_are_cut_where_their_blobs_would_decompress_to_more_than_max_raw(tmp_path: Path) -> None:
    big = fetchplan.MAX_RAW // 2 + 1  # well-compressed blobs: 10 stored bytes each, back to back
    locs = {f"{i:032x}": BlobLocation("p1", 10 * i, 10, big, packs.CODEC_ZSTD) for i in range(5)}
    where = fetchplan.Where([(LocalBackend(tmp_path / "store"), index_columns_of("p1", locs))], {})
    _perm, reads = fetchplan.sort_reads(where, np.arange(5))
    assert [r.last - r.first for r in reads] == [2, 2, 1]  # never more than MAX_RAW plus one blob in memory
    assert all((r.last - r.first) * big <= fetchplan.MAX_RAW + big for r in reads)


def test_index_columns_decoded_without_objects_are_the_decoded_index_bytes(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"))
    ds = _version(st, tmp_path / "src", _files(7))
    for pid in ds._v.record.packs:
        data = (Path(st.url) / layout.index_key(pid)).read_bytes()
        assert packs.index_columns(pid, data).data == index_columns_of(pid, packs.decode_header(pid, data)).data
    twice = packs.encode_header([("a" * 32, 0, 5, 5, 0), ("b" * 32, 5, 3, 9, 1), ("a" * 32, 8, 2, 2, 0)])
    assert packs.index_columns("p", twice).data == index_columns_of("p", packs.decode_header("p", twice)).data  # the last one counts
    assert packs.index_columns("p", packs.encode_header([])).data == index_columns_of("p", {}).data


@pytest.mark.parametrize("blobs", [
    "x", [["a" * 32, 0, 1, 1]], [["a" * 32, -1, 1, 1, 0]], [["a" * 32, 0, 1, 1, 7]], [["a" * 32, 0, True, 1, 0]],
    [["a" * 32, 0, 1.5, 1, 0]], [["a" * 32, 1 << 64, 1, 1, 0]], [[5, 0, 1, 1, 0]], [["z" * 32, 0, 1, 1, 0]], [["abc", 0, 1, 1, 0]],
    [["a" * 30 + "  ", 0, 1, 1, 0]],  # 32 characters, but bytes.fromhex would skip the spaces
])
def test_a_malformed_index_is_a_format_error_naming_the_pack(blobs: object) -> None:
    doc = {"format": packs.PACK_FORMAT, "nonce": "00", "blobs": blobs}
    data = zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
    with pytest.raises(FormatError, match="^index of pack p1 is corrupt"):
        packs.index_columns("p1", data).data


def test_once_a_read_fails_no_other_read_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged blob in the first read (or a Ctrl-C) is raised once the reads already running
    end, not after the rest of the version is fetched. Every read but the first waits at its
    start until the copy's threads are being shut down (the step after a failure), so what ran is
    fixed: the failed read and at most one more per thread."""
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = {f"f{i:03d}.bin": random.Random(i).randbytes(1500) for i in range(120)}  # stored raw, in one pack
    src = write_tree(tmp_path / "src", files)
    ds = Dataset.create("cold", "p", store=st)
    ds.add_files(src, show_progress=False)
    ds.finalize(auto_upload=True)
    monkeypatch.setattr(fetchplan, "MAX_RANGE", 4096)  # a read of two or three blobs: many reads
    stopping, starts = threading.Event(), []
    real = fetchplan.read_stored

    def read_stored(backend: LocalBackend, key: str, start: int, end: int) -> bytes:
        starts.append(start)
        if start:
            stopping.wait()
        return real(backend, key, start, end)

    class Pool(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            stopping.set()
            super().shutdown(wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(fetchplan, "read_stored", read_stored)
    monkeypatch.setattr(fetchplan, "ThreadPoolExecutor", Pool)
    stopping.set()
    assert _tree(Dataset.get(ds.id, store=_cold(tmp_path, "cache-good")).get_local_copy(show_progress=False)) == files
    reads, starts[:] = len(starts), []
    assert reads > 20, "test setup: too few reads"
    (pid,) = ds._v.record.packs
    pack = Path(st.url) / layout.pack_key(pid)
    data = bytearray(pack.read_bytes())
    data[700] ^= 0x55  # inside the pack's first blob
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    stopping.clear()
    cold = _cold(tmp_path, "cache-read")
    with pytest.raises(IntegrityError, match="does not match its hash"):
        Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert 0 in starts and len(starts) <= 3, f"{len(starts)} of {reads} reads started (the first one failed)"
    assert _open_in(cold.cache.root) == [] and gc.isenabled()
    assert os.listdir(Path(cold.cache.root) / "versions") == []
