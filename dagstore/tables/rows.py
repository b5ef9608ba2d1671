"""Tables as rows: read a CSV / TSV / Parquet / JSON-lines table (its CSV dialect guessed or
given), and the layout of a tabular version (docs/format.md, "Tabular versions"):
``table.json``, ``data.parquet`` and one ``rows/<n>.json`` item per row."""

from __future__ import annotations

import datetime
import decimal
import json
from json.encoder import encode_basestring
import math
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..core.arrays import from_numpy, optional_strings, strings
from ..errors import FormatError
from .describe import batches, dialect_of, tabular_format
from .dialect import Dialect

TABLE_FORMAT = "dagstore.table/1"
DESCRIPTION = "table.json"
DATA_FILE = "data.parquet"
ROWS = "rows/"
_ROW = re.compile(r"^rows/(\d{10})\.json$")
_ESCAPED = r'["\\\x00-\x1f]'  # what json.dumps escapes in a string when ensure_ascii=False


def row_path(n: int) -> str:
    """The path (inside the table's folder) of row ``n`` (1-based)."""
    return f"{ROWS}{n:010d}.json"


def row_number(rel: str) -> int | None:
    """The row number of ``rows/<n>.json`` (a path inside the table's folder), else None."""
    m = _ROW.match(rel)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def read_table(path: str, separator: str | None = None, decimal_mark: str | None = None) -> tuple[Any, str, Dialect | None]:
    """(Arrow table, format, dialect) of a local table file; a CSV / TSV dialect is guessed
    unless given. A malformed table (ragged rows, bad JSON, no header) is one FormatError."""
    fmt = tabular_format(path)
    if fmt is None:
        raise FormatError(f"{posixpath.basename(path)}: not a table (.csv, .tsv, .parquet, .jsonl)")
    dialect = None
    if fmt in ("csv", "tsv"):
        dialect = dialect_of(lambda: open(path, "rb"), fmt, separator, decimal_mark)
    elif separator is not None or decimal_mark is not None:
        raise FormatError(f"{posixpath.basename(path)}: separator and decimal apply to CSV / TSV only, not {fmt}")
    try:
        got = list(batches(lambda: open(path, "rb"), fmt, dialect))
    except FormatError as exc:
        raise FormatError(f"{posixpath.basename(path)}: {exc}") from None
    if not got:
        raise FormatError(f"{posixpath.basename(path)}: no rows")
    table = pa.Table.from_batches(got)
    names = table.column_names
    if len(set(names)) != len(names) or any(not n for n in names):
        raise FormatError(f"{posixpath.basename(path)}: column names must be unique and not empty: {names}")
    return table, fmt, dialect


