"""A cold copy's memory (docs/performance.md, "Cold copy, session 9: peak RSS"): blob names made
when asked, the pack indexes read before the plan's lists (a failure there left to the fetch),
each blob found at one path without a dict of every file, and a state's folders found without
splitting every path into two columns."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pyarrow as pa
import pytest

from dagstore import Dataset, Store
from dagstore.core import columns as cols
from dagstore.core.fetchplan import BlobNames
from dagstore.core.fetchprocs import Pool
from dagstore.core.manifest import Entry
from dagstore.core.ops.checkout import _each_once
from dagstore.core.state import State
from dagstore.errors import FormatError
from test_coldcopy import _cold, _open_in, _tree, _version
from test_coldworkers import pools  # noqa: F401  (the fixture: worker processes for every local build)


def _unique_files(n: int) -> dict[str, bytes]:
    rng = random.Random(n)
    return {f"d{i % 4}/e{i % 3}/f{i}.bin": b"%d " % i + rng.randbytes(rng.randint(1, 2000)) for i in range(n)}


def test_blob_names_are_the_hashes_hex_digits_or_the_names_given() -> None:
    raw = [bytes(range(k, k + 16)) for k in range(5)]
    hashes = pa.array(raw[:2] + [None] + raw[2:], pa.binary(16)).slice(1)  # an offset, and a link's null
    names = BlobNames(hashes, {1: "link-name"})
    assert len(names) == 5
    assert list(names) == [raw[1].hex(), "link-name", raw[2].hex(), raw[3].hex(), raw[4].hex()]
    assert names[-1] == raw[4].hex() and names[1:3] == ["link-name", raw[2].hex()]
    assert names[0] == cols.hashes_to_hex(hashes)[0]
    with pytest.raises(IndexError):
        names[5]
    with pytest.raises(IndexError):
        names[-6]
    assert list(BlobNames(pa.array([], pa.binary(16)))) == []


def test_each_once_tells_repeated_hashes() -> None:
    a, b, c = (bytes([k]) * 16 for k in (1, 2, 3))
    assert _each_once(pa.array([a, b, c], pa.binary(16)))
    assert not _each_once(pa.array([a, b, a], pa.binary(16)))
    assert _each_once(pa.array([a, a, b, c], pa.binary(16)).slice(1))  # only the rows of the slice count
    assert _each_once(pa.chunked_array([pa.array([c], pa.binary(16))]))
    assert _each_once(pa.array([], pa.binary(16)))


def test_a_states_folders_and_a_path_that_is_also_a_folder() -> None:
    paths = ["a\nb/c\nd", "top", "x/y(z)/w$", "x/y(z)/é/ü"]
    st = State.merge([]).apply(cols.entries_table({p: Entry("1" * 32, 2) for p in paths}), "v")
    assert st.folders() == {"a\nb", "x", "x/y(z)", "x/y(z)/é"}
    assert st.tree_problem() is None
    both = State.merge([]).apply(cols.entries_table({p: Entry("1" * 32, 2) for p in [*paths, "x/y(z)", "a\nb"]}), "v")
    assert both.tree_problem() == "'a\\nb' is both a file and a folder (a\nb/...); a checkout cannot hold both"


def test_workers_make_a_folder_whose_blobs_are_each_at_one_path(tmp_path: Path, pools: list[Pool]) -> None:  # noqa: F811
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = _unique_files(120)
    ds = _version(st, tmp_path / "src", files)
    cold = _cold(tmp_path, "cache-read")
    path = Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)
    assert len(pools) == 1 and [p.returncode for p in pools[0].procs] == [0, 0], "the copy was not made by worker processes"
    assert _tree(path) == files
    assert len(list((Path(cold.cache.root) / "blobs").glob("*/*"))) == len(files)
    threads = Dataset.get(ds.id, store=_cold(tmp_path, "cache-threads")).get_local_copy(show_progress=False, max_workers=1)
    assert _tree(threads) == files and len(pools) == 1, "the threads (each blob's row looked up by name) made another folder"


def test_an_index_read_early_and_found_damaged_fails_only_a_copy_that_needs_it(tmp_path: Path, pools: list[Pool],  # noqa: F811
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache-write"))
    files = _unique_files(60)
    ds = _version(st, tmp_path / "src", files)
    cold = _cold(tmp_path, "cache-read")
    assert _tree(Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False)) == files
    for kind in ("index", "index-cols"):  # the cache's copies of the indexes gone, the store's damaged
        for f in (Path(cold.cache.root) / "meta" / kind).glob("*"):
            f.unlink()
    damaged = sorted((tmp_path / "store" / "index").glob("*/*"))
    assert damaged, "test setup: no pack index"
    for f in damaged:
        os.chmod(f, 0o644)
        f.write_bytes(b"not an index")
    started: list[int] = []
    real = Pool.start.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Pool, "start", classmethod(lambda cls, *a: started.append(1) or real(cls, *a)))
    part = Dataset.get(ds.id, store=cold).get_local_copy(show_progress=False, files="d1/*")  # every blob cached: no index needed
    assert started == [1], "the copy did not start its workers (nor read the indexes early)"
    assert _tree(part) == {p: d for p, d in files.items() if p.startswith("d1/")}
    fresh = _cold(tmp_path, "cache-fresh")
    with pytest.raises(FormatError, match="index of pack"):
        Dataset.get(ds.id, store=fresh).get_local_copy(show_progress=False)
    versions = Path(fresh.cache.root) / "versions"
    assert not versions.exists() or os.listdir(versions) == [], "a failed build left a folder behind"
    assert _open_in(fresh.cache.root) == []
