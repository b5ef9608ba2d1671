"""A small real store with several versions, and a catalog of hostile objects to write into it.

Used by tests/test_hostile_inputs.py (one test per case) and by benchmarks/hostile.py (the
hostile-input run and the kill sweep), so both try exactly the same inputs.

The world (all in project ``p``):

- ``A`` alpha 1.0.0: small raw, small compressible and one large (4.5 MiB) file
- ``B`` alpha 1.0.1, child of A: one file modified, one added
- ``G`` gamma 1.0.0: independent
- ``V`` alpha 1.0.2, child of B: the victim, with its own pack and its own large object
- ``W`` omega 1.0.0: a second victim (parent cycles need two)
- ``D`` alpha draft (not finalized, nothing uploaded)

A case changes the victim's objects and says what reading the victim must raise; every
other version must still list, read and verify.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import zstandard

from dagstore import Dataset, DagstoreError, FormatError, IntegrityError, Store, DatasetNotFoundError

PROJECT = "p"
LARGE = (4 << 20) + 512 * 1024


def _rand(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _text(seed: int, n: int) -> bytes:
    words = [b"alpha", b"beta", b"gamma", b"delta", b"label", b"cat", b"dog"]
    r = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        out += r.choice(words) + b" "
    return bytes(out[:n])


TREES: dict[str, dict[str, bytes]] = {
    "A": {"a.txt": b"alpha one\n", "dir/b.bin": _rand(1, 3000), "dir/c.txt": _text(2, 5000), "big.bin": _rand(3, LARGE)},
    "B": {"a.txt": b"alpha two\n", "e.txt": _text(4, 2000)},
    "G": {"g.txt": b"gamma\n", "g/h.bin": _rand(5, 4000)},
    "V": {"v/small.bin": _rand(6, 3000), "v/text.txt": _text(7, 6000), "v/large.bin": _rand(8, LARGE)},
    "W": {"w.txt": b"omega\n"},
}


def expected_state(name: str) -> dict[str, bytes]:
    """Full content of a version of the world."""
    chain = {"A": ["A"], "B": ["A", "B"], "V": ["A", "B", "V"], "G": ["G"], "W": ["W"]}[name]
    out: dict[str, bytes] = {}
    for n in chain:
        out.update(TREES[n])
    return out


def build_world(root: Path) -> dict[str, str]:
    """Create the store under ``root/store`` (sources in ``root/src``); returns {name: id}."""
    store = Store(str(root / "store"), cache_dir=str(root / "build-cache"))
    ids: dict[str, str] = {}

    def version(key: str, name: str, parent: str | None) -> None:
        src = root / "src" / key
        for rel, data in TREES[key].items():
            p = src / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        ds = Dataset.create(dataset_name=name, dataset_project=PROJECT, parent_datasets=[ids[parent]] if parent else None, store=store)
        ds.add_files(str(src), show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
        ids[key] = ds.id

    version("A", "alpha", None)
    version("B", "alpha", "A")
    version("G", "gamma", None)
    version("V", "alpha", "B")
    version("W", "omega", None)
    draft = Dataset.create(dataset_name="alpha", dataset_project=PROJECT, store=store)
    ids["D"] = draft.id
    (root / "ids.json").write_text(json.dumps(ids))
    shutil.rmtree(root / "build-cache")
    return ids


class World:
    """One copy of the world: the store folder, a fresh cache, and helpers to damage it."""

    def __init__(self, root: Path, ids: dict[str, str]):
        self.root = root
        self.ids = ids
        self.store_dir = root / "store"
        self.cache_n = 0

    def store(self) -> Store:
        """A Store on the world with a cache nobody used yet (nothing cached hides damage)."""
        self.cache_n += 1
        return Store(str(self.store_dir), cache_dir=str(self.root / f"cache{self.cache_n}"))

    # -- objects of a version ---------------------------------------------------------------

    def record_path(self, key: str) -> Path:
        return self.store_dir / "versions" / f"{self.ids[key]}.json"

    def record(self, key: str) -> dict[str, Any]:
        return json.loads(self.record_path(key).read_text())

    def write_record(self, key: str, doc: Any) -> None:
        self.record_path(key).write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())

    def manifest_path(self, key: str) -> Path:
        return self.store_dir / self.record(key)["manifest"]

    def manifest(self, key: str) -> dict[str, Any]:
        """The version's manifest as the JSON document of format 1/2 (what earlier releases
        wrote; forged manifests are written in it, so these cases test the JSON reader)."""
        from dagstore.core import columns, manifest

        delta = columns.to_delta(columns.read_manifest(self.manifest_path(key).read_bytes(), "manifest"))
        cols = manifest._columns(delta.entries)
        return {"format": manifest._format_of(cols), "kind": "delta", **cols, "removed": sorted(delta.removed)}

    def arrow_manifest(self, key: str) -> Any:
        """The version's stored columnar manifest (format 3) as an Arrow table."""
        import pyarrow as pa

        raw = zstandard.ZstdDecompressor().decompress(self.manifest_path(key).read_bytes())
        return pa.ipc.open_file(pa.py_buffer(raw)).read_all()

    def forge_arrow(self, key: str, table: Any, truncate: bool = False) -> None:
        """Point the version at a forged columnar manifest (an Arrow table, zstd-compressed)."""
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        raw = sink.getvalue().to_pybytes()
        self.forge_manifest(key, zstandard.ZstdCompressor().compress(raw[: len(raw) // 2] if truncate else raw))

    def forge_manifest(self, key: str, doc: Any) -> None:
        """Point the version at a new, hash-consistent manifest (a hostile or buggy writer)."""
        from dagstore.core.hashing import hash_bytes

        raw = doc if isinstance(doc, bytes) else zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
        mkey = f"manifests/{hash_bytes(raw)}"
        (self.store_dir / mkey).write_bytes(raw)
        rec = self.record(key)
        rec["manifest"] = mkey
        self.write_record(key, rec)

    def edit_manifest(self, key: str, change: Callable[[dict[str, Any]], None]) -> None:
        doc = self.manifest(key)
        change(doc)
        self.forge_manifest(key, doc)

    def pack_path(self, key: str) -> Path:
        (pid,) = self.record(key)["packs"]
        return self.store_dir / "packs" / pid[:2] / pid

    def index_path(self, key: str) -> Path:
        (pid,) = self.record(key)["packs"]
        return self.store_dir / "index" / pid[:2] / pid

    def index(self, key: str) -> dict[str, Any]:
        return json.loads(zstandard.ZstdDecompressor().decompress(self.index_path(key).read_bytes()))

    def object_path(self, key: str) -> Path:
        (h,) = self.record(key)["objects"]
        return self.store_dir / "objects" / h[:2] / h

    def claim_path(self, key: str) -> Path:
        from dagstore.core.store import name_key

        rec = self.record(key)
        return self.store_dir / "names" / name_key(rec["project"], rec["name"]) / rec["version"]

    def labels_path(self, key: str) -> Path:
        return self.store_dir / "state" / self.ids[key] / "0000000001.json"

    def draft_path(self) -> Path:
        return self.store_dir / "drafts" / self.ids["D"]

    def temps(self) -> list[str]:
        """Temporary files or folders anywhere in the store or the caches (must be none)."""
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.name.startswith((".tmp-", ".trash-")))


def copy_world(template: Path, dest: Path) -> World:
    shutil.copytree(template / "store", dest / "store")
    return World(dest, json.loads((template / "ids.json").read_text()))


# -- the catalog --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile input: ``apply`` damages the world; reading ``victim`` must raise ``error``
    (None: the victim stays readable, e.g. a bad labels file is ignored with a warning);
    ``listed`` says whether ``list_datasets`` still shows the victim."""

    id: str
    apply: Callable[[World], None]
    victim: str = "V"
    error: type[DagstoreError] | None = FormatError
    listed: bool = False
    verify_names: str = ""  # a word the store verify report must contain ("" = the victim id)
    needs_read_data: bool = False  # only the bytes are bad: verify finds it with read_data
    bad_annotations: bool = False  # the victim's files read; its annotations are refused (verify reports them)


def _rec_set(field: str, value: Any) -> Callable[[World], None]:
    def f(w: World) -> None:
        doc = w.record("V")
        doc[field] = value
        w.write_record("V", doc)

    return f


def _rec_drop(field: str) -> Callable[[World], None]:
    def f(w: World) -> None:
        doc = w.record("V")
        del doc[field]
        w.write_record("V", doc)

    return f


def _raw_record(data: bytes) -> Callable[[World], None]:
    return lambda w: w.write_record("V", data)


def _cycle(w: World) -> None:
    v, o = w.record("V"), w.record("W")
    v["parents"], o["parents"] = [w.ids["W"]], [w.ids["V"]]
    w.write_record("V", v)
    w.write_record("W", o)


def _self_parent(w: World) -> None:
    v = w.record("V")
    v["parents"] = [w.ids["V"]]
    w.write_record("V", v)


def _missing_parent(w: World) -> None:
    v = w.record("V")
    v["parents"] = [w.ids["B"], "0" * 32]
    w.write_record("V", v)


def _man(change: Callable[[dict[str, Any]], None]) -> Callable[[World], None]:
    return lambda w: w.edit_manifest("V", change)


def _set(doc: dict[str, Any], **kv: Any) -> None:
    doc.update(kv)


def _size_lie(which: str, delta: int) -> Callable[[World], None]:
    def change(doc: dict[str, Any]) -> None:
        i = doc["paths"].index(which)
        doc["sizes"][i] += delta

    return _man(change)


def _tree_conflict(doc: dict[str, Any]) -> None:
    i = doc["paths"].index("v/small.bin")
    rows = sorted([*zip(doc["paths"], doc["hashes"], doc["sizes"]), ("v", doc["hashes"][i], doc["sizes"][i])])
    doc["paths"], doc["hashes"], doc["sizes"] = (list(x) for x in zip(*rows))


def _arrow(change: Callable[[Any], Any], truncate: bool = False) -> Callable[[World], None]:
    """A case that forges the victim's columnar manifest: ``change`` maps its table to another."""
    return lambda w: w.forge_arrow("V", change(w.arrow_manifest("V")), truncate)


def _column(table: Any, name: str, values: Any) -> Any:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _annotations(text: str) -> Callable[[Any], Any]:
    """Every file's annotation ``text`` (parsed only where an annotation is read, and by verify)."""
    return lambda t: _column(t, "annotation", pa.array([text] * t.num_rows, pa.string()))


def _swap_rows(table: Any) -> Any:
    import pyarrow as pa

    return table.take(pa.array([1, 0, *range(2, table.num_rows)]))


def _folder_out_of_range(table: Any) -> Any:
    import pyarrow as pa

    folder = table["folder"].combine_chunks()
    bad = pa.DictionaryArray.from_arrays(pa.array([99] * len(folder), pa.int32()), folder.dictionary, safe=False)
    return _column(table, "folder", bad)


def _split_out_of_range(table: Any) -> Any:
    import pyarrow as pa

    bad = pa.DictionaryArray.from_arrays(pa.array([7] * table.num_rows, pa.int32()), pa.array(["train"]), safe=False)
    return _column(table, "split", bad)


def _no_content(table: Any) -> Any:
    import pyarrow as pa

    return _column(table, "hash", pa.nulls(table.num_rows, table.schema.field("hash").type))


def _hash_width(table: Any) -> Any:
    import pyarrow as pa

    return _column(table, "hash", pa.array([b"x" * 20] * table.num_rows, pa.binary(20)))


def _arrow_meta(meta: dict[str, Any] | None) -> Callable[[Any], Any]:
    return lambda t: t.replace_schema_metadata(None if meta is None else {"dagstore": json.dumps(meta)})


def _unsafe_name(table: Any) -> Any:
    import pyarrow as pa

    return _column(table, "name", pa.array([".."] + table["name"].to_pylist()[1:], pa.string()))


def _nulled(column: str) -> Callable[[Any], Any]:
    """A null in the first row of a column the format declares not null (declared nullable)."""
    def change(t: Any) -> Any:
        field = t.schema.field(column).with_nullable(True)
        values = t[column].combine_chunks().to_pylist()
        return t.set_column(t.schema.get_field_index(column), field, pa.array([None, *values[1:]], field.type))

    return change


def _slash_in_last_name(t: Any) -> Any:  # "v/zz/text.txt": a safe path, still sorted, but not folder + name
    names = t["name"].to_pylist()
    return _column(t, "name", pa.array([*names[:-1], "zz/" + names[-1]], pa.string()))


def _invalid_utf8_in_last_name(t: Any) -> Any:  # 0xff at the end of the last name: still sorted
    names = pa.array(t["name"].to_pylist(), pa.string())
    data = names.buffers()[2].to_pybytes()
    end = sum(len(n.encode()) for n in names.to_pylist())
    bad = pa.Array.from_buffers(pa.string(), len(names), [None, names.buffers()[1], pa.py_buffer(data[: end - 1] + b"\xff" + data[end:])])
    return _column(t, "name", bad)


def _cast(column: str, to: Any) -> Callable[[Any], Any]:
    """The column's values under another Arrow type (a writer that got the schema wrong)."""
    def change(t: Any) -> Any:
        return _column(t, column, t[column].combine_chunks().cast(to))

    return change


def _hex_hashes(t: Any) -> Any:  # the 32 hex digits used elsewhere, as text
    return _column(t, "hash", pa.array([h.hex() for h in t["hash"].to_pylist()], pa.string()))


def _folders(dictionary: list[Any], index: int = 0) -> Callable[[Any], Any]:
    """Every row's folder replaced by ``dictionary[index]`` (indices not checked: may be out of range)."""
    def change(t: Any) -> Any:
        indices = pa.array([index] * t.num_rows, pa.int32())
        return _column(t, "folder", pa.DictionaryArray.from_arrays(indices, pa.array(dictionary, pa.string()), safe=False))

    return change


def _link_with_hash(t: Any) -> Any:  # the first row both stored content and a link
    return _column(t, "url", pa.array(["s3://elsewhere/x", *[None] * (t.num_rows - 1)], pa.string()))


def _stored_frame(change: Callable[[bytes], bytes]) -> Callable[[World], None]:
    """A case that re-frames the victim's (valid) columnar manifest: ``change`` maps its stored bytes."""
    return lambda w: w.forge_manifest("V", change(w.manifest_path("V").read_bytes()))


def _without_content_size(data: bytes) -> bytes:
    raw = zstandard.ZstdDecompressor().decompress(data)
    return zstandard.ZstdCompressor(write_content_size=False).compress(raw)


def _zst(doc: Any) -> bytes:
    return zstandard.ZstdCompressor().compress(json.dumps(doc).encode())


def _pack_truncate(w: World) -> None:
    p = w.pack_path("V")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])


