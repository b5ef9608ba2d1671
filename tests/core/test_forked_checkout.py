"""A cold checkout from a local store writes half of the pack reads in a forked child process
(both cores): the folder is complete and linked into the blob cache, a corrupt blob in the
child's half is the same IntegrityError (nothing left behind), and a failure on either side
stops the other."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from dagstore import Dataset, IntegrityError, Store
from dagstore.core import forked, packs
from dagstore.core.layout import pack_key
from helpers import read_tree, write_tree

MiB = 1 << 20


def _version(tmp_path: Path) -> tuple[Store, Dataset, dict[str, bytes]]:
    files = {f"d{i % 3}/f{i:02d}.bin": os.urandom(MiB + i) for i in range(24)}  # 24 MiB: three 8 MiB reads
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "write-cache"))
    ds = Dataset.create("fork", "p", store=st)
    ds.add_files(write_tree(tmp_path / "src", files), show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return st, ds, files


def _groups(st: Store, ds: Dataset) -> list[tuple[str, int, int, list[tuple[str, packs.BlobLocation]]]]:
    locs = st.locations(st.chain(ds.id))
    return packs._ranges((h, loc) for h, (_be, loc) in locs.items() if loc is not None)


def test_a_cold_checkout_split_over_two_processes_is_complete_and_cached(tmp_path: Path) -> None:
    st, ds, files = _version(tmp_path)
    assert len(_groups(st, ds)) >= 2  # so a child does every other read
    reader = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    folder = Dataset.get(dataset_id=ds.id, store=reader).get_local_copy(show_progress=False)
    assert read_tree(folder) == files
    assert all(os.stat(os.path.join(folder, p)).st_nlink == 2 for p in files)  # linked into blobs/
    assert 24 * MiB <= int((tmp_path / "cache" / "size").read_text()) < 25 * MiB  # the child's half counted too


def test_a_corrupt_blob_read_by_the_child_is_an_integrity_error_and_leaves_nothing(tmp_path: Path) -> None:
    st, ds, files = _version(tmp_path)
    pack, start, _end, items = _groups(st, ds)[1]  # the child's first read
    path = tmp_path / "store" / pack_key(pack)
    h, loc = items[0]
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(loc.offset + 10)
        f.write(b"\xff" * 8)
    reader = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(IntegrityError, match=f"blob {h} in pack {pack} does not match its hash"):
        Dataset.get(dataset_id=ds.id, store=reader).get_local_copy(show_progress=False)
    versions = tmp_path / "cache" / "versions"
    assert not [p.name for p in versions.iterdir() if p.name.startswith(".tmp-")] if versions.exists() else True


def _sleep_or_fail(items: Sequence[str]) -> None:
    for item in items:
        if item == "fail":
            raise ValueError("the child failed on purpose")
        if item == "sleep":
            time.sleep(60)


def test_the_childs_failure_is_raised_as_it_was() -> None:
    with pytest.raises(ValueError, match="the child failed on purpose"):
        forked.split_run(_sleep_or_fail, ["ok"], ["ok", "fail"])


def test_a_failure_here_stops_the_child_at_once() -> None:
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="on purpose"):
        forked.split_run(_sleep_or_fail, ["fail"], ["sleep"])
    assert time.monotonic() - t0 < 30  # the sleeping child was killed and reaped, not waited for
