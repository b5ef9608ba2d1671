"""A draft's bytes are those of one ``json.dumps`` of the whole document, as the previous release
wrote them, whichever way they are made: a save with the same delta as the save before
(upload's, after add_files') reuses the delta's JSON, any change to the delta between two
saves is written, and columns of plain paths are joined as they are, without an escape call
per entry."""

from __future__ import annotations

import json
from typing import Any

import pytest
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


# Paths the joined-columns writer must hand to json.dumps: every kind of character it escapes.
_ODD = ['q"uote', "back\\slash", "tab\there", "new\nline", "del\x7fete", "nul\x00l", "caf\xe9", "\u20ac", "\U0001f600",
        "bad\udce9name", "unit\x1fsep", ""]


@pytest.mark.parametrize("odd", _ODD)
def test_paths_json_escapes_are_written_as_json_dumps_writes_them(odd: str) -> None:
    """The delta's columns and the pending files are joined as they are only when no path
    needs an escape; any path that does (in the delta, a pending key or a local file) is
    written by json.dumps, so the bytes never change."""
    for where in ("delta", "key", "local"):
        entries = {f"d/{i}.txt": Entry(f"{i:032x}", i) for i in range(20)}
        pending = {p: (f"/src/{p}", 1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i) for i, p in enumerate(entries)}
        if where == "delta":
            entries[f"d/{odd}"] = Entry("a" * 32, 1)
        elif where == "key":
            pending[f"d/{odd}"] = ("/src/x", 5, 6)
        else:
            pending["d/0.txt"] = (f"/src/{odd}", 5, 6)
        d = Draft(VersionRecord("id3", "n", "p", "1.0.0"), Delta(entries=entries), pending)
        assert d.to_bytes() == _full(d), where


@pytest.mark.parametrize("pending", [
    {},
    {"a": ("/s/a", 1, 1), "b": ("/s/b", 2, 3)},  # the same times, and not
    {"a": ("/s/a", -5, 0), "b": ("/s/b", 10**25, 7)},  # before 1970, past int64, unknown change time
    {"a": ["/s/a", 1, 2]},  # a list, as a draft read back gives none, but JSON alike
    {"a": ("/s/a", True, 2)},  # not ints: json.dumps's own text
    {"a": ("/s/a", 1.5, 2)},
    {"a": ("/s/a", 1)},  # not three fields
    {"a": ("/s/a", 1, 2, 3)},
    {"a": ("/s/a", 1, 2), "b": ("/s/b", 1)},
    {1: ("/s/a", 1, 2)},  # a key that is not text
])
def test_pending_files_of_any_shape_are_written_as_json_dumps_writes_them(pending: dict[Any, Any]) -> None:
    d = Draft(VersionRecord("id4", "n", "p", "1.0.0"), Delta(entries={"a": Entry("b" * 32, 3)}), pending)
    assert d.to_bytes() == _full(d)


@pytest.mark.parametrize("entries", [
    {},
    {"b": Entry("c" * 32, 2), "a": Entry("d" * 32, 1)},  # sorted when written
    {"a": Entry("", 7, "s3://b/a")},  # a link
    {"a": Entry("e" * 32, 1, meta={"k": "v"}), "b": Entry("f" * 32, 2)},
    {"a": Entry("e" * 32, 1, meta={}), "b": Entry("f" * 32, 2)},  # an empty meta is no meta
    {"a": Entry("e" * 32, 1, annotation='{"s":"x"}'), "b": Entry("f" * 32, 2)},
    {"a": Entry("e" * 32, 1, origin="v1"), "b": Entry("f" * 32, 2, origin="v2")},  # every entry has an origin
    {"a": Entry("e" * 32, 1, origin="v1"), "b": Entry("f" * 32, 2)},  # not every entry
    {"a": Entry('"x', 1)},  # a hash json.dumps escapes (no reader accepts it; its bytes still the same)
    {"a": Entry("1" * 32, True)},  # a size json.dumps writes as true
])
def test_deltas_of_any_kind_are_written_as_json_dumps_writes_them(entries: dict[str, Entry]) -> None:
    d = Draft(VersionRecord("id5", "n", "p", "1.0.0"), Delta(entries=entries, removed={"z", "y"}), {"a": ("/s/a", 1, 2)})
    assert d.to_bytes() == _full(d)
    assert d.to_bytes() == _full(d)  # and its reuse
