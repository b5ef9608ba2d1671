"""The manifest's annotation column: sparse, canonical text, gated by the format number."""

from __future__ import annotations

import json

import pytest
import zstandard

from dagstore import FormatError
from dagstore.core import columns
from dagstore.core import manifest as m
from dagstore.core.state import State
from dagstore.core.records import Draft, VersionRecord

A = m.encode_annotation({"labels": ["cat"], "split": "train"})
B = m.encode_annotation({"labels": ["dog"], "split": "train"})


def raw(data: bytes) -> dict:
    return json.loads(zstandard.ZstdDecompressor().decompress(data))


def _legacy(entries: dict, removed: list | None = None) -> bytes:
    """A manifest as the previous release wrote it (JSON, format 1 or 2)."""
    cols = m._columns(entries)
    return zstandard.ZstdCompressor().compress(json.dumps({"format": m._format_of(cols), "kind": "delta", **cols, "removed": removed or []}).encode())


def _read(data: bytes) -> m.Delta:
    return columns.to_delta(columns.read_manifest(data, "manifest"))


def _state(entries: dict) -> State:
    origins = list(dict.fromkeys(e.origin for e in entries.values()))
    return State(columns.entries_table(entries, origins=origins), origins)


def test_legacy_delta_with_a_sparse_annotation_column_reads_as_format_2():
    entries = {"a": m.Entry("1" * 32, 1), "b": m.Entry("2" * 32, 2, annotation=A), "c": m.Entry("3" * 32, 3)}
    data = _legacy(entries, ["z"])
    assert raw(data)["format"] == 2 and raw(data)["annotations"] == {"index": [1], "text": [A]}
    back = _read(data)
    assert back.entries == entries and back.removed == {"z"}
    assert _read(columns.delta_bytes(back)).entries == entries  # and through format 3


def test_legacy_manifest_without_annotations_is_format_1():
    assert raw(_legacy({"a": m.Entry("1" * 32, 1)}))["format"] == 1


def test_an_older_reader_refuses_annotated_legacy_manifests(monkeypatch):
    data = _legacy({"a": m.Entry("1" * 32, 1, annotation=A)})
    monkeypatch.setattr(m, "MANIFEST_FORMAT", 1)  # what a reader from before annotations knows
    monkeypatch.setattr(columns, "MANIFEST_FORMAT", 1)
    with pytest.raises(FormatError, match="manifest format 2 is newer"):
        _read(data)
    assert _read(_legacy({"a": m.Entry("1" * 32, 1)})).entries["a"].hash == "1" * 32


def test_state_roundtrip_with_origins_links_and_annotations():
    st = {"a": m.Entry("1" * 32, 1, annotation=A, origin="v1"), "b": m.Entry("", 5, "s3://b/x", annotation=B, origin="v2"), "c": m.Entry("3" * 32, 3, origin="v1")}
    assert State.from_bytes(_state(st).to_bytes()).as_dict() == st
    dense = {f"p{i}": m.Entry("4" * 32, i, annotation=A, origin="v") for i in range(5)}
    assert State.from_bytes(_state(dense).to_bytes()).as_dict() == dense


@pytest.mark.parametrize("column", [{"index": [5], "text": [A]}, {"index": [-1], "text": [A]}, {"index": [0], "text": [{"labels": []}]},
                                    {"index": [0, 1], "text": [A]}, ["x"]])
def test_malformed_annotation_columns_are_refused(column):
    doc = {"format": 2, "kind": "delta", "paths": ["a", "b"], "hashes": ["1" * 32, "1" * 32], "sizes": [1, 1], "removed": [], "annotations": column}
    with pytest.raises(FormatError, match="annotations"):
        _read(zstandard.ZstdCompressor().compress(json.dumps(doc).encode()))


def test_annotation_changes_are_modifications_reported_as_annotation_only():
    old = {"a": m.Entry("1" * 32, 1, annotation=A), "b": m.Entry("2" * 32, 1), "c": m.Entry("3" * 32, 1)}
    new = {"a": m.Entry("1" * 32, 1, annotation=B), "b": m.Entry("9" * 32, 1), "c": m.Entry("3" * 32, 1, annotation=A)}
    d = _state(old).diff(_state(new))
    assert d.modified == ["a", "b", "c"] and d.annotation_only == ["a", "c"]
    assert not m.same_content(old["a"], new["a"]) and m.same_content(old["a"], old["a"]._replace(origin="x"))
    child = _state(old).apply(columns.entries_table({"a": new["a"]}), "v2")
    assert child["a"].annotation == B and child["a"].origin == "v2"


def test_draft_keeps_annotations_and_record_metadata():
    rec = VersionRecord("id1", "n", "p", "1.0.0", annotations={"classes": [{"name": "cat", "coco_id": 3}], "colors": {}})
    d = Draft(rec, m.Delta(entries={"a": m.Entry("h", 1, annotation=A)}), {"a": ("/tmp/a", 1)})
    back = Draft.from_bytes(d.to_bytes())
    assert back.delta.entries["a"].annotation == A and back.record.annotations == rec.annotations
    assert "annotations" not in json.loads(VersionRecord("id2", "n", "p", "1.0.0").to_json())
