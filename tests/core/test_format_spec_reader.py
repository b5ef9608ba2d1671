"""docs/format.md is enough to list a version's files: a reader written from that document alone
(pyarrow, zstandard and json; no dagstore import) must list what dagstore lists, field by field,
on a delta chain with removals, links, annotations, an annotation-only change, two parents and
the previous release's JSON manifests under a format-3 child. It checks every rule the document
states (schema, order, nulls, derived columns), so a drift between the document and the code
fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import xxhash
import zstandard

# -- the reader: docs/format.md, "Version record" and "Manifests" ------------------------------

RECORD_FORMATS = (1, 2)        # a version record's `format`
MANIFEST_FORMAT = 3            # schema metadata `dagstore` of a columnar manifest
DICT = pa.dictionary(pa.int32(), pa.utf8())
COLUMNS = [                    # (name, type, nullable), in the documented order
    ("folder", DICT, False), ("name", pa.utf8(), False), ("hash", pa.binary(16), True),
    ("size", pa.uint64(), False), ("url", pa.utf8(), True), ("meta", pa.utf8(), True),
    ("annotation", pa.utf8(), True), ("split", DICT, True), ("classes", pa.list_(pa.utf8()), True),
    ("region_types", pa.list_(pa.utf8()), True), ("width", pa.float64(), True),
    ("height", pa.float64(), True), ("removed", pa.bool_(), False),
]

DERIVED = ("split", "classes", "region_types", "width", "height")  # derived from `annotation`
Row = dict[str, Any]          # path, hash (hex or None), size, url, meta, annotation (text), split, ...


class SpecError(Exception):
    """Input docs/format.md says a reader must refuse."""


def _safe_path(path: str) -> None:
    parts = path.split("/")
    if "\0" in path or any(p in ("", ".", "..") for p in parts):
        raise SpecError(f"unsafe path {path!r}")


def _sorted_unique(paths: list[str]) -> None:
    keys = [p.encode() for p in paths]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        raise SpecError("paths not sorted or repeated")


def _derived(annotation: dict[str, Any]) -> dict[str, Any]:
    """What the columns `split` .. `height` hold for an annotation (their definitions in the table)."""
    regions = annotation.get("regions", [])
    labels = set(annotation.get("labels", [])) | {r["label"] for r in regions if "label" in r}
    media = annotation.get("media", {})
    return {"split": annotation.get("split"), "classes": sorted(labels),
            "region_types": sorted({r["type"] for r in regions}),
            "width": media.get("width"), "height": media.get("height")}


def _live_row(r: Row) -> Row:
    """A row that sets a file, checked against the document's rules for it."""
    if (r["url"] is None) == (r["hash"] is None):
        raise SpecError(f"{r['path']}: neither exactly a link nor stored content")
    annotation = None if r["annotation"] is None else json.loads(r["annotation"])
    if annotation is not None and r["annotation"] != json.dumps(annotation, sort_keys=True, separators=(",", ":"), ensure_ascii=False):
        raise SpecError(f"{r['path']}: annotation {r['annotation']!r} is not canonical JSON")
    derived = _derived(annotation) if annotation is not None else dict.fromkeys(DERIVED)
    if {k: r[k] for k in DERIVED} != derived:
        raise SpecError(f"{r['path']}: derived columns {[r[k] for k in DERIVED]} are not those of its annotation")
    if r["size"] >= 1 << 63:
        raise SpecError(f"{r['path']}: size {r['size']} is not a byte count")
    meta = None if r["meta"] is None else json.loads(r["meta"])
    if meta is not None and (not isinstance(meta, dict) or not meta or r["meta"] != json.dumps(meta, sort_keys=True)):
        raise SpecError(f"{r['path']}: meta {r['meta']!r} is not written as documented")
    return {"path": r["path"], "hash": None if r["hash"] is None else r["hash"].hex(), "size": r["size"],
            "url": r["url"], "meta": meta, "annotation": r["annotation"]}


