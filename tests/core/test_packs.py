"""Unit tests of the pack format and its writer/reader (dagstore.core.packs) on a local folder."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from dagstore.core import packs
from dagstore.core.backend import LocalBackend
from dagstore.core.backend.local import _FileSpool
from dagstore.core.hashing import hash_bytes
from dagstore.core.layout import index_key, pack_key
from dagstore.core.packs import CODEC_RAW, CODEC_ZSTD, BlobLocation, PackWriter
from dagstore.errors import FormatError, IntegrityError


@pytest.fixture
def be(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "store")


def write_packs(be: LocalBackend, blobs: list[bytes], target: int = packs.DEFAULT_PACK_SIZE, level: int | None = 1) -> dict[str, BlobLocation]:
    found: dict[str, BlobLocation] = {}
    w = PackWriter(be, lambda pid, cols: found.update(cols.locations()), target_size=target)
    encoded = packs.encode_blobs(blobs, level)
    w.add_many((hash_bytes(data), stored, len(data), codec) for data, (stored, codec) in zip(blobs, encoded))
    w.close()
    return found


def read_back(be: LocalBackend, locs: dict[str, BlobLocation]) -> dict[str, bytes]:
    """Each blob of ``locs`` read alone (one ranged read; none for an empty blob), checked against its hash."""
    return {h: packs.decode_blob(h, packs.read_stored(be, pack_key(loc.pack), loc.offset, loc.offset + loc.length) if loc.length else b"", loc)
            for h, loc in locs.items()}


def test_blobs_are_compressed_only_when_it_saves_ten_percent() -> None:
    text = b"the same line again\n" * 200
    noise = os.urandom(4096)
    (zipped, codec), raw, tiny = packs.encode_blobs([text, noise, b"tiny"], 1)
    assert codec == CODEC_ZSTD and len(zipped) < len(text) // 10
    assert packs.decode_blob(hash_bytes(text), zipped, BlobLocation("p", 0, len(zipped), len(text), codec)) == text
    assert raw == (noise, CODEC_RAW) and tiny == (b"tiny", CODEC_RAW)
    assert packs.encode_blobs([text], None) == [(text, CODEC_RAW)]
    assert packs.encode_blobs([], 1) == []


def test_a_pack_round_trips_and_is_named_by_the_hash_of_its_bytes(be: LocalBackend) -> None:
    blobs = [b"a" * 1000, os.urandom(3000), b"", b"text\n" * 50]
    locs = write_packs(be, blobs)
    assert set(locs) == {hash_bytes(b) for b in blobs}
    (pack_id,) = {loc.pack for loc in locs.values()}
    data = be.read(pack_key(pack_id))
    assert hash_bytes(data) == pack_id
    assert packs.pack_header(pack_id, data) == be.read(index_key(pack_id))  # the index is the header
    assert packs.decode_header(pack_id, be.read(index_key(pack_id))) == locs
    assert read_back(be, locs) == {hash_bytes(b): b for b in blobs}


def test_the_writer_starts_a_new_pack_at_the_target_size_and_stores_each_blob_once(be: LocalBackend) -> None:
    blobs = [os.urandom(1000) for _ in range(10)]
    locs = write_packs(be, blobs + blobs[:3], target=2500, level=None)
    assert len(locs) == 10
    ids = {loc.pack for loc in locs.values()}
    assert len(ids) == 4  # 3 + 3 + 3 + 1 blobs of 1000 bytes against a 2500-byte target
    assert sorted(be.list("packs")) == sorted(pack_key(p) for p in ids)
    assert sorted(be.list("index")) == sorted(index_key(p) for p in ids)


def test_a_corrupt_blob_is_an_integrity_error() -> None:
    data = b"hello world" * 20
    loc = BlobLocation("p", 0, len(data), len(data), CODEC_RAW)
    with pytest.raises(IntegrityError, match="does not match its hash"):
        packs.decode_blob(hash_bytes(data), data[:-1] + b"X", loc)
    zloc = BlobLocation("p", 0, 5, len(data), CODEC_ZSTD)
    with pytest.raises(IntegrityError, match="does not decompress"):
        packs.decode_blob(hash_bytes(data), b"junk!", zloc)


def test_a_missing_pack_is_an_integrity_error(be: LocalBackend) -> None:
    locs = write_packs(be, [b"x" * 300])
    be.delete(be.list("packs"))
    with pytest.raises(IntegrityError, match="missing from the store"):
        read_back(be, locs)


@pytest.mark.parametrize("data", [b"", b"short", b"x" * 40 + b"NOTAPACK", b"\x00" * 4 + b"\xff\xff\xff\x00" + packs.MAGIC])
def test_a_pack_without_a_valid_trailer_is_a_format_error(data: bytes) -> None:
    with pytest.raises(FormatError):
        packs.pack_header("p", data)


@pytest.mark.parametrize("data", [b"not zstd at all", packs.encode_header([("h", -1, 2, 3, 0)]), packs.encode_header([("h", 0, 2, 3, 7)])])
def test_a_malformed_index_is_a_format_error(data: bytes) -> None:
    with pytest.raises(FormatError):
        packs.decode_header("p", data)


def test_a_failed_pack_commit_raises_at_close_and_leaves_no_pack_or_index(be: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: object, key: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(_FileSpool, "commit", fail)
    with pytest.raises(OSError, match="disk gone"):
        write_packs(be, [os.urandom(2000)])
    assert be.list("packs") == [] and be.list("index") == [] and be.list_temp("packs") == []


@pytest.mark.parametrize("add", ["add_many", "add_run"])
def test_a_write_that_fails_half_way_never_commits_its_pack_even_when_closed_after(
    be: LocalBackend, monkeypatch: pytest.MonkeyPatch, add: str
) -> None:
    """A full disk can write part of a piece before failing: the pack holding it must not be
    committed by the close() that an error path runs (it was: a pack whose bytes did not match
    its id, found by verify after a full-disk upload)."""
    real = _FileSpool.write_many
    calls = []

    def half_then_full(self: _FileSpool, pieces: list[bytes | memoryview]) -> None:
        calls.append(1)
        if len(calls) == 2:
            real(self, [memoryview(pieces[0])[: len(pieces[0]) // 2]])
            raise OSError(28, "No space left on device")
        real(self, pieces)

    monkeypatch.setattr(_FileSpool, "write_many", half_then_full)
    blobs = [os.urandom(900 + i) for i in range(3)]
    rows = [(hash_bytes(b), len(b), len(b), CODEC_RAW) for b in blobs]
    found: dict[str, object] = {}
    w = PackWriter(be, lambda pid, cols: found.__setitem__(pid, cols), target_size=1 << 20)
    with pytest.raises(OSError, match="No space"):
        for (h, _s, n, c), b in zip(rows, blobs):
            if add == "add_many":
                w.add_many([(h, b, n, c)])
            else:
                w.add_run([(h, n, n, c)], b)
    with pytest.raises(OSError, match="No space"):  # what an upload's error path runs: never a success
        w.close()
    assert found == {} and be.list("packs") == [] and be.list("index") == [] and be.list_temp("packs") == []


def _pack_tables(be: LocalBackend, add: Callable[[PackWriter], None]) -> tuple[list[list[tuple[str, int, int, int, int]]], dict[str, BlobLocation]]:
    found: dict[str, dict[str, BlobLocation]] = {}
    w = PackWriter(be, lambda pid, cols: found.__setitem__(pid, cols.locations()), target_size=2500)
    add(w)
    w.close()
    tables = sorted(sorted((h, loc.offset, loc.length, loc.raw_length, loc.codec) for h, loc in locs.items()) for locs in found.values())
    return tables, {h: loc for locs in found.values() for h, loc in locs.items()}


def test_a_run_of_blobs_stored_back_to_back_makes_the_packs_blob_by_blob_writes_would(tmp_path: Path) -> None:
    blobs = [os.urandom(700 + 37 * i) for i in range(12)] + [b""]
    rows = [(hash_bytes(b), len(b), len(b), CODEC_RAW) for b in blobs]
    one, _ = _pack_tables(LocalBackend(tmp_path / "a"), lambda w: w.add_many((h, b, n, c) for (h, _s, n, c), b in zip(rows + rows[:1], blobs + blobs[:1])))
    # the second run repeats a blob of the first: it is queued blob by blob, and that blob skipped
    runs, locs = _pack_tables(LocalBackend(tmp_path / "b"), lambda w: (w.add_run(rows[:5], b"".join(blobs[:5])),
                                                                      w.add_run(rows[5:] + rows[:1], b"".join(blobs[5:] + blobs[:1]))))
    assert runs == one and len(one) >= 3
    assert read_back(LocalBackend(tmp_path / "b"), locs) == {hash_bytes(b): b for b in blobs}


def test_a_buffer_given_to_add_run_may_be_reused_once_the_next_call_returns(be: LocalBackend) -> None:
    """The writer thread writes one run while the caller reads the next into its other buffer
    (``Staged.read``): a call returns only when the previous call's bytes are written, so the
    buffer of the call before may be overwritten then, and every pack still holds its blobs."""
    blobs = [os.urandom(600 + i) for i in range(40)]
    bufs = [bytearray(4096), bytearray(4096)]
    found: dict[str, BlobLocation] = {}
    w = PackWriter(be, lambda pid, cols: found.update(cols.locations()), target_size=3000)
    for i, b in enumerate(blobs):
        buf = bufs[i % 2]
        buf[: len(b)] = b
        w.add_run([(hash_bytes(b), len(b), len(b), CODEC_RAW)], memoryview(buf)[: len(b)])
        bufs[(i + 1) % 2][:] = b"\xff" * 4096  # the buffer of the call before: its bytes are written by now
    w.close()
    assert read_back(be, found) == {hash_bytes(b): b for b in blobs} and len(set(loc.pack for loc in found.values())) >= 8


@pytest.mark.parametrize("add", ["add_many", "add_run"])
def test_a_failure_of_the_last_write_is_raised_by_close_and_commits_nothing(
    be: LocalBackend, monkeypatch: pytest.MonkeyPatch, add: str
) -> None:
    """The writer thread's last write fails after the caller's last add returned: close() (the
    flush after it) raises that failure and commits no pack, no index, no temp file."""
    real = _FileSpool.write_many
    calls = []

    def last_fails(self: _FileSpool, pieces: list[bytes | memoryview]) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(self, pieces)

    monkeypatch.setattr(_FileSpool, "write_many", last_fails)
    blobs = [os.urandom(900 + i) for i in range(2)]
    found: dict[str, object] = {}
    w = PackWriter(be, lambda pid, cols: found.__setitem__(pid, cols), target_size=1 << 20)
    for b in blobs:
        if add == "add_many":
            w.add_many([(hash_bytes(b), b, len(b), CODEC_RAW)])
        else:
            w.add_run([(hash_bytes(b), len(b), len(b), CODEC_RAW)], b)
    with pytest.raises(OSError, match="No space"):
        w.close()
    assert len(calls) == 2 and found == {}
    assert be.list("packs") == [] and be.list("index") == [] and be.list_temp("packs") == []


@pytest.mark.parametrize("rows", [[], [("a" * 32, 0, 5, 5, 0), ("0f" * 16, 5, 1 << 40, 9, 1)], [("h", -1, 2, 3, 0)],
                                  [('q"\\\u00e9\n', 0, 1, 1, 0), ("b" * 32, 1, 2, 3, 1)]])
def test_a_pack_header_is_the_json_text_of_its_rows(rows: list[tuple[str, int, int, int, int]]) -> None:
    text = zstandard.ZstdDecompressor().decompress(packs.encode_header(rows)).decode()
    nonce = json.loads(text)["nonce"]
    assert len(nonce) == 16 and text == json.dumps({"format": 1, "nonce": nonce, "blobs": [list(r) for r in rows]}, separators=(",", ":"))
