"""The rows an exporter writes: a version's table read as Arrow batches (a tabular version's
rows with their labels and split, or the version's one tabular file, a CSV / TSV read in its
dialect), and those rows written as one CSV, TSV, Parquet or JSON-lines file."""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from ..core.ops import checkout, lookup
from ..core.version import Version
from ..errors import FormatError
from ..export.formats.csvfmt import write_csv
from ..export.formats.tablefmt import write_jsonl, write_parquet
from ..export.source import export_version
from ..tables.describe import dialect_of, tabular_format
from ..tables.rows import find_table
from .errors import ExportMethodError

TABULAR = (".parquet", ".csv", ".tsv", ".jsonl", ".ndjson")
_BATCH_ROWS = 100_000
_CSV_BLOCK = 16 << 20  # column types are inferred from the first block
ROW_FORMATS = ("csv", "tsv", "parquet", "jsonl")


def tabular_file(paths: list[str], dataset_path: str | None, version_id: str) -> str:
    """The one tabular file of a version (or ``dataset_path``, which must be one)."""
    if dataset_path is not None:
        p = dataset_path.strip("/")
        if p not in paths:
            raise ExportMethodError(f"version {version_id} has no file {dataset_path!r}")
        if not p.lower().endswith(TABULAR):
            raise ExportMethodError(f"{dataset_path!r} is not a tabular file ({', '.join(TABULAR)})")
        return p
    found = [p for p in paths if p.lower().endswith(TABULAR)]
    if not found:
        raise ExportMethodError(f"version {version_id} holds no tabular file ({', '.join(TABULAR)})")
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (" …" if len(found) > 5 else "")
        raise ExportMethodError(f"version {version_id} holds {len(found)} tabular files ({shown}); give dataset_path")
    return found[0]


def read_batches(local: str, separator: str | None = None, decimal: str | None = None) -> tuple[Any, Iterator[Any]]:
    """(arrow schema, record batches) of a local tabular file, streamed; a CSV / TSV in the
    dialect given, else guessed (``dagstore.tables``), its column types inferred from the
    first ``_CSV_BLOCK`` bytes."""
    name = os.path.basename(local)
    fmt = tabular_format(local) or "jsonl"
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(local)
            return pf.schema_arrow, _checked(pf.iter_batches(batch_size=_BATCH_ROWS), name)
        if fmt in ("csv", "tsv"):
            d = dialect_of(lambda: open(local, "rb"), fmt, separator, decimal)
            reader = pcsv.open_csv(local, read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK),
                                   parse_options=pcsv.ParseOptions(delimiter=d.separator),
                                   convert_options=pcsv.ConvertOptions(decimal_point=d.decimal))
            return reader.schema, _checked(iter(reader), name)
        table = pjson.read_json(local)
        return table.schema, iter(table.to_batches(max_chunksize=_BATCH_ROWS))
    except (FormatError, pa.ArrowInvalid, OSError) as exc:
        raise ExportMethodError(f"cannot read {name}: {str(exc).splitlines()[0]}") from None


def _checked(batches: Iterator[Any], name: str) -> Iterator[Any]:
    try:
        yield from batches
    except (FormatError, pa.ArrowInvalid) as exc:  # a later CSV block that does not fit the inferred types
        raise ExportMethodError(f"cannot read {name}: {str(exc).splitlines()[0]}") from None


def _dialect(store: Any, version_id: str) -> tuple[str | None, str | None]:
    """The separator and decimal mark its datasource gave the version (None: guess)."""
    meta = store.record(version_id).metadata.get("datasource")
    if not isinstance(meta, dict):
        return None, None
    return meta.get("separator"), meta.get("decimal")


def version_rows(store: Any, version_id: str, dataset_path: str | None, scratch: str) -> tuple[str, Any, Iterator[Any]]:
    """(stem, schema, batches) of the version's rows: a tabular version's table with its label
    and split columns (through a Parquet export in ``scratch``), else its one tabular file."""
    v = lookup.get(store, version_id)
    paths = sorted(store.state(version_id))
    try:
        folder = find_table(paths) if dataset_path is None else None
    except FormatError as exc:
        raise ExportMethodError(str(exc)) from None
    if folder is not None:
        out = os.path.join(scratch, "rows")
        export_version(v, "PARQUET", out, include_media=False)
        schema, batches = read_batches(os.path.join(out, f"{version_id}.parquet"))
        return "data", schema, batches
    path = tabular_file(paths, dataset_path, version_id)
    root = checkout.local_copy(Version(store, store.record(version_id)), None, None, None, None, [path], False)
    schema, batches = read_batches(os.path.join(root, *path.split("/")), *_dialect(store, version_id))
    return posixpath.splitext(posixpath.basename(path))[0], schema, batches


def write_rows(fmt: str, schema: Any, batches: Iterator[Any], folder: str, stem: str) -> str:
    """The rows as ``folder/<stem>.<fmt>``; returns the file name."""
    name = f"{stem}.{fmt}"
    with open(os.path.join(folder, name), "wb") as f:
        if fmt == "parquet":
            write_parquet(f, schema, batches)
        elif fmt == "jsonl":
            write_jsonl(f, batches)
        else:
            text = io.TextIOWrapper(f, encoding="utf-8", newline="")
            write_csv(text, schema.names, batches, "\t" if fmt == "tsv" else ",")
            text.flush()
            text.detach()
    return name
