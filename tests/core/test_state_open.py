"""Opening a cached state checks its structure a column at a time (the pages each check maps
are released before the next): a column whose offsets point past its data is still refused."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pyarrow as pa
import pytest

from dagstore import FormatError
from dagstore.core import columns
from dagstore.core.cache.files import BLOB_MTIME_NS
from dagstore.core.manifest import Entry
from dagstore.core.state import State


def _sealed(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    os.utime(path, ns=(0, BLOB_MTIME_NS))
    return str(path)


def _state_bytes() -> bytes:
    entries = {f"d/{i:03d}.txt": Entry(f"{i:032x}", i, origin="v") for i in range(200)}
    return State(columns.entries_table(entries, origins=["v"]), ["v"]).to_bytes()


def test_a_sealed_state_opens_and_reads_back(tmp_path: Path) -> None:
    st = State.open(_sealed(tmp_path / "s.arrow", _state_bytes()))
    assert st is not None and len(st) == 200 and st.paths("d")[:2] == ["d/000.txt", "d/001.txt"]
    assert st["d/007.txt"] == Entry(f"{7:032x}", 7, origin="v")


@pytest.mark.parametrize("column", ["path", "meta"])
def test_offsets_past_the_data_are_refused(tmp_path: Path, column: str) -> None:
    data = bytearray(_state_bytes())
    good = _sealed(tmp_path / "good.arrow", bytes(data))
    mapped = pa.memory_map(good)
    base = mapped.read_buffer(mapped.size()).address
    chunk = pa.ipc.open_file(mapped).read_all()[column].chunk(0)
    last = chunk.buffers()[1].address - base + 4 * len(chunk)  # the last int32 offset, in the file
    data[last:last + 4] = struct.pack("<i", 1 << 30)
    with pytest.raises(FormatError, match="cached state"):
        State.open(_sealed(tmp_path / "bad.arrow", bytes(data)))
