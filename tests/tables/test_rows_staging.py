"""A table's rows are staged from memory (packed at import, no file per row): the manifest is the
one the file-per-row path wrote (hashes pinned from it and recomputed here from the rows' JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xxhash

from dagstore import Dataset
from dagstore.errors import ConflictError

from table_fixtures import COLUMNS, IRIS, seeme_tabular

# (hash, size, annotation text) of each entry, as the file-per-row import (main at 364f069) wrote them
PINNED = {
    "rows/0000000001.json": ("c2f89aee0210377f88d222392b1faed0", 76, "{'labels':['setosa'],'split':'train'}"),
    "rows/0000000002.json": ("1df83ddc2ee128e07cee7832f2d9e02a", 76, "{'labels':['setosa'],'split':'test'}"),
    "rows/0000000003.json": ("b4ce8f01f71a627797c62ce8e00e5828", 76, "{'labels':['versicolor'],'split':'train'}"),
    "rows/0000000004.json": ("b7b6aea02ea2c918199ba90e00aad9ad", 76, "{'labels':['versicolor'],'split':'test'}"),
    "rows/0000000005.json": ("d1298ff081908305e6c8fb032fbfb6c5", 76, "{'labels':['virginica'],'split':'train'}"),
    "rows/0000000006.json": ("03e8bcbe85ff5ee69c8ea319cfb9d5d1", 76, "{'labels':['virginica'],'split':'valid'}"),
    "rows/0000000007.json": ("9c1812608ee66dedcce8bdec97bd0dec", 76, "{'labels':['virginica'],'split':'train'}"),
    "table.json": ("50e61eaf967b7624f68784796c45d664", 572, None),
}


def _entries(ds: Dataset) -> dict[str, tuple[str, int, str | None]]:
    return {p: (e.hash, e.size, e.annotation)
            for p, e in ds._v.current().items() if p != "data.parquet"}


def test_rows_packed_at_import_give_the_manifest_of_the_file_per_row_path(tmp_path: Path) -> None:
    ds = Dataset.create("iris", "tables")
    ds.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")
    pending = ds._v.draft.pending
    assert not any(p.startswith("rows/") or p == "table.json" for p in pending)  # sent, nothing left to upload
    assert list(pending) == ["data.parquet"]
    assert _entries(ds) == PINNED
    for n, row in enumerate(IRIS, 1):  # recomputed independently from the row's values
        raw = ("{" + ",".join(f'"{c}":{v}' for c, v in zip(COLUMNS, row[:4])) + "}\n").encode()
        assert PINNED[f"rows/{n:010d}.json"][:2] == (xxhash.xxh3_128_hexdigest(raw), len(raw))
    assert not any(ds._v.store.cache.has_blob(h) for h, _s, _a in PINNED.values())  # no file per row
    ds.upload()
    ds.finalize()
    assert _entries(ds) == PINNED
    local = Path(ds.get_local_copy())
    assert (local / "rows/0000000003.json").read_bytes() == b'{"sepal_length":7.0,"sepal_width":3.2,"petal_length":4.7,"petal_width":1.4}\n'


def test_a_table_imported_twice_sends_its_rows_once(tmp_path: Path) -> None:
    first = Dataset.create("iris", "tables")
    first.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")
    packs = set(first._v.record.packs)
    assert packs
    again = Dataset.create("iris2", "tables")
    again.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")
    assert set(again._v.record.packs) == packs  # the rows are found in the store's packs, not sent again
    again.upload()
    again.finalize()
    assert _entries(again) == PINNED


def test_upload_elsewhere_after_a_table_import_is_refused(tmp_path: Path) -> None:
    ds = Dataset.create("iris", "tables")
    ds.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")
    with pytest.raises(ConflictError, match="output_url must stay the same"):
        ds.upload(output_url=str(tmp_path / "elsewhere"))
    ds.upload()
    ds.finalize()
    assert _entries(ds) == PINNED


def _slow_row_json(table) -> list[bytes]:
    """The row-by-row encoding (main at 364f069): the reference the column-wise one must equal."""
    from dagstore.tables.rows import _value

    return [(json.dumps({k: _value(v) for k, v in row.items()}, ensure_ascii=False, separators=(",", ":"),
                        allow_nan=False) + "\n").encode() for row in table.to_pylist()]


def test_row_json_is_byte_identical_to_the_row_by_row_encoding() -> None:
    import datetime
    import decimal

    import pyarrow as pa

    from dagstore.tables.rows import row_json

    table = pa.table({
        "i": pa.array([1, -5, None, 2**62, 0], pa.int64()),
        "u": pa.array([0, 2**64 - 1, 7, None, 3], pa.uint64()),
        "f": pa.array([0.1, float("nan"), float("inf"), -0.0, 1e-05], pa.float64()),
        "f32": pa.array([1.1, None, 3.5, 1e22, -2.25], pa.float32()),
        "s": pa.array(['a "q"', "é\n\t\x01", None, "\\", "€ 😀"], pa.string()),
        "ls": pa.array(["x", None, "", "y", "z"], pa.large_string()),
        "b": pa.array([True, False, None, True, False]),
        "d": pa.array([datetime.date(2024, 1, 2), None, datetime.date(1999, 12, 31), datetime.date(2000, 2, 29),
                       datetime.date(1970, 1, 1)]),
        "d64": pa.array([datetime.date(999, 1, 2), None, datetime.date(9999, 12, 31), datetime.date(1, 1, 1),
                         datetime.date(2024, 2, 29)], pa.date64()),
        "t": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 6), None, datetime.datetime(2000, 1, 1),
                       datetime.datetime(2001, 1, 1), datetime.datetime(2002, 1, 1)], pa.timestamp("us")),
        "dec": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("-2.00"), decimal.Decimal("0.01"),
                         decimal.Decimal("3.14")], pa.decimal128(5, 2)),
        "l": pa.array([[1, 2], None, [], [3], [None]], pa.list_(pa.int64())),
        "st": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "y"}, {"a": 2, "b": None}, {"a": 3, "b": "é"}]),
        "bin": pa.array([b"\x00\xff", None, b"", b"a", b"b"]),
        "dict": pa.array(["p", "q", None, "p", "q"]).dictionary_encode(),
        'k"ey é': pa.array([1, 2, 3, 4, 5]),
    })
    assert list(row_json(table)) == _slow_row_json(table)
    big = pa.table({"n": pa.array(range(70_000)), "x": pa.array([f"v{i}" for i in range(70_000)])})  # two batches
    assert list(row_json(big)) == _slow_row_json(big)
    assert list(row_json(pa.table({"n": pa.array([], pa.int64())}))) == []


def test_csv_cells_are_written_as_the_row_by_row_writer_did() -> None:
    import csv
    import datetime
    import io

    import pyarrow as pa

    from dagstore.export.formats.csvfmt import _cell, write_csv

    table = pa.table({
        "i": pa.array([1, None, -3], pa.int32()), "u": pa.array([2**64 - 1, 0, None], pa.uint64()),
        "f": pa.array([0.1, float("nan"), None]), "s": pa.array(['a,"b"', None, "é\n"]),
        "ls": pa.array(["x", "", None], pa.large_string()), "b": pa.array([True, None, False]),
        "d": pa.array([datetime.date(999, 1, 2), None, datetime.date(2024, 2, 29)]),
        "d64": pa.array([datetime.date(1, 1, 1), datetime.date(9999, 12, 31), None], pa.date64()),
        "t": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5), None, datetime.datetime(2000, 1, 1)]),
        "l": pa.array([["1", "x"], None, []]),
    })
    slow = io.StringIO(newline="")
    w = csv.writer(slow, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow(table.column_names)
    for row in table.to_pylist():
        w.writerow([_cell(row[c]) for c in table.column_names])
    fast = io.StringIO(newline="")
    assert write_csv(fast, table.column_names, table.to_batches(max_chunksize=2), ",") == 3
    assert fast.getvalue() == slow.getvalue()


def test_rows_that_cannot_be_sent_leave_the_draft_unchanged(tmp_path: Path) -> None:
    import shutil

    from dagstore.errors import StorageError

    ds = Dataset.create("iris", "tables")
    ds.upload(output_url=str(tmp_path / "elsewhere"))  # nothing pending: only names where content goes
    for d in ("packs", "index"):  # the store's folders replaced by files: every pack write fails
        shutil.rmtree(tmp_path / "elsewhere" / d, ignore_errors=True)
        (tmp_path / "elsewhere").mkdir(exist_ok=True)
        (tmp_path / "elsewhere" / d).write_text("not a folder")
    with pytest.raises(StorageError, match="cannot write packs/"):
        ds.import_annotations(seeme_tabular(tmp_path / "iris"), "csv")
    assert ds.list_files() == [] and ds.classes == [] and ds._v.record.packs == () and not ds._v.draft.pending
