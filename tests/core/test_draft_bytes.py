"""A draft saved again with the same delta (upload's save after add_files') reuses the delta's
JSON from the save before: the bytes are those a full serialization writes, and any change
to the delta between two saves is written."""

from __future__ import annotations

import json

import zstandard

from dagstore.core.manifest import Delta, Entry, _columns, _format_of
from dagstore.core.records import _PIECE, Draft, VersionRecord


def _full(d: Draft) -> bytes:
    """The draft's bytes as written before the reuse: one json.dumps of the whole document."""
    cols = _columns(d.delta.entries)
    doc = {"format": _format_of(cols), "record": json.loads(d.record.to_json()), "delta": cols,
           "removed": sorted(d.delta.removed), "pending": d.pending}
    return zstandard.ZstdCompressor(level=1).compress(json.dumps(doc, separators=(",", ":")).encode())


def _draft() -> Draft:
    entries = {f"d{i % 7}/f{i}.txt": Entry(f"{i:032x}", 100 + i, annotation='{"s":"x"}' if i % 5 == 0 else None) for i in range(500)}
    return Draft(VersionRecord("id1", "n", "p", "1.0.0"), Delta(entries=entries, removed={"old/a.txt"}),
                 {p: (f"/src/{p}", 1_600_000_000 + i, 7) for i, p in enumerate(entries)})


def test_a_second_save_with_the_same_delta_writes_the_bytes_a_full_serialization_writes() -> None:
    d = _draft()
    assert d.to_bytes() == _full(d)
    d.pending.clear()  # what upload changes: the pending files and the record
    assert d.to_bytes() == _full(d)
    assert d.to_bytes() == _full(d)  # the reuse was used once: this one serialized again


def test_every_change_to_the_delta_between_two_saves_is_written() -> None:
    d = _draft()
    changes = [
        lambda: d.delta.entries.__setitem__("d1/f1.txt", Entry("f" * 32, 5)),
        lambda: d.delta.entries.__setitem__("new.txt", Entry("e" * 32, 6)),
        lambda: d.delta.entries.pop("d2/f2.txt"),
        lambda: d.delta.removed.add("old/b.txt"),
        lambda: d.delta.removed.discard("old/a.txt"),
    ]
    for change in changes:
        d.to_bytes()
        change()
        got = Draft.from_bytes(d.to_bytes())
        assert (got.delta.entries, got.delta.removed) == (d.delta.entries, d.delta.removed)


def test_a_meta_dict_changed_in_place_is_written() -> None:
    """Entries are immutable but for their meta dicts: a delta with any is never reused."""
    d = _draft()
    d.delta.entries["m.txt"] = Entry("a" * 32, 1, meta={"k": 1})
    d.to_bytes()
    d.delta.entries["m.txt"].meta["k"] = 2  # type: ignore[index]
    assert Draft.from_bytes(d.to_bytes()).delta.entries["m.txt"].meta == {"k": 2}


def test_a_draft_of_many_pending_files_is_written_in_pieces_as_the_full_serialization() -> None:
    """Pending files are serialized a few thousand at a time (W1's draft text is never whole in
    memory): the text is still that of one ``json.dumps``, with non-ASCII paths, in one zstd
    frame that holds its size (the previous release's reader decompresses it in one call)."""
    entries = {f"d{i % 9}/fé{i}.txt": Entry(f"{i:032x}", i) for i in range(3 * _PIECE + 17)}
    d = Draft(VersionRecord("id2", "n", "p", "1.0.0"), Delta(entries=entries),
              {p: (f"/src/ü/{p}", 1_600_000_000 + i, 9) for i, p in enumerate(entries)})
    data = d.to_bytes()
    assert zstandard.get_frame_parameters(data).content_size > 3 * _PIECE * 50
    assert zstandard.ZstdDecompressor().decompress(data) == zstandard.ZstdDecompressor().decompress(_full(d))
    assert Draft.from_bytes(data).pending == d.pending
