"""docs/format.md is enough to read a store: a reader written from it alone (pyarrow, zstandard,
xxhash and json; no dagstore code) lists what dagstore lists, for stores the current code writes and
for the previous release's fixture. If the writer drifts from the document, this fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import xxhash
import zstandard

from dagstore import Dataset, Store

FIXTURE = Path(__file__).parent.parent / "data" / "stores"
TYPES = {"folder": pa.dictionary(pa.int32(), pa.utf8()), "name": pa.utf8(), "hash": pa.binary(16), "size": pa.uint64(),
         "url": pa.utf8(), "meta": pa.utf8(), "annotation": pa.utf8(), "split": pa.dictionary(pa.int32(), pa.utf8()),
         "classes": pa.list_(pa.utf8()), "region_types": pa.list_(pa.utf8()), "width": pa.float64(),
         "height": pa.float64(), "removed": pa.bool_()}
Row = tuple[str, int, Any, Any, str]  # hash hex ("" for a link), size, url, annotation text, origin


def _arrow_delta(raw: bytes) -> tuple[dict[str, tuple[str, int, Any, Any]], list[str]]:
    t = pa.ipc.open_file(pa.py_buffer(raw)).read_all()
    t.validate(full=True)
    assert json.loads(t.schema.metadata[b"dagstore"]) == {"format": 3, "kind": "delta"}
    assert {f.name: f.type for f in t.schema} == TYPES and t.schema.names == list(TYPES)
    assert all(t[c].null_count == 0 for c in ("folder", "name", "size", "removed"))
    folder = t["folder"].combine_chunks()
    folders = pa.array([f"{d}/" if d else "" for d in folder.dictionary.to_pylist()], pa.utf8())
    paths = pc.binary_join_element_wise(folders.take(folder.indices), t["name"], "").to_pylist()
    assert [p.encode() for p in paths] == sorted({p.encode() for p in paths}), "sorted by path, each once"
    rows, removed = {}, []
    for p, r in zip(paths, t.to_pylist()):
        assert "/" not in r["name"] and all(part not in ("", ".", "..") for part in p.split("/"))
        if r["removed"]:
            removed.append(p)
            continue
        assert (r["hash"] is None) == (r["url"] is not None), "a link or stored content"
        if r["annotation"] is not None:  # the typed columns are derived from the annotation
            a = json.loads(r["annotation"])
            assert r["annotation"] == json.dumps(a, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            regions = a.get("regions", [])
            assert r["split"] == a.get("split") and r["width"] == a.get("media", {}).get("width")
            assert r["classes"] == sorted(set(a.get("labels", [])) | {x["label"] for x in regions if "label" in x})
            assert r["region_types"] == sorted({x["type"] for x in regions})
        rows[p] = ((r["hash"] or b"").hex(), r["size"], r["url"], r["annotation"])
    return rows, removed


def _json_delta(doc: dict[str, Any]) -> tuple[dict[str, tuple[str, int, Any, Any]], list[str]]:
    assert doc["kind"] == "delta" and doc["format"] in (1, 2)
    anns = doc.get("annotations", {"index": [], "text": []})
    swap = str.maketrans({'"': "'", "'": '"'})
    text = {i: s.translate(swap) for i, s in zip(anns["index"], anns["text"])}
    urls = doc.get("urls", {})
    rows = {p: (doc["hashes"][i], doc["sizes"][i], urls.get(str(i)), text.get(i)) for i, p in enumerate(doc["paths"])}
    return rows, doc.get("removed", [])


def read_state(root: Path, vid: str) -> dict[str, Row]:
    """A version's files, from its record and the delta manifests of it and its ancestors."""
    rec = json.loads((root / "versions" / f"{vid}.json").read_text("utf-8"))
    assert rec["format"] in (1, 2) and rec["manifest"].startswith("manifests/")
    state: dict[str, Row] = {}
    for parent in rec["parents"]:  # a later parent wins on the same path
        state.update(read_state(root, parent))
    data = (root / rec["manifest"]).read_bytes()
    assert rec["manifest"] == f"manifests/{xxhash.xxh3_128_hexdigest(data)}"  # its key is the hash of its bytes
    raw = zstandard.ZstdDecompressor().decompress(data)
    assert zstandard.frame_content_size(data) == len(raw)  # one frame, its size in the header
    rows, removed = _arrow_delta(raw) if raw[:6] == b"ARROW1" else _json_delta(json.loads(raw))
    for p in removed:
        state.pop(p, None)
    state.update({p: (*row, vid) for p, row in rows.items()})
    return state


