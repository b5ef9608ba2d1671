"""The manifest's annotation column: sparse, canonical text, gated by the format number."""

from __future__ import annotations

import json

import pytest
import zstandard

from dagstore import FormatError
from dagstore.core import manifest as m
from dagstore.core.records import Draft, VersionRecord

A = m.encode_annotation({"labels": ["cat"], "split": "train"})
B = m.encode_annotation({"labels": ["dog"], "split": "train"})


def raw(data: bytes) -> dict:
    return json.loads(zstandard.ZstdDecompressor().decompress(data))


def test_delta_roundtrip_is_sparse_and_format_2():
    d = m.Delta(entries={"a": m.Entry("h1", 1), "b": m.Entry("h2", 2, annotation=A), "c": m.Entry("h3", 3)}, removed={"z"})
    data = d.to_bytes()
    doc = raw(data)
    assert doc["format"] == 2 and doc["annotations"] == {"index": [1], "text": [A]}
    back = m.Delta.from_bytes(data)
    assert back.entries == d.entries and back.removed == {"z"}


def test_manifest_without_annotations_keeps_format_1():
    assert raw(m.Delta(entries={"a": m.Entry("h1", 1)}).to_bytes())["format"] == 1
    assert raw(m.state_to_bytes({"a": m.Entry("h1", 1, origin="v")}))["format"] == 1


def test_an_older_reader_refuses_annotated_manifests(monkeypatch):
    data = m.Delta(entries={"a": m.Entry("h1", 1, annotation=A)}).to_bytes()
    monkeypatch.setattr(m, "MANIFEST_FORMAT", 1)  # what a reader from before annotations knows
    with pytest.raises(FormatError, match="manifest format 2 is newer"):
        m.Delta.from_bytes(data)
    assert m.Delta.from_bytes(m.Delta(entries={"a": m.Entry("h1", 1)}).to_bytes()).entries["a"].hash == "h1"


def test_state_roundtrip_with_origins_links_and_annotations():
    st = {"a": m.Entry("h1", 1, annotation=A, origin="v1"), "b": m.Entry("", 5, "s3://b/x", annotation=B, origin="v2"), "c": m.Entry("h3", 3, origin="v1")}
    assert m.state_from_bytes(m.state_to_bytes(st)) == st
    dense = {f"p{i}": m.Entry("h", i, annotation=A, origin="v") for i in range(5)}
    assert m.state_from_bytes(m.state_to_bytes(dense)) == dense


@pytest.mark.parametrize("column", [{"index": [5], "text": [A]}, {"index": [-1], "text": [A]}, {"index": [0], "text": [{"labels": []}]},
                                    {"index": [0, 1], "text": [A]}, ["x"]])
def test_malformed_annotation_columns_are_refused(column):
    doc = {"format": 2, "kind": "delta", "paths": ["a", "b"], "hashes": ["h", "h"], "sizes": [1, 1], "removed": [], "annotations": column}
    with pytest.raises(FormatError, match="annotations"):
        m.Delta.from_bytes(zstandard.ZstdCompressor().compress(json.dumps(doc).encode()))


def test_annotation_changes_are_modifications_reported_as_annotation_only():
    old = {"a": m.Entry("h1", 1, annotation=A), "b": m.Entry("h2", 1), "c": m.Entry("h3", 1)}
    new = {"a": m.Entry("h1", 1, annotation=B), "b": m.Entry("h9", 1), "c": m.Entry("h3", 1, annotation=A)}
    d = m.diff_states(old, new)
    assert d.modified == ["a", "b", "c"] and d.annotation_only == ["a", "c"]
    assert not m.same_content(old["a"], new["a"]) and m.same_content(old["a"], old["a"]._replace(origin="x"))
    child = m.apply_delta(dict(old), m.delta_between(old, new), "v2")
    assert child["a"].annotation == B and child["a"].origin == "v2"


def test_draft_keeps_annotations_and_record_metadata():
    rec = VersionRecord("id1", "n", "p", "1.0.0", annotations={"classes": [{"name": "cat", "coco_id": 3}], "colors": {}})
    d = Draft(rec, m.Delta(entries={"a": m.Entry("h", 1, annotation=A)}), {"a": ("/tmp/a", 1)})
    back = Draft.from_bytes(d.to_bytes())
    assert back.delta.entries["a"].annotation == A and back.record.annotations == rec.annotations
    assert "annotations" not in json.loads(VersionRecord("id2", "n", "p", "1.0.0").to_json())