def _flip_blob(w: World, path: str) -> None:
    from dagstore.core.hashing import hash_bytes

    h = w.manifest("V")["hashes"][w.manifest("V")["paths"].index(path)]
    blob = next(b for b in w.index("V")["blobs"] if b[0] == h)
    p = w.pack_path("V")
    data = bytearray(p.read_bytes())
    data[blob[1] + blob[2] // 2] ^= 0x55
    p.write_bytes(bytes(data))
    assert hash_bytes(bytes(data)) != p.name


def _index_edit(change: Callable[[dict[str, Any]], None]) -> Callable[[World], None]:
    def f(w: World) -> None:
        doc = w.index("V")
        change(doc)
        w.index_path("V").write_bytes(_zst(doc))

    return f


def _past_end(doc: dict[str, Any]) -> None:
    for b in doc["blobs"]:
        b[1] += 10_000_000


def _object_truncate(w: World) -> None:
    p = w.object_path("V")
    p.write_bytes(p.read_bytes()[:1000])


def _object_flip(w: World) -> None:
    p = w.object_path("V")
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))


def _claim(data: bytes) -> Callable[[World], None]:
    return lambda w: w.claim_path("V").write_bytes(data)


def _labels(data: bytes) -> Callable[[World], None]:
    def f(w: World) -> None:
        p = w.labels_path("V")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    return f