def _value(v: Any) -> Any:
    """A JSON value for one cell: numbers as numbers, decimals as text, times as ISO-8601."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    return v


def _s(text: str) -> pa.Scalar:
    """An Arrow string scalar (a Python str given to a compute function imports pandas)."""
    return strings([text])[0]


def _cells(col: Any) -> Any:
    """The JSON text of each cell of one column, as ``json.dumps`` writes it inside a row (the
    common types a column at a time; the others cell by cell through ``_value``)."""
    t = col.type
    if pa.types.is_integer(t):
        out = pc.cast(col, pa.string())
    elif pa.types.is_boolean(t):
        out = pc.if_else(col, _s("true"), _s("false"))
    elif pa.types.is_float32(t) or pa.types.is_float64(t):
        out = optional_strings([repr(x) if x is not None and math.isfinite(x) else None for x in col.to_pylist()])
    elif pa.types.is_date32(t) or pa.types.is_date64(t):  # ISO-8601, as date.isoformat
        out = pc.binary_join_element_wise(_s('"'), pc.cast(col, pa.string()), _s('"'), _s(""))
    elif (pa.types.is_string(t) or pa.types.is_large_string(t)) and not pc.any(pc.match_substring_regex(col, _ESCAPED)).as_py():
        out = pc.binary_join_element_wise(_s('"'), col.cast(pa.string()), _s('"'), _s(""))  # nothing to escape (ensure_ascii=False)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        out = optional_strings([None if x is None else encode_basestring(x) for x in col.to_pylist()])
    else:
        out = strings([json.dumps(_value(x), ensure_ascii=False, separators=(",", ":"), allow_nan=False) for x in col.to_pylist()])
    return pc.fill_null(out, _s("null"))


def row_json(table: Any) -> Iterator[bytes]:
    """Each row of ``table`` as the content of its ``rows/<n>.json``: one compact JSON object in
    column order, ending in a newline (the bytes ``json.dumps(row, ensure_ascii=False,
    separators=(",", ":"))`` gives, built a column at a time)."""
    for batch in table.to_batches(max_chunksize=65_536):
        if batch.num_columns == 0:
            yield from [b"{}\n"] * batch.num_rows
            continue
        parts: list[Any] = []
        for i, (name, col) in enumerate(zip(batch.schema.names, batch.columns)):
            parts += [_s(("{" if i == 0 else ",") + encode_basestring(name) + ":"), _cells(col)]
        yield from pc.cast(pc.binary_join_element_wise(*parts, _s("}\n"), _s("")), pa.binary()).to_pylist()


def split_labels(raw: Any, multi: bool, separator: str) -> list[str]:
    """The labels of one cell: none for an empty cell, split by ``separator`` when ``multi``."""
    if raw is None:
        return []
    text = str(raw).strip()
    if not text:
        return []
    parts = [p.strip() for p in text.split(separator)] if multi else [text]
    return [p for p in parts if p]


def description(table: Any, label_column: str | None, split_column: str | None, multi_label: bool,
                label_separator: str, source: dict[str, Any]) -> dict[str, Any]:
    """The ``table.json`` of a tabular version whose data columns are ``table``'s."""
    return {"format": TABLE_FORMAT, "data": DATA_FILE, "rows": ROWS,
            "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
            "label_column": label_column, "split_column": split_column, "multi_label": multi_label,
            "label_separator": label_separator, "source": source}


def parse_description(raw: bytes, where: str) -> dict[str, Any]:
    """A ``table.json`` read back; anything but a ``dagstore.table/1`` object is a FormatError."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{where}: malformed JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != TABLE_FORMAT:
        raise FormatError(f"{where}: not a {TABLE_FORMAT} description")
    if doc.get("data") != DATA_FILE or doc.get("rows") != ROWS:
        raise FormatError(f"{where}: data must be {DATA_FILE!r} and rows {ROWS!r}")
    for key in ("label_column", "split_column"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise FormatError(f"{where}: {key} must be text or null")
    if not isinstance(doc.get("label_separator", ","), str) or not doc.get("label_separator", ","):
        raise FormatError(f"{where}: label_separator must be text")
    return doc


def find_table(paths: Iterable[str]) -> str | None:
    """The folder (``""`` or ``"a/b/"``) of the version's table: the one ``table.json`` beside a
    ``data.parquet``. None when there is none; several are a FormatError."""
    paths = set(paths)
    found = sorted(p[: -len(DESCRIPTION)] for p in paths
                   if posixpath.basename(p) == DESCRIPTION and p[: -len(DESCRIPTION)] + DATA_FILE in paths)
    if len(found) > 1:
        raise FormatError(f"the version holds {len(found)} tables ({', '.join(f or '/' for f in found)}); export one folder")
    return found[0] if found else None


def output_schema(data_schema: Any, label_column: str, split_column: str) -> Any:
    """The schema of exported rows: the data columns, then the label and split columns."""
    return pa.schema(list(data_schema) + [pa.field(label_column, pa.string()), pa.field(split_column, pa.string())])


def with_labels(batch: Any, take: Sequence[int], labels: Sequence[str | None], splits: Sequence[str],
                schema: Any) -> Any:
    """The rows ``take`` of ``batch`` with their label and split columns appended."""
    picked = batch.take(from_numpy(take, pa.int64()))
    cols = list(picked.columns) + [optional_strings(list(labels)), optional_strings(list(splits))]  # (pa.array imports pandas)
    return pa.RecordBatch.from_arrays(cols, schema=schema)