def _arrow_delta(raw: bytes, exact: bool) -> tuple[list[Row], list[str]]:
    """Rows and removals; ``exact``: the schema is the documented one, in order (what dagstore
    writes), else the documented columns are found by name among others."""
    table = pa.ipc.open_file(pa.py_buffer(raw)).read_all()
    table.validate(full=True)
    meta = json.loads(table.schema.metadata[b"dagstore"])
    if meta.get("format", 0) > MANIFEST_FORMAT or meta.get("kind") != "delta":
        raise SpecError(f"manifest {meta} is not a format-3 delta this reader knows")
    got = [(f.name, f.type, f.nullable) for f in table.schema]
    if got != COLUMNS if exact else not set(COLUMNS) <= set(got):
        raise SpecError(f"columns {got} are not the documented {COLUMNS}")
    rows: list[Row] = table.to_pylist()   # dictionary columns decode to their values
    paths = []
    for r in rows:
        if "/" in r["name"]:
            raise SpecError(f"name {r['name']!r} holds a /")
        r["path"] = f"{r['folder']}/{r['name']}" if r["folder"] else r["name"]
        _safe_path(r["path"])
        paths.append(r["path"])
    _sorted_unique(paths)
    removed = [r["path"] for r in rows if r["removed"]]
    kept = [_live_row(r) for r in rows if not r["removed"]]
    return kept, removed


def _json_delta(raw: bytes) -> tuple[list[Row], list[str]]:
    doc = json.loads(raw)
    if doc.get("kind") != "delta" or doc.get("format") not in (1, 2):
        raise SpecError(f"JSON manifest kind {doc.get('kind')} format {doc.get('format')}")
    paths = doc["paths"]
    for p in paths:
        _safe_path(p)
    _sorted_unique(paths)
    swap = str.maketrans({'"': "'", "'": '"'})
    ann = doc.get("annotations", {"index": [], "text": []})
    texts = {i: t.translate(swap) for i, t in zip(ann["index"], ann["text"])}
    rows = [{"path": p, "hash": doc["hashes"][i] or None, "size": doc["sizes"][i], "url": doc.get("urls", {}).get(str(i)),
             "meta": doc.get("meta", {}).get(str(i)), "annotation": texts.get(i)} for i, p in enumerate(paths)]
    return rows, list(doc.get("removed", []))


def read_delta(store: Path, key: str, exact: bool = True) -> tuple[list[Row], list[str]]:
    """A manifest's set rows and removed paths; a manifest is told apart by its decompressed bytes."""
    data = (store / key).read_bytes()
    if key != f"manifests/{xxhash.xxh3_128_hexdigest(data)}":
        raise SpecError(f"{key}: a manifest's key is the xxh3-128 of its stored bytes")
    raw = zstandard.ZstdDecompressor().decompress(data)
    if raw.startswith(b"ARROW1") and zstandard.frame_content_size(data) != len(raw):
        raise SpecError(f"{key}: one zstd frame with its content size in its header")
    return _arrow_delta(raw, exact) if raw.startswith(b"ARROW1") else _json_delta(raw)


def read_record(store: Path, version_id: str) -> dict[str, Any]:
    record = json.loads((store / "versions" / f"{version_id}.json").read_text("utf-8"))
    if record["format"] not in RECORD_FORMATS or record["id"] != version_id:
        raise SpecError(f"version record {version_id} format {record['format']}")
    return record


def read_state(store: Path, version_id: str, memo: dict[str, dict[str, Row]] | None = None, exact: bool = True) -> dict[str, Row]:
    """The full state: the parents' states merged in order (later wins), the delta's removals,
    then its rows; a row's `origin` is the version whose delta set it."""
    memo = {} if memo is None else memo
    if version_id not in memo:
        record = read_record(store, version_id)
        state: dict[str, Row] = {}
        for parent in record["parents"]:
            state.update(read_state(store, parent, memo, exact))
        rows, removed = read_delta(store, record["manifest"], exact)
        for path in removed:
            state.pop(path, None)
        state.update({r["path"]: {**r, "origin": version_id} for r in rows})
        memo[version_id] = dict(sorted(state.items(), key=lambda kv: kv[0].encode()))
    return memo[version_id]


# -- the comparison with dagstore ---------------------------------------------------------------

