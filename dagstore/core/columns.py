"""Columnar manifests (format 3): Arrow tables of file entries, their store and cache encodings.

In memory a manifest is a ``pyarrow.Table`` sorted by ``path`` (one row per file; a delta
also has ``removed`` rows). In the store it is an Arrow IPC file, folders dictionary-encoded
and the whole file zstd-compressed; in the local cache a state is an uncompressed Arrow IPC
file that is memory-mapped. ``docs/format.md`` ("Manifests, format 3") is the specification.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from ..errors import FormatError
from .arrays import bits, from_numpy, numbers, one_array, optional_floats, optional_strings, string_lists, strings
from .decode import check_format, decoding, expect, loads, parse_object
from .gcpause import gc_paused
from .manifest import MANIFEST_FORMAT, Delta, Entry, _check_paths, _entries

COLUMNAR_FORMAT = 3
MAGIC = b"ARROW1"
HASH = pa.binary(16)
LABELS = pa.list_(pa.string())

# Columns every table has, in memory, in the store and in the cache (in this order).
ENTRY_FIELDS = [
    pa.field("hash", HASH),  # null for an external link
    pa.field("size", pa.uint64(), nullable=False),
    pa.field("url", pa.string()),  # external links only
    pa.field("meta", pa.string()),  # per-file metadata as JSON text
    pa.field("annotation", pa.string()),  # dagstore.annotation/1 as canonical JSON text
    pa.field("split", pa.string()),  # typed columns derived from the annotation:
    pa.field("classes", LABELS),  # item and region labels, each once, sorted
    pa.field("region_types", LABELS),  # region types, each once, sorted
    pa.field("width", pa.float64()),  # media size
    pa.field("height", pa.float64()),
]
PATH = pa.field("path", pa.string(), nullable=False)
ORIGIN = pa.field("origin", pa.int32(), nullable=False)  # index into the "origins" list (states)
REMOVED = pa.field("removed", pa.bool_(), nullable=False)  # a removal row (deltas)
DELTA = pa.schema([PATH, *ENTRY_FIELDS, REMOVED])
# a state's annotation texts may pass 2 GiB (10M entries of 200 bytes): 64-bit offsets, one chunk
STATE = pa.schema([PATH, *(pa.field("annotation", pa.large_string()) if f.name == "annotation" else f for f in ENTRY_FIELDS), ORIGIN])
FOLDER = pa.field("folder", pa.dictionary(pa.int32(), pa.string()), nullable=False)
NAME = pa.field("name", pa.string(), nullable=False)
SPLIT_STORED = pa.field("split", pa.dictionary(pa.int32(), pa.string()))
STORED_DELTA = pa.schema([FOLDER, NAME, *(SPLIT_STORED if f.name == "split" else f for f in ENTRY_FIELDS), REMOVED])
_SWAP = str.maketrans({'"': "'", "'": '"'})  # Entry.annotation keeps format 2's quote swap


def _labels(ann: Any) -> tuple[Any, list[str], list[str], Any, Any]:
    """(split, classes, region types, width, height) of one annotation object."""
    if not isinstance(ann, dict):
        return None, [], [], None, None
    split, labels, regions, media = (ann.get(k) for k in ("split", "labels", "regions", "media"))
    labels = labels if isinstance(labels, list) else []
    regions = [r for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []
    classes = {x for x in labels if isinstance(x, str)} | {r["label"] for r in regions if isinstance(r.get("label"), str)}
    types = {r["type"] for r in regions if isinstance(r.get("type"), str)}
    media = media if isinstance(media, dict) else {}
    size = [media.get(k) if type(media.get(k)) in (int, float) else None for k in ("width", "height")]
    split = split if isinstance(split, str) else None
    return split, sorted(classes), sorted(types), size[0], size[1]


def annotation_columns(texts: list[str | None]) -> dict[str, pa.Array]:
    """The typed columns (split, classes, region types, media size) of canonical JSON texts."""
    types = {"split": pa.string(), "classes": LABELS, "region_types": LABELS, "width": pa.float64(), "height": pa.float64()}
    where = [i for i, t in enumerate(texts) if t is not None] if texts.count(None) < len(texts) else []  # (count: C, no step per row)
    if not where:
        return {k: pa.nulls(len(texts), t) for k, t in types.items()}
    memo: dict[str, tuple[Any, ...]] = {}  # a table's rows share few texts (label x split): parse each once
    parsed = list(zip(*(memo.get(t) or memo.setdefault(t, _labels(json.loads(t))) for t in texts if t is not None)))
    rows = np.zeros(len(texts), dtype=np.int64)
    rows[where] = np.arange(len(where))
    present = np.zeros(len(texts), dtype=bool)
    present[where] = True
    index = pa.Array.from_buffers(pa.int64(), len(texts), [pa.py_buffer(np.packbits(present, bitorder="little")), pa.py_buffer(rows)])
    split, classes, regions, width, height = parsed
    made = {"split": optional_strings(list(split)), "classes": string_lists(classes), "region_types": string_lists(regions),
            "width": optional_floats(width), "height": optional_floats(height)}  # from buffers: pa.array imports pandas
    return {k: made[k].take(index) for k in types}


def hashes_to_array(hashes: list[str]) -> pa.Array:
    """32-hex-digit hashes as 16-byte binary ("" for a link: null)."""
    if all(hashes):  # no link: no validity bitmap to make, a Python step per hash saved
        return pa.Array.from_buffers(HASH, len(hashes), [None, pa.py_buffer(bytes.fromhex("".join(hashes)))])
    raw = bytes.fromhex("".join(h or "0" * 32 for h in hashes))
    stored = np.array([bool(h) for h in hashes], dtype=bool)
    validity = pa.py_buffer(np.packbits(stored, bitorder="little"))
    return pa.Array.from_buffers(HASH, len(hashes), [validity, pa.py_buffer(raw)])


def hashes_to_hex(arr: pa.Array | pa.ChunkedArray) -> list[str]:
    """16-byte binary hashes as 32-hex-digit text ("" for null)."""
    arr = one_array(arr)
    if not len(arr) or arr.buffers()[1] is None:
        return [""] * len(arr)
    hx = memoryview(arr.buffers()[1])[arr.offset * 16 : (arr.offset + len(arr)) * 16].hex()  # null slots: any bytes
    out = [hx[i : i + 32] for i in range(0, len(hx), 32)]
    if arr.null_count:
        for i in np.flatnonzero(bits(arr.is_null())):
            out[i] = ""
    return out


def stored_hashes(delta: pa.Table, skip: Iterable[str] = ()) -> np.ndarray:
    """The sorted unique hashes (``S16``, as ``packindex`` searches them) of a delta table's
    stored content: its rows that are neither removals, links, nor at a path of ``skip``."""
    col = one_array(delta["hash"])
    if col.null_count == len(col):
        return np.zeros(0, dtype="S16")
    keep = ~bits(delta["removed"]) & ~bits(col.is_null())
    if skip := sorted(skip):
        keep &= ~bits(pc.is_in(delta["path"], value_set=strings(skip)))
    return np.unique(np.frombuffer(col.buffers()[1], dtype="S16")[col.offset : col.offset + len(col)][keep])


def entries_table(entries: Mapping[str, Entry], removed: Iterable[str] = (), origins: list[str] | None = None) -> pa.Table:
    """A sorted table of Python entries (plus removal rows); with ``origins``, a state table
    whose ``origin`` column indexes it (every entry's origin must be listed)."""
    gone = sorted(set(removed) - entries.keys())
    paths = sorted(entries)
    es = [entries[p] for p in paths]
    hashes, sizes, urls, metas, anns, owners = zip(*es) if es else ((),) * 6  # the fields as columns, in C
    # rows without metadata or annotation (W1: all of them) take no Python step each (count is C)
    texts = [a.translate(_SWAP) if a is not None else None for a in anns] if anns.count(None) < len(anns) else list(anns)
    jsons = [json.dumps(m, sort_keys=True) if m else None for m in metas] if metas.count(None) < len(metas) else list(metas)
    cols: dict[str, Any] = {
        "path": strings(paths + gone),  # from buffers: pa.array would import pandas (~0.3 s on the write path)
        "hash": hashes_to_array([*hashes, *[""] * len(gone)]),
        "size": from_numpy([*sizes, *[0] * len(gone)], pa.uint64()),
        "url": optional_strings([*urls, *[None] * len(gone)]),
        "meta": optional_strings([*jsons, *[None] * len(gone)]),
        "annotation": optional_strings(texts + [None] * len(gone)),
        **annotation_columns(texts + [None] * len(gone)),
    }
    if origins is None:
        cols["removed"] = from_numpy(np.arange(len(paths) + len(gone)) >= len(paths), pa.bool_())
        table = _table(cols, DELTA)
        return table.take(pc.sort_indices(table["path"])) if gone else table
    ix: dict[str | None, int] = {o: i for i, o in enumerate(origins)}
    cols["origin"] = from_numpy([ix[o] for o in owners], pa.int32())
    cols["annotation"] = cols["annotation"].cast(pa.large_string())
    return _table(cols, STATE)


def _table(cols: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from named columns (``pa.table`` of a dict would import pandas)."""
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)


def row_entries(table: pa.Table, origins: list[str] | None = None) -> list[Entry]:
    """The rows of an entry table as ``Entry`` objects (one Python object each: only on request)."""
    n = table.num_rows
    hashes = hashes_to_hex(table["hash"])
    sizes = table["size"].to_pylist()
    urls = table["url"].to_pylist() if table["url"].null_count < n else [None] * n
    metas = [json.loads(m) if m is not None else None for m in table["meta"].to_pylist()] if table["meta"].null_count < n else [None] * n
    anns = [t.translate(_SWAP) if t is not None else None for t in table["annotation"].to_pylist()] if table["annotation"].null_count < n else [None] * n
    if origins is not None and "origin" in table.column_names:
        owners = [origins[i] for i in table["origin"].to_pylist()]
    else:
        owners = [None] * n
    return [Entry(*row) for row in zip(hashes, sizes, urls, metas, anns, owners)]


def to_delta(table: pa.Table) -> Delta:
    """A delta table as a Python ``Delta`` (for code that walks entries one by one)."""
    removed = bits(table["removed"])
    paths = table["path"].to_pylist()
    kept = table.filter(pa.Array.from_buffers(pa.bool_(), len(removed), [None, pa.py_buffer(np.packbits(~removed, bitorder="little"))]))
    entries = dict(zip((p for p, r in zip(paths, removed) if not r), row_entries(kept)))
    return Delta(entries=entries, removed={p for p, r in zip(paths, removed) if r})


# -- the store encoding --------------------------------------------------------------------------


def _ipc(table: pa.Table, meta: dict[str, Any]) -> pa.Buffer:
    """``table`` as an Arrow IPC file, in a buffer of its exact size (sized by a first pass
    that copies nothing: a growing buffer would copy a 10M-entry state several times)."""
    table = _with_meta(table, meta)
    size = pa.MockOutputStream()
    with pa.ipc.new_file(size, table.schema) as writer:
        writer.write_table(table)
    buf = pa.allocate_buffer(size.size())
    with pa.ipc.new_file(pa.FixedSizeBufferWriter(buf), table.schema) as writer:
        writer.write_table(table)
    return buf


def split_paths(paths: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(folder, name) of each path: folder dictionary-encoded, "" for the root."""
    parts = pc.split_pattern(one_array(paths), "/", max_splits=1, reverse=True)  # [folder, name] or [name]
    starts = numbers(parts.offsets)  # a split, not a regex: 7x faster (W1: 4 ms, not 29 ms)
    flat, nested = parts.values, np.diff(starts) == 2
    name = flat.take(from_numpy(starts[1:] - 1, pa.int32()))
    folder = pc.if_else(from_numpy(nested, pa.bool_()), flat.take(from_numpy(np.where(nested, starts[:-1], 0), pa.int32())), strings([""])[0])
    return pc.dictionary_encode(folder), name


def join_paths(folder: pa.Array, name: pa.Array) -> pa.Array:
    """Full paths from a dictionary-encoded folder column and a name column."""
    dictionary = folder.dictionary.to_pylist()
    prefixed = strings([f"{d}/" if d else "" for d in dictionary])
    return pc.binary_join_element_wise(prefixed.take(folder.indices), name, strings([""])[0])


def encode_delta(table: pa.Table) -> bytes:
    """A delta table as stored: Arrow IPC (folders and splits dictionary-encoded), zstd-compressed."""
    folder, name = split_paths(table["path"])
    cols: dict[str, Any] = {"folder": folder, "name": name}
    for f in ENTRY_FIELDS:
        cols[f.name] = one_array(pc.dictionary_encode(table["split"])) if f.name == "split" else table[f.name]
    cols["removed"] = table["removed"]
    stored = _table(cols, STORED_DELTA)
    return zstandard.ZstdCompressor(level=3).compress(_ipc(stored, {"format": COLUMNAR_FORMAT, "kind": "delta"}))


def is_columnar(raw: bytes) -> bool:
    """Whether decompressed manifest bytes are an Arrow IPC file (format 3) rather than JSON."""
    return raw[:6] == MAGIC


def read_ipc(source: Any, what: str, kind: str, full: bool = True,
             checked: Callable[[], None] = lambda: None) -> tuple[pa.Table, dict[str, Any]]:
    """An Arrow IPC file (bytes or a memory map) and its dagstore metadata, validated; ``full``
    checks every offset, UTF-8 text and dictionary index (a crafted file must not reach native
    code unchecked); cached files, derived locally, get the structural check only. The columns
    are checked one at a time, ``checked`` called after each (a mapped file's pages read by
    the check can be released before the next column's are read)."""
    with decoding(what):
        table = pa.ipc.open_file(pa.py_buffer(source) if isinstance(source, bytes) else source).read_all()
        for field, column in zip(table.schema, table.columns):  # what Table.validate checks, a column at a time
            expect(column.type == field.type and len(column) == table.num_rows, what, f"column {field.name} does not match the schema")
            column.validate(full=full)
            checked()
        meta = json.loads((table.schema.metadata or {}).get(b"dagstore", b"null"))
    expect(isinstance(meta, dict), what, "no dagstore metadata")
    check_format(meta, what, COLUMNAR_FORMAT)
    expect(meta.get("kind") == kind, what, f"not a dagstore {kind} manifest")
    return table, meta


def _check_types(table: pa.Table, schema: pa.Schema, what: str) -> None:
    for f in schema:
        expect(f.name in table.column_names, what, f"no column {f.name}")
        got = table.schema.field(f.name).type
        expect(got == f.type, what, f"column {f.name} is {got}, not {f.type}")
        expect(f.nullable or table[f.name].null_count == 0, what, f"column {f.name} has nulls")


def check_paths(paths: pa.Array, what: str) -> None:
    """Paths sorted, unique and safe: relative, '/'-separated, no empty, '.' or '..' part, no NUL."""
    if len(paths) > 1:
        expect(pc.all(pc.less(paths.slice(0, len(paths) - 1), paths.slice(1))).as_py(), what, "paths are not sorted and unique")
    bad = pc.or_(pc.match_substring_regex(paths, r"(^|/)\.{0,2}(/|$)"), pc.match_substring(paths, "\x00"))
    if len(paths) and pc.any(bad).as_py():
        raise FormatError(f"{what} names an unsafe path {paths.filter(bad)[0].as_py()!r}")


def _check_rows(table: pa.Table, what: str) -> None:
    live = pc.invert(table["removed"]) if "removed" in table.column_names else None
    link_mismatch = pc.not_equal(table["hash"].is_null(), table["url"].is_valid())
    if live is not None:
        link_mismatch = pc.and_(link_mismatch, live)
    expect(not pc.any(link_mismatch).as_py(), what, "a row is neither stored content nor a link")


def decode_delta(raw: bytes, what: str) -> pa.Table:
    """A stored columnar delta (already decompressed) as an in-memory delta table."""
    table, _meta = read_ipc(raw, what, "delta")
    _check_types(table, STORED_DELTA, what)
    with decoding(what):
        folder = one_array(table["folder"])
        expect(folder.dictionary.null_count == 0, what, "column folder has nulls")  # join_paths would read "" (the root)
        paths = join_paths(folder, one_array(table["name"]))
    expect(not pc.any(pc.match_substring(table["name"], "/")).as_py() if table.num_rows else True, what, "a name holds '/'")
    check_paths(paths, what)
    cols = {"path": paths, **{f.name: table[f.name] for f in ENTRY_FIELDS}, "removed": table["removed"]}
    cols["split"] = table["split"].cast(pa.string())
    out = _table(cols, DELTA)
    _check_rows(out, what)
    expect((pc.max(table["size"]).as_py() or 0) < 1 << 63, what, "a size is not a byte count")
    check_objects(table["meta"], what, "a meta")
    return out


def check_objects(texts: pa.ChunkedArray, what: str, name: str) -> None:
    """Each text of a column (each distinct one parsed once) is a JSON object, as the JSON
    formats require: per-file metadata (rare) is checked when a manifest is read; annotations
    only by ``verify`` (reading one parses it where it is used, ``manifest.annotation_object``)."""
    if texts.null_count < len(texts):
        try:
            ok = all(isinstance(loads(m), dict) for m in pc.unique(texts.drop_null()).to_pylist())
        except (ValueError, RecursionError):
            ok = False
        expect(ok, what, f"{name} is not a JSON object")


def read_manifest(data: bytes, what: str) -> pa.Table:
    """A stored delta manifest of any format as a delta table: format 3 (Arrow) or the JSON
    formats 1 and 2 that earlier releases wrote (converted on reading)."""
    with decoding(what):
        raw = zstandard.ZstdDecompressor().decompress(data)
    if is_columnar(raw):
        return decode_delta(raw, what)
    doc = parse_object(raw, what, known_format=MANIFEST_FORMAT)
    expect(doc.get("kind") == "delta", what, "not a dagstore delta manifest")
    with gc_paused(), decoding(what):  # the conversion parses the annotation texts: a bad one names the manifest
        entries = _entries(doc, what=what)
        expect(isinstance(doc.get("removed", []), list), what, "removed is not a list")
        removed = _check_paths(list(doc.get("removed", [])))
        return entries_table(entries, removed)


def delta_bytes(delta: Delta) -> bytes:
    """A Python delta (a draft's) as a stored manifest, format 3."""
    return encode_delta(entries_table(delta.entries, delta.removed))


def empty_state() -> pa.Table:
    return pa.Table.from_batches([], schema=STATE)  # Schema.empty_table() imports pandas


def _with_meta(table: pa.Table, meta: dict[str, Any]) -> pa.Table:
    return table.replace_schema_metadata({"dagstore": json.dumps(meta)})


def _state_meta(origins: list[str]) -> dict[str, Any]:
    return {"format": COLUMNAR_FORMAT, "kind": "state", "origins": origins}


def cache_buffer(table: pa.Table, origins: list[str]) -> pa.Buffer:
    """A state table as the cache keeps it: uncompressed Arrow IPC, paths in full."""
    return _ipc(table.combine_chunks(), _state_meta(origins))


def write_cache_state(path: str, table: pa.Table, origins: list[str]) -> None:
    """``cache_buffer``'s bytes written into the file at ``path`` as they are made: no buffer
    of the whole file (a 1M-entry annotated state: ~300 MB less at its peak)."""
    table = _with_meta(table.combine_chunks(), _state_meta(origins))
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_cached_state(source: Any, what: str, checked: Callable[[], None] = lambda: None) -> tuple[pa.Table, list[str]]:
    """A cached state (bytes or memory map) and its origins list. Cached states are derived
    locally from validated deltas; their structure is still checked (a truncated file), a
    column at a time, ``checked`` called after each check (see ``read_ipc``)."""
    table, meta = read_ipc(source, what, "state", full=False, checked=checked)
    _check_types(table, STATE, what)
    origins = meta.get("origins")
    if not (isinstance(origins, list) and all(isinstance(o, str) for o in origins)):
        raise FormatError(f"{what} is corrupt (origins is not a list of ids)")
    if table.num_rows:
        low, high = pc.min_max(table["origin"]).values()
        expect(high.as_py() < len(origins) and low.as_py() >= 0, what, "origin index out of range")
        checked()
    return table, origins
