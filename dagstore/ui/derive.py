"""Building the UI's derived index of a final version, in bulk from its columnar state.

The version's state (``core.state``, memory-mapped) already has the paths, sizes, hashes,
splits and class labels as columns. What the pages need beside them is derived here, slice
by slice with pyarrow compute (bounded memory, no Python object per file), in the state's
path order: each row's facet cell (split × annotated × kind), its class codes, the rows in
size order, and where its content lives (source version, pack, offset, lengths, codec). It
is written as one uncompressed Arrow IPC file that the server memory-maps.

``python -m dagstore.ui.indexer`` runs ``build`` in a child process for big versions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dagstore import Dataset, Store
from dagstore._atomic import HeldTemp, replace_file
from dagstore.core import columns as cols
from dagstore.core.cache.files import seal_read_only
from dagstore.core.state import State

INDEX_FORMAT = 3  # in the file name: an index of another format is rebuilt
SLICE = 1 << 18  # rows derived at a time
KINDS = {
    "image": (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus"),
    "table": (".parquet", ".csv", ".tsv", ".jsonl"),
    "json": (".json",),
    "text": (".txt", ".md", ".log", ".xml", ".yaml", ".yml", ".conll", ".srt"),
}
KIND_NAMES = [*KINDS, "other"]
_EXTS = [e for exts in KINDS.values() for e in exts]
_EXT_KIND = np.array([KIND_NAMES.index(k) for k, exts in KINDS.items() for _ in exts] + [len(KINDS)], dtype=np.int32)
_MEDIA_KIND = r'"media":\{[^{}]*"kind":"(?P<k>image|audio|text)"'  # canonical JSON: no spaces
SCHEMA = pa.schema([("cell", pa.int32()), ("order", pa.int32()), ("src", pa.int32()), ("pack", pa.int32()),
                    ("off", pa.uint64()), ("len", pa.uint64()), ("raw", pa.uint64()), ("codec", pa.int32()),
                    ("labels", pa.list_(pa.int32()))])


def arrow(values: np.ndarray) -> pa.Array:
    """A numpy array of numbers as an Arrow array, no copy (``pa.array`` would import pandas)."""
    a = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(a.dtype), len(a), [None, pa.py_buffer(a)])


def cell_count(n_splits: int) -> int:
    """How many facet cells a version with ``n_splits`` split names has (split code 0: none)."""
    return (n_splits + 1) * 2 * len(KIND_NAMES)


def _codes(values: pa.Array, names: pa.Array) -> np.ndarray:
    """The position of each value in ``names`` plus one (0 for null or not found)."""
    at = pc.index_in(values, value_set=names)
    codes = cols.numbers(at).astype(np.int32) + 1  # (``fill_null`` with a Python number would import pandas)
    if at.null_count:
        codes[cols.bits(at.is_null())] = 0
    return codes


def _kinds(paths: pa.Array, anns: pa.Array) -> np.ndarray:
    """Kind codes: image and audio by extension; otherwise the annotation's media kind when it
    names one (only those rows' annotations are read), else the extension's kind."""
    ext = pc.extract_regex(pc.utf8_lower(paths), r"(?P<e>\.[^./]+)$").field("e")
    kind = _EXT_KIND[_codes(ext, cols.strings(_EXTS)) - 1]
    ask = np.flatnonzero((kind > 1) & ~cols.bits(anns.is_null()))
    if len(ask):
        found = pc.extract_regex(anns.take(arrow(ask)), _MEDIA_KIND).field("k")
        media = _codes(found, cols.strings(KIND_NAMES[:5]))
        kind[ask[media > 0]] = media[media > 0] - 1
    return kind


def _row_columns(state: State, splits: list[str], labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell per row, class codes of the flattened class lists, their list offsets)."""
    t = state.table
    n = t.num_rows
    cells = np.empty(n, dtype=np.int32)
    lists = cols.one_array(t["classes"])
    offsets = cols.numbers(lists.offsets).astype(np.int64)
    codes = np.empty(int(offsets[-1] - offsets[0]) if n else 0, dtype=np.int32)
    split_names, label_names = cols.strings(splits), cols.strings(labels)
    nk = len(KIND_NAMES)
    for lo in range(0, n, SLICE):
        part = t.slice(lo, SLICE)
        ann = cols.one_array(part["annotation"])
        split = _codes(cols.one_array(part["split"]), split_names)
        annotated = ~cols.bits(ann.is_null())
        cells[lo:lo + part.num_rows] = (split * 2 + annotated) * nk + _kinds(cols.one_array(part["path"]), ann)
        a, b = offsets[lo] - offsets[0], offsets[lo + part.num_rows] - offsets[0]
        codes[a:b] = _codes(lists.values.slice(offsets[lo], b - a), label_names) - 1
    return cells, codes, offsets - offsets[0]


def _blobs(hashes: list[str], src: int, packs: list[int], locs: list[tuple[int, int, int, int]]) -> pa.Table:
    """A table of blob locations (pack -1: a large object of its own)."""
    where = np.array(locs, dtype=np.uint64).reshape(len(locs), 4)
    columns = [np.full(len(hashes), src, np.int32), np.array(packs, np.int32), *where[:, :3].T, where[:, 3].astype(np.int32)]
    return pa.Table.from_arrays([cols.hashes_to_array(hashes), *map(arrow, columns)], ["hash", "src", "pack", "off", "len", "raw", "codec"])


def _pack_locations(store: Store, version_id: str) -> tuple[pa.Table, list[str], list[str]]:
    """Every blob of the version's chain (the version's own first), and the source version ids
    and pack ids its ``src`` and ``pack`` columns index; a few packs' indexes read at a time."""
    srcs: list[str] = []
    packs: dict[str, int] = {}
    parts: list[pa.Table] = []
    for rec in store.chain(version_id):
        srcs.append(rec.id)
        be = store.content_backend(rec)
        for start in range(0, len(rec.packs), 16):
            locs = store.pack_index(be, rec.packs[start:start + 16])
            codes = [packs.setdefault(loc.pack, len(packs)) for loc in locs.values()]
            parts.append(_blobs(list(locs), len(srcs) - 1, codes, [loc[1:] for loc in locs.values()]))
        parts.append(_blobs(list(rec.objects), len(srcs) - 1, [-1] * len(rec.objects), [(0, 0, 0, 0)] * len(rec.objects)))
    return pa.concat_tables(parts).combine_chunks(), srcs, list(packs)


def _locations(store: Store, version_id: str, state: State) -> tuple[list[pa.Array], list[str], list[str]]:
    """src, pack, off, len, raw and codec of each row (-1 / 0 where the store has no content)."""
    table, srcs, packs = _pack_locations(store, version_id)
    at = pc.index_in(cols.one_array(state.table["hash"]), value_set=table["hash"])  # the first of equal hashes
    rows = cols.numbers(at).astype(np.int64)
    missing = cols.bits(at.is_null()) if at.null_count else np.zeros(len(rows), dtype=bool)
    out = []
    for c, default in (("src", -1), ("pack", -1), ("off", 0), ("len", 0), ("raw", 0), ("codec", 0)):
        values = cols.numbers(table[c])
        column = values[np.where(missing, 0, rows)] if len(values) else np.zeros(len(rows), values.dtype)
        column[missing] = default
        out.append(arrow(column))
    return out, srcs, packs


def build(store: Store, version_id: str, target: Path) -> None:
    """Write the derived index of a final version to ``target`` (atomically: a held temp file
    renamed), read-only and sealed as the cache's state files are."""
    store.state(version_id)  # built and cached by the store if need be (then dropped: it is in memory)
    state = store.state(version_id)  # memory-mapped from the cache: only the columns used are read
    ds = Dataset.get(dataset_id=version_id, store=store)
    splits = ds.splits
    labels = sorted({*ds.classes, *pc.unique(pc.list_flatten(state.table["classes"])).to_pylist()})
    cells, codes, offsets = _row_columns(state, splits, labels)
    order = np.argsort(cols.numbers(state.table["size"]), kind="stable").astype(np.int32)
    where, srcs, packs = _locations(store, version_id, state)
    label_lists = pa.ListArray.from_arrays(arrow(offsets.astype(np.int32)), arrow(codes))
    meta = {"format": INDEX_FORMAT, "version": version_id, "rows": state.table.num_rows, "splits": splits,
            "labels": labels, "colors": ds.class_colors, "srcs": srcs, "packs": packs}
    table = pa.Table.from_arrays([arrow(cells), arrow(order), *where, label_lists], schema=SCHEMA)
    table = table.replace_schema_metadata({"dagstore-ui": json.dumps(meta)})
    held = HeldTemp(target, folder=False)  # an indexer killed while writing leaves it to the next build
    try:
        with pa.OSFile(str(held.path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        seal_read_only(str(held.path))  # memory-mapped when served: a change in place is then told (``cache.files.Guard``)
        replace_file(held.path, target)
    except BaseException:
        held.path.unlink(missing_ok=True)
        raise
    finally:
        held.release()