def assert_same_listing(store: Path, version_id: str, exact: bool = True) -> dict[str, Row]:
    from dagstore import Dataset

    mine = read_state(store, version_id, exact=exact)
    ds = Dataset.get(version_id, store=str(store))
    assert ds.list_files() == list(mine)
    files = {p: (e.hash, e.size, e.parent_dataset_id, e.meta) for p, e in ds.file_entries_dict.items()}
    assert files == {p: (r["hash"], r["size"], r["origin"], r["meta"]) for p, r in mine.items() if r["url"] is None}
    links = {p: (e.link, e.size, e.parent_dataset_id) for p, e in ds.link_entries_dict.items()}
    assert links == {p: (r["url"], r["size"], r["origin"]) for p, r in mine.items() if r["url"] is not None}
    for origin in {r["origin"] for r in mine.values()}:   # ClearML's "files that version introduced"
        assert ds.list_files(dataset_id=origin) == [p for p, r in mine.items() if r["origin"] == origin]
    annotations = {p: json.loads(r["annotation"]) for p, r in mine.items() if r["annotation"] is not None}
    assert dict(ds.iter_annotations()) == annotations
    for p in mine:
        assert ds.get_annotation(p) == annotations.get(p)
    for split in {a.get("split") for a in annotations.values()} - {None}:
        assert ds.filter_files(split=split) == [p for p, a in annotations.items() if a.get("split") == split]
    for label in {c for a in annotations.values() for c in _derived(a)["classes"]}:
        assert ds.filter_files(label=label) == [p for p, a in annotations.items() if label in _derived(a)["classes"]]
    for kind in {t for a in annotations.values() for t in _derived(a)["region_types"]}:
        assert ds.filter_files(region_type=kind) == [p for p, a in annotations.items() if kind in _derived(a)["region_types"]]
    return mine


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _box(split: str, label: str, extra: str | None = None) -> dict[str, Any]:
    regions = [{"id": "r1", "type": "box", "label": label, "xywh": [1, 2, 10, 10]}]
    return {"split": split, "media": {"kind": "image", "width": 64, "height": 48}, "regions": regions,
            "labels": [extra] if extra else [], "fields": {"note": "it's \"quoted\""}}


def _version(store: Path, tmp: Path, parents: list[str], files: dict[str, bytes], remove: list[str],
             annotations: dict[str, dict[str, Any] | None], links: list[str] = ()) -> str:
    from dagstore import Dataset

    ds = Dataset.create("spec", "reader", parent_datasets=parents, store=str(store),
                        classes=None if parents else ["cat", "dog"])
    for pattern in remove:
        ds.remove_files(pattern)
    if files:
        ds.add_files(_write(tmp, files))
    for url in links:
        ds.add_external_files(url, dataset_path="remote")
    if annotations:
        ds.set_annotations(annotations)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds.id


@pytest.fixture
def chain(tmp_path: Path) -> tuple[Path, list[str]]:
    """v1 (files, a link, annotations) <- v2 (removals, a modification, an annotation-only
    change) <- v3 (a removed path back, names that sort differently by bytes and by case);
    v4 = merge of [v3, side], side holding a path v3 also holds (the later parent wins)."""
    store, ext = tmp_path / "store", _write(tmp_path / "ext", {"far.bin": b"far away"})
    v1 = _version(store, tmp_path / "1", [], {"a.txt": b"one", "img/cat.jpg": b"c" * 300, "img/dog.jpg": b"d" * 40,
                                               "docs/readme.md": b"# r", "docs/deep/x.md": b"x", "b.txt": b""},
                  [], {"img/cat.jpg": _box("train", "cat"), "img/dog.jpg": _box("val", "dog", "cat")},
                  [f"file://{ext}/far.bin"])
    v2 = _version(store, tmp_path / "2", [v1], {"a.txt": b"two", "new.txt": b"new"}, ["docs/*"],
                  {"img/cat.jpg": _box("test", "cat"), "img/dog.jpg": None})
    v3 = _version(store, tmp_path / "3", [v2], {"docs/readme.md": b"# back", "Z.txt": b"Z", "é/ü.txt": b"u",
                                                 "a b.txt": b"s", "img/z-dog.jpg": b"z" * 9}, ["img/dog.jpg"],
                  {"img/z-dog.jpg": _box("train", "dog")})
    side = _version(store, tmp_path / "s", [], {"a.txt": b"side", "only-side.txt": b"s"}, [],
                    {})
    v4 = _version(store, tmp_path / "4", [side, v3], {}, ["b.txt"], {"only-side.txt": None})
    return store, [v1, v2, v3, side, v4]