def _check(root: Path, ds: Dataset) -> dict[str, Row]:
    mine = read_state(root, ds.id)
    assert sorted(mine) == ds.list_files()
    files = {e.relative_path: (e.hash, e.size, None, e.parent_dataset_id) for e in ds.file_entries}
    links = {e.relative_path: ("", e.size, e.link, e.parent_dataset_id) for e in ds.link_entries}
    assert {p: (h, s, u, o) for p, (h, s, u, _a, o) in mine.items()} == files | links
    anns = {p: json.loads(a) for p, (_h, _s, _u, a, _o) in mine.items() if a is not None}
    assert anns == dict(ds.iter_annotations())
    return mine


def test_a_reader_written_from_format_md_lists_what_dagstore_lists(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel, data in {"a.txt": b"a", "b.txt": b"b.", "b/c.txt": b"c" * 99, "b/d/e.bin": b"e" * 5000, "img/cat.jpg": b"cat",
                      "img/dog.jpg": b"dog", "\u00fc/x y.txt": b"u", "other/a.txt": b"other a", "other/b/c.txt": b"other c",
                      "link.bin": b"linked"}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))

    def version(name: str, parents: list[Dataset], change: Any) -> Dataset:
        ds = Dataset.create(name, "p", parent_datasets=parents, store=st, classes=["cat", "dog"] if not parents else None)
        change(ds)
        ds.finalize(auto_upload=True)
        return ds

    def first(ds: Dataset) -> None:
        for rel in ("a.txt", "b.txt", "b", "img", "\u00fc"):
            ds.add_files(src / rel, dataset_path=rel if "." not in rel else None, show_progress=False)
        ds.add_external_files((src / "link.bin").as_uri(), dataset_path="links")
        ds.set_annotation("img/cat.jpg", {"split": "train", "labels": ["cat"], "media": {"kind": "image", "width": 10, "height": 8},
                                          "regions": [{"id": "r", "type": "box", "xywh": [1, 1, 2, 2], "label": "dog"}]})
        ds.set_annotation("img/dog.jpg", {"split": "test", "labels": ["dog"]})

    def child(ds: Dataset) -> None:
        (src / "a.txt").write_bytes(b"a changed")
        ds.add_files(src / "a.txt", show_progress=False)
        ds.remove_files("b/d/*")
        ds.set_annotation("img/dog.jpg", {"split": "train", "labels": ["dog", "cat"]})  # annotation-only

    v1 = version("one", [], first)
    v2 = version("one", [v1], child)
    v3 = version("other", [], lambda ds: ds.add_files(src / "other", show_progress=False))
    v4 = version("both", [v2, v3], lambda ds: ds.remove_files("img/cat.jpg"))
    v5 = version("both", [v3, v2], lambda ds: None)
    root = tmp_path / "store"
    for ds in (v1, v2, v3, v4, v5):
        _check(root, Dataset.get(dataset_id=ds.id, store=st))
    both = read_state(root, v4.id)
    assert both["a.txt"][4] == v3.id and both["img/dog.jpg"][4] == v2.id and "img/cat.jpg" not in both
    assert read_state(root, v5.id)["a.txt"][4] == v2.id and both["links/link.bin"][0] == ""


def test_the_reader_reads_the_previous_release_fixture() -> None:
    expected = json.loads((FIXTURE / "prev-release.expected.json").read_text())
    for vid, want in expected.items():
        mine = read_state(FIXTURE / "prev-release", vid)
        assert sorted(mine) == want["files"] and {p: r[0] for p, r in mine.items()} == want["hashes"]
        assert {p: json.loads(r[3]) for p, r in mine.items() if r[3] is not None} == want["annotations"]
