"""The cached state file written as it is made (``State.write``) and the merge's gather from
one input: the same bytes and rows as before, with less copied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dagstore.core import columns
from dagstore.core.align import Rows, ints
from dagstore.core.manifest import Entry, encode_annotation
from dagstore.core.state import State


def _table(n: int, tag: str) -> pa.Table:
    return pa.table({"path": pa.array([f"{tag}{i:05d}" for i in range(n)], pa.string()),
                     "text": pa.array([f"{tag}-{i}" * (i % 4) for i in range(n)], pa.large_string())})


@pytest.mark.parametrize("case", ["top in order", "top, some skipped", "base in order", "base, some skipped", "mixed"])
def test_a_gather_from_one_input_or_both_gives_the_rows_a_take_over_both_gives(case: str) -> None:
    base, top = _table(50, "b"), _table(40, "t")
    rng = np.random.default_rng(7)
    order = {"top in order": np.arange(50, 90), "top, some skipped": np.sort(rng.choice(np.arange(50, 90), 25, replace=False)),
             "base in order": np.arange(50), "base, some skipped": np.arange(0, 50, 3),
             "mixed": np.sort(rng.choice(90, 60, replace=False))}[case]
    rows = Rows(base, top, order)
    both = pa.chunked_array([base["text"].chunk(0), top["text"].chunk(0)])
    want = both.take(ints(order)).to_pylist()
    assert rows.column("text").to_pylist() == want
    sub = np.arange(len(order)) % 2 == 0
    assert rows.column("text", sub).to_pylist() == [w for w, keep in zip(want, sub) if keep]


def test_every_row_of_one_input_in_order_is_that_column_itself() -> None:
    """A first version's delta (no removed rows): its columns are taken as they are, not copied."""
    base, top = _table(0, "b"), _table(30, "t")
    col = Rows(base, top, np.arange(30)).column("text")
    assert col.buffers()[2].address == top["text"].chunk(0).buffers()[2].address


def test_the_cache_file_written_as_it_is_made_holds_the_bytes_to_bytes_gives(tmp_path: Path) -> None:
    entries = {f"d{i % 3}/f{i}.txt": Entry(f"{i:032x}", i, annotation=encode_annotation({"split": "train"}) if i % 2 else None, origin="p") for i in range(200)}
    parent = State(columns.entries_table(entries, origins=["p"]), ["p"])
    child = parent.apply(columns.entries_table({"d1/new.txt": Entry("f" * 32, 5)}, ["d0/f0.txt"]), "c")
    path = tmp_path / "state.arrow"
    child.write(str(path))
    assert path.read_bytes() == child.to_bytes()
    assert State.from_bytes(path.read_bytes()).as_dict() == child.as_dict()


def test_a_cache_file_that_cannot_be_written_leaves_no_temp_and_the_state_is_served(tmp_path: Path) -> None:
    """The write fails half way (here: the file size limit, as a full disk would): the state is
    still returned, nothing is left in the cache's states folder, and the next open builds it."""
    import resource
    import signal

    from dagstore import Dataset, Store
    from helpers import write_tree

    src = write_tree(tmp_path / "src", {f"d{i % 7}/f{i}.txt": f"file {i}" for i in range(3000)})
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "made"))
    ds = Dataset.create("w", "p", store=st)
    ds.add_files(src, show_progress=False)
    ds.finalize(auto_upload=True)
    fresh = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "fresh"))
    states = tmp_path / "fresh" / "meta" / "states"
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (16384, old[1]))
    try:
        state = fresh.state(ds.id)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, handler)
    assert len(state) == 3000
    assert not states.exists() or list(states.iterdir()) == []
    assert len(fresh.state(ds.id)) == 3000
    assert [p.name for p in states.iterdir()] == [f"{ds.id}.arrow"]