def test_the_documented_reader_lists_what_dagstore_lists(chain: tuple[Path, list[str]]) -> None:
    store, versions = chain
    states = {v: assert_same_listing(store, v) for v in versions}
    v1, v2, v3, side, v4 = versions
    assert "docs/readme.md" not in states[v2] and states[v3]["docs/readme.md"]["origin"] == v3
    assert states[v2]["img/cat.jpg"]["origin"] == v2                # annotation-only change
    assert states[v2]["img/cat.jpg"]["hash"] == states[v1]["img/cat.jpg"]["hash"]
    assert states[v2]["img/dog.jpg"]["annotation"] is None
    assert states[v4]["a.txt"]["origin"] == v2                        # the later parent wins
    assert "b.txt" not in states[v4] and states[v1]["b.txt"]["size"] == 0
    assert states[v1]["remote/far.bin"]["url"].endswith("far.bin")


def test_the_previous_release_store_and_a_child_written_on_it(tmp_path: Path) -> None:
    """The fixture's JSON manifests (formats 1 and 2) read by the document's rules, then a
    format-3 child of its newest version: the chain mixes both encodings."""
    import shutil

    store = tmp_path / "store"
    shutil.copytree(Path(__file__).parents[1] / "data" / "stores" / "prev-release", store)
    records = [json.loads(p.read_text()) for p in sorted((store / "versions").glob("*.json"))]
    for record in records:
        assert_same_listing(store, record["id"])
    newest = max(records, key=lambda r: r["version"])["id"]
    child = _version(store, tmp_path / "c", [newest], {"child.txt": b"child"}, ["img/000.jpg"], {})
    assert read_record(store, child)["format"] == 2
    assert (zstandard.ZstdDecompressor().decompress((store / read_record(store, child)["manifest"]).read_bytes())
            .startswith(b"ARROW1"))
    assert "img/000.jpg" not in assert_same_listing(store, child)


def _reencode(store: Path, version_id: str, change: Any, compress: Any = None) -> None:
    """Rewrite a version's manifest as another writer following the document might (a new key,
    the hash of its bytes; the record pointed at it)."""

    record = read_record(store, version_id)
    raw = zstandard.ZstdDecompressor().decompress((store / record["manifest"]).read_bytes())
    table = change(pa.ipc.open_file(pa.py_buffer(raw)).read_all())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):
            writer.write_batch(batch)
    data = (compress or zstandard.ZstdCompressor(level=19).compress)(sink.getvalue().to_pybytes())
    record["manifest"] = f"manifests/{xxhash.xxh3_128_hexdigest(data)}"
    (store / record["manifest"]).write_bytes(data)
    (store / "versions" / f"{version_id}.json").write_text(json.dumps(record))


def test_what_the_document_leaves_to_a_writer_is_read_alike(chain: tuple[Path, list[str]], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns in another order, a column dagstore does not know, several record batches, another
    compression level and bytes after the frame: the same files (the document allows each)."""
    store, versions = chain
    before = {v: read_state(store, v) for v in versions}

    def reordered(t: pa.Table) -> pa.Table:
        t = t.append_column("comment", pa.array(["x"] * t.num_rows))
        return t.select(list(reversed(t.column_names)))

    for v in versions:
        _reencode(store, v, reordered, lambda raw: zstandard.ZstdCompressor(level=1).compress(raw) + b"trailing")
    monkeypatch.setenv("DAGSTORE_CACHE_DIR", str(tmp_path / "fresh-cache"))
    for v in versions:
        assert assert_same_listing(store, v, exact=False) == before[v]