def _draft(data: bytes) -> Callable[[World], None]:
    return lambda w: w.draft_path().write_bytes(data)


_DRAFT_OK = {"format": 1, "record": {"id": "x", "name": "alpha", "project": PROJECT, "version": "1.0.9"},
             "delta": {"paths": [], "hashes": [], "sizes": []}, "removed": [], "pending": {}}


def _draft_doc(**kv: Any) -> bytes:
    return _zst({**_DRAFT_OK, **kv})


NESTED = b"[" * (8 << 20) + b"]" * (8 << 20)  # a 16 MB record nested 8 million deep

CASES: list[Case] = [
    # version records
    Case("record-not-json", _raw_record(b"{this is not json")),
    Case("record-empty", _raw_record(b"")),
    Case("record-list", _raw_record(b"[]")),
    Case("record-null", _raw_record(b"null")),
    Case("record-number", _raw_record(b"123")),
    Case("record-invalid-utf8", _raw_record(b'{"id": "\xff\xfe"}')),
    Case("record-nested-16MB", _raw_record(NESTED)),
    Case("record-newer-format", _rec_set("format", 99)),
    Case("record-format-text", _rec_set("format", "one")),
    Case("record-manifest-number", _rec_set("manifest", 123)),
    Case("record-manifest-escapes", _rec_set("manifest", "../../etc/passwd")),
    Case("record-manifest-missing-field", _rec_drop("manifest")),
    Case("record-no-id", _rec_drop("id")),
    Case("record-id-of-another", lambda w: _rec_set("id", w.ids["G"])(w)),
    Case("record-packs-ints", _rec_set("packs", [1, 2])),
    Case("record-packs-string", _rec_set("packs", "abc")),
    Case("record-objects-ints", _rec_set("objects", [1])),
    Case("record-version-int", _rec_set("version", 5)),
    Case("record-name-null", _rec_set("name", None)),
    Case("record-project-list", _rec_set("project", ["p"])),
    Case("record-parents-string", _rec_set("parents", "abc")),
    Case("record-tags-int", _rec_set("tags", 5)),
    Case("record-metadata-list", _rec_set("metadata", [1, 2])),
    Case("record-stats-text", _rec_set("stats", "lots")),
    Case("record-published-text", _rec_set("published", "yes")),
    Case("record-content-url-int", _rec_set("content_url", 5)),
    Case("record-parent-cycle", _cycle, listed=True),
    Case("record-own-parent", _self_parent, listed=True),
    Case("record-parent-missing", _missing_parent, error=DatasetNotFoundError, listed=True),
    # manifests
    Case("manifest-missing", lambda w: w.manifest_path("V").unlink(), error=IntegrityError, listed=True),
    Case("manifest-in-place-edit", lambda w: w.manifest_path("V").write_bytes(_zst({"format": 1, "kind": "delta", "paths": [], "hashes": [], "sizes": []})),
         error=IntegrityError, listed=True),
    Case("manifest-not-zstd", lambda w: w.forge_manifest("V", b"garbage bytes"), listed=True),
    Case("manifest-list", lambda w: w.forge_manifest("V", _zst([])), listed=True),
    Case("manifest-paths-string", _man(lambda d: _set(d, paths="abc")), listed=True),
    Case("manifest-hashes-int", _man(lambda d: _set(d, hashes=5)), listed=True),
    Case("manifest-hash-ints", _man(lambda d: _set(d, hashes=[1] * len(d["paths"]))), listed=True),
    Case("manifest-sizes-text", _man(lambda d: _set(d, sizes=["x"] * len(d["paths"]))), listed=True),
    Case("manifest-size-negative", _man(lambda d: _set(d, sizes=[-1] * len(d["paths"]))), listed=True),
    Case("manifest-urls-list", _man(lambda d: _set(d, urls=[1])), listed=True),
    Case("manifest-meta-int", _man(lambda d: _set(d, meta=5)), listed=True),
    Case("manifest-removed-int", _man(lambda d: _set(d, removed=5)), listed=True),
    Case("manifest-short-column", _man(lambda d: _set(d, sizes=d["sizes"][:-1])), listed=True),
    Case("manifest-newer-format", _man(lambda d: _set(d, format=9)), listed=True),
    Case("manifest-unsafe-path", _man(lambda d: _set(d, paths=["../x", *d["paths"][1:]])), listed=True),
    Case("manifest-file-and-folder", _man(_tree_conflict), listed=True),
    Case("manifest-annotation-not-json", _man(lambda d: _set(d, format=2, annotations={"index": [0], "text": ["{not json"]})), listed=True),
    Case("manifest-small-size-lie", _size_lie("v/small.bin", 100), error=IntegrityError, listed=True),
    Case("manifest-large-size-lie", _size_lie("v/large.bin", 100), error=IntegrityError, listed=True),
    Case("manifest-large-size-short", _size_lie("v/large.bin", -100), error=IntegrityError, listed=True),
    # columnar manifests (format 3)
    Case("arrow-truncated", _arrow(lambda t: t, truncate=True), listed=True),
    Case("arrow-size-text", _arrow(lambda t: _column(t, "size", t["size"].cast("string"))), listed=True),
    Case("arrow-no-hash-column", _arrow(lambda t: t.drop_columns(["hash"])), listed=True),
    Case("arrow-unsorted", _arrow(_swap_rows), listed=True),
    Case("arrow-duplicated", _arrow(lambda t: t.take([0, *range(t.num_rows)])), listed=True),
    Case("arrow-folder-index-out-of-range", _arrow(_folder_out_of_range), listed=True),
    Case("arrow-hash-width", _arrow(_hash_width), listed=True),
    Case("arrow-split-index-out-of-range", _arrow(_split_out_of_range), listed=True),
    Case("arrow-row-without-content", _arrow(_no_content), listed=True),
    Case("arrow-unsafe-name", _arrow(_unsafe_name), listed=True),
    Case("arrow-newer-format", _arrow(_arrow_meta({"format": 9, "kind": "delta"})), listed=True),
    Case("arrow-no-metadata", _arrow(_arrow_meta(None)), listed=True),
    Case("arrow-kind-state", _arrow(_arrow_meta({"format": 3, "kind": "state"})), listed=True),
    Case("arrow-kind-missing", _arrow(_arrow_meta({"format": 3})), listed=True),
    Case("arrow-null-size", _arrow(_nulled("size")), listed=True),
    Case("arrow-null-name", _arrow(_nulled("name")), listed=True),
    Case("arrow-null-removed", _arrow(_nulled("removed")), listed=True),
    Case("arrow-folder-null-value", _arrow(_folders([None])), listed=True),
    Case("arrow-name-with-slash", _arrow(_slash_in_last_name), listed=True),
    Case("arrow-invalid-utf8", _arrow(_invalid_utf8_in_last_name), listed=True),
    Case("arrow-zstd-truncated", _stored_frame(lambda b: b[:-7]), listed=True),
    Case("arrow-zstd-no-content-size", _stored_frame(_without_content_size), listed=True),
    Case("arrow-hash-hex-text", _arrow(_hex_hashes), listed=True),
    Case("arrow-hash-variable-width", _arrow(_cast("hash", pa.binary())), listed=True),
    Case("arrow-folder-not-dictionary", _arrow(_cast("folder", pa.string())), listed=True),
    Case("arrow-folder-int8-indices", _arrow(_cast("folder", pa.dictionary(pa.int8(), pa.string()))), listed=True),
    Case("arrow-removed-int", _arrow(_cast("removed", pa.int8())), listed=True),
    Case("arrow-split-not-dictionary", _arrow(_cast("split", pa.string())), listed=True),
    Case("arrow-folder-negative-index", _arrow(_folders(["v"], -1)), listed=True),
    Case("arrow-folder-unsafe", _arrow(_folders(["../v"])), listed=True),
    Case("arrow-folder-absolute", _arrow(_folders(["/v"])), listed=True),
    Case("arrow-link-with-hash", _arrow(_link_with_hash), listed=True),
    Case("arrow-size-past-int64", _arrow(lambda t: _column(t, "size", pa.array([1 << 63] * t.num_rows, pa.uint64()))), listed=True),
    Case("arrow-meta-not-json", _arrow(lambda t: _column(t, "meta", pa.array(["{not json"] * t.num_rows, pa.string()))), listed=True),
    Case("arrow-annotation-not-json", _arrow(_annotations("{not json")), error=None, listed=True, bad_annotations=True),
    Case("arrow-annotation-not-object", _arrow(_annotations("[1]")), error=None, listed=True, bad_annotations=True),
    Case("arrow-meta-not-object", _arrow(lambda t: _column(t, "meta", pa.array(["[1]"] * t.num_rows, pa.string()))), listed=True),
    # packs and their indexes
    Case("pack-truncated", _pack_truncate, error=IntegrityError, listed=True),
    Case("pack-empty", lambda w: w.pack_path("V").write_bytes(b""), error=IntegrityError, listed=True),
    Case("pack-missing", lambda w: w.pack_path("V").unlink(), error=IntegrityError, listed=True),
    Case("pack-flipped-compressed-blob", lambda w: _flip_blob(w, "v/text.txt"), error=IntegrityError, listed=True, needs_read_data=True),
    Case("pack-flipped-raw-blob", lambda w: _flip_blob(w, "v/small.bin"), error=IntegrityError, listed=True, needs_read_data=True),
    Case("index-missing", lambda w: w.index_path("V").unlink(), error=IntegrityError, listed=True),
    Case("index-garbage", lambda w: w.index_path("V").write_bytes(b"\x00garbage"), listed=True),
    Case("index-list", lambda w: w.index_path("V").write_bytes(_zst([])), listed=True),
    Case("index-blob-short", _index_edit(lambda d: _set(d, blobs=[[1, 2]])), listed=True),
    Case("index-blobs-null", _index_edit(lambda d: _set(d, blobs=None)), listed=True),
    Case("index-newer-format", _index_edit(lambda d: _set(d, format=3)), listed=True),
    Case("index-past-end-of-pack", _index_edit(_past_end), error=IntegrityError, listed=True),
    Case("object-missing", lambda w: w.object_path("V").unlink(), error=IntegrityError, listed=True),
    Case("object-truncated", _object_truncate, error=IntegrityError, listed=True),
    Case("object-flipped", _object_flip, error=IntegrityError, listed=True, needs_read_data=True),
    # name claims: the version is still listed and readable by id; lookup by name skips it
    Case("claim-not-json", _claim(b"nope"), error=None, listed=True, verify_names="names/"),
    Case("claim-no-id", _claim(b"{}"), error=None, listed=True, verify_names="names/"),
    Case("claim-list", _claim(b"[1]"), error=None, listed=True, verify_names="names/"),
    Case("claim-id-int", _claim(b'{"id": 5}'), error=None, listed=True, verify_names="names/"),
    # label revisions: ignored with a warning, the record's own labels stay in force
    Case("labels-garbage", _labels(b"\x89PNG garbage"), error=None, listed=True, verify_names="state/"),
    Case("labels-list", _labels(b"[]"), error=None, listed=True, verify_names="state/"),
    Case("labels-tags-int", _labels(b'{"name": "alpha", "project": "p", "tags": 5, "published": false}'), error=None, listed=True, verify_names="state/"),
    Case("labels-name-int", _labels(b'{"name": 5, "project": "p", "tags": [], "published": false}'), error=None, listed=True, verify_names="state/"),
    # drafts: a corrupt draft is skipped by lookups and listings; reading it by id is refused
    Case("draft-garbage", _draft(b"garbage"), victim="D", verify_names="drafts/"),
    Case("draft-list", _draft(_zst([])), victim="D", verify_names="drafts/"),
    Case("draft-record-list", _draft(_draft_doc(record=[])), victim="D", verify_names="drafts/"),
    Case("draft-delta-missing", _draft(_zst({"format": 1, "record": _DRAFT_OK["record"]})), victim="D", verify_names="drafts/"),
    Case("draft-pending-list", _draft(_draft_doc(pending=[1])), victim="D", verify_names="drafts/"),
    Case("draft-newer-format", _draft(_draft_doc(format=5)), victim="D", verify_names="drafts/"),
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
