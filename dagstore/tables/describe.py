"""Statistics of a tabular file (Parquet, CSV, TSV, JSON lines), computed streaming in one pass.

Memory bounded by the batch size and by a few times ``EXACT_DISTINCT`` values per column
(not the row count). One pass gathers, per column (``columns.Column``), counts, nulls,
distinct values (exact up to ``EXACT_DISTINCT``, then a k-minimum-values estimate marked
``distinct_approximate``), min/max, mean and variance, value counts of non-numeric columns
and the numeric histograms, and the Pearson sums of the numeric columns. A Parquet file's
column statistics give min/max/nulls up front (the column says ``from_statistics``), so its
histograms fill in during the pass; a numeric column whose range is not known up front (CSV /
TSV / JSON lines, Parquet without statistics) spills its values to a temporary file for its
histogram instead of a second read of the file.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from ..core.hashing import hash_bytes
from ..core.ops import query
from ..core.version import Version
from ..errors import FormatError, InvalidPathError
from ..fs import open_file
from .columns import Column, py
from .dialect import SNIFF_BYTES, Dialect, sniff

DESCRIBE_FORMAT = 4  # 2: CSV dialect detection; 3: Parquet statistics, approximate distinct; 4: vectorised hashes
TABULAR = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}
BATCH_ROWS = 65_536
SAMPLE_ROWS = 5
EXACT_DISTINCT = 100_000  # exact distinct counts up to this many values per column, then an estimate

Opener = Callable[[], IO[bytes]]


def tabular_format(path: str) -> str | None:
    """``parquet``, ``csv``, ``tsv``, ``jsonl`` by extension, or None."""
    return TABULAR.get(posixpath.splitext(path.lower())[1])


def dialect_of(open_file: Opener, fmt: str, separator: str | None = None, decimal: str | None = None) -> Dialect:
    """The separator and decimal mark of a CSV / TSV file: given, else guessed from its start."""
    if separator is not None and decimal is not None:
        return sniff(b"", separator=separator, decimal=decimal)
    with open_file() as f:
        head = f.read(SNIFF_BYTES)
    return sniff(head, "\t" if fmt == "tsv" else ",", separator, decimal)


def batches(open_file: Opener, fmt: str, dialect: Dialect | None = None) -> Iterator[Any]:
    """Record batches of a tabular file, streamed (CSV / TSV in ``dialect``, else guessed)."""
    if fmt in ("csv", "tsv") and dialect is None:
        dialect = dialect_of(open_file, fmt)
    f = open_file()
    try:
        if fmt == "parquet":
            yield from pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS)
        elif fmt in ("csv", "tsv"):
            assert dialect is not None
            yield from pcsv.open_csv(f, parse_options=pcsv.ParseOptions(delimiter=dialect.separator),
                                     convert_options=pcsv.ConvertOptions(decimal_point=dialect.decimal),
                                     read_options=pcsv.ReadOptions(block_size=4 << 20))
        elif fmt == "jsonl":
            yield from pjson.open_json(f, read_options=pjson.ReadOptions(block_size=4 << 20))
        else:
            raise FormatError(f"not a tabular format: {fmt}")
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"cannot read {fmt} data: {' '.join(str(exc).split())}") from None
    finally:
        f.close()


def _parquet_stats(open_file: Opener, cols: list[Column]) -> None:
    """Min/max/nulls of flat Parquet columns from the file's statistics, where every row group
    has them (then ``stats`` is set and the pass does not recompute them)."""
    with open_file() as f:
        meta = pq.ParquetFile(f).metadata
    if meta.num_columns != len(cols):
        return  # nested columns: leaves do not map one to one
    for i, c in enumerate(cols):
        if pa.types.is_string(c.type) or pa.types.is_large_string(c.type) or pa.types.is_binary(c.type):
            continue  # writers may truncate text statistics
        sts = [meta.row_group(g).column(i).statistics for g in range(meta.num_row_groups)]
        if not sts or any(s is None or not s.has_min_max or not s.has_null_count for s in sts):
            continue
        try:
            lo, hi = min(s.min for s in sts), max(s.max for s in sts)
        except TypeError:
            continue
        c.use_statistics(lo, hi, sum(s.null_count for s in sts))


class _Pearson:
    """Pairwise-complete sums for the Pearson correlation of numeric columns (shifted by the
    first batch's means for numerical stability)."""

    def __init__(self, names: list[str]):
        k = len(names)
        self.names = names
        self.shift: Any = None
        self.n = np.zeros((k, k))
        self.sx = np.zeros((k, k))
        self.sy = np.zeros((k, k))
        self.sxx = np.zeros((k, k))
        self.syy = np.zeros((k, k))
        self.sxy = np.zeros((k, k))

    def update(self, cols: list[Any]) -> None:
        """Add one batch: each numeric column as float64, NaN for nulls."""
        x = np.stack(cols)  # k x rows
        if self.shift is None:
            self.shift = np.nan_to_num(np.nanmean(x, axis=1)) if x.shape[1] else np.zeros(len(cols))
        x -= self.shift[:, None]
        ok = ~np.isnan(x)
        z = np.where(ok, x, 0.0)
        a = np.concatenate([z, z * z, ok.astype(np.float64)])
        g = a @ a.T  # one symmetric product (numpy's syrk) holds every sum: [x, x^2, present] pairs
        k = len(cols)
        x_, sq, present = slice(0, k), slice(k, 2 * k), slice(2 * k, 3 * k)
        self.n += g[present, present]
        self.sx += g[x_, present]  # sx[i, j]: sum of x_i where both i and j are present
        self.sy += g[present, x_]
        self.sxx += g[sq, present]
        self.syy += g[present, sq]
        self.sxy += g[x_, x_]

    def result(self) -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {}
        for i, a in enumerate(self.names):
            out[a] = {}
            for j, b in enumerate(self.names):
                n = self.n[i, j]
                if n < 2:
                    out[a][b] = None
                    continue
                cov = self.sxy[i, j] - self.sx[i, j] * self.sy[i, j] / n
                va = self.sxx[i, j] - self.sx[i, j] ** 2 / n
                vb = self.syy[i, j] - self.sy[i, j] ** 2 / n
                out[a][b] = float(min(1.0, max(-1.0, cov / math.sqrt(va * vb)))) if va > 0 and vb > 0 else None
        return out


def _read_ahead(it: Iterator[Any]) -> Iterator[Any]:
    """The items of ``it``, each next one read in a worker thread while the caller works on
    the current one (pyarrow's readers and kernels release the GIL: reading and statistics
    overlap on two cores)."""
    end = object()
    with ThreadPoolExecutor(1, thread_name_prefix="describe-read") as pool:
        fut = pool.submit(next, it, end)
        try:
            while (item := fut.result()) is not end:
                fut = pool.submit(next, it, end)
                yield item
        finally:
            if not fut.done():
                fut.cancel() or fut.exception()  # let a running read finish before closing
            close = getattr(it, "close", None)
            if close:
                close()


def _first_rows(batch: Any, sample: list[dict[str, Any]]) -> None:
    if len(sample) < SAMPLE_ROWS:
        sample += [{k: py(v) for k, v in r.items()} for r in batch.slice(0, SAMPLE_ROWS - len(sample)).to_pylist()]


def describe_file(open_file: Opener, fmt: str, separator: str | None = None, decimal: str | None = None) -> dict[str, Any]:
    """Statistics of one tabular file (see docs/connectors.md for the fields), in one pass over
    it; a CSV / TSV's separator and decimal mark are guessed unless given (the result says
    which, as ``dialect``)."""
    dialect = dialect_of(open_file, fmt, separator, decimal) if fmt in ("csv", "tsv") else None
    cols: list[Column] = []
    rows = 0
    sample: list[dict[str, Any]] = []
    pearson: _Pearson | None = None
    try:
        for batch in _read_ahead(batches(open_file, fmt, dialect)):
            if not cols:
                cols = [Column(f.name, f.type, EXACT_DISTINCT) for f in batch.schema]
                pearson = _Pearson([c.name for c in cols if c.numeric])
                if fmt == "parquet":
                    _parquet_stats(open_file, cols)
            rows += batch.num_rows
            _first_rows(batch, sample)
            floats = [c.update(arr) for c, arr in zip(cols, batch.columns)]
            if pearson and pearson.names:
                pearson.update([x for c, x in zip(cols, floats) if c.numeric])
        columns = [c.result() for c in cols]
    finally:
        for c in cols:
            c.close()
    extra = {"dialect": dialect.to_dict()} if dialect else {}
    return {**extra, "rows": rows, "columns": columns,
            "correlation": pearson.result() if pearson and pearson.names else {}, "sample": sample}


def describe_version(v: Version, dataset_path: str | None = None, separator: str | None = None,
                     decimal: str | None = None) -> dict[str, Any]:
    """``Dataset.describe``: statistics of one tabular file of a final version, cached in the
    local cache per version and path (a final version never changes)."""
    v.require_final("describe()")
    files = query.list_files(v, None, True, None)
    if dataset_path is None:
        tabular = [p for p in files if tabular_format(p)]
        if len(tabular) != 1:
            raise FormatError(f"version {v.id} holds {len(tabular)} tabular files"
                              f"{' (' + ', '.join(tabular[:5]) + ')' if tabular else ''}: give dataset_path")
        dataset_path = tabular[0]
    path = dataset_path.strip("/")
    if path not in files:
        raise InvalidPathError(f"{dataset_path}: no such file in version {v.id}")
    fmt = tabular_format(path)
    if fmt is None:
        raise FormatError(f"{path} is not a tabular file (Parquet, CSV, TSV or JSON lines)")
    cache = v.store.cache
    key = f"{v.id}-{hash_bytes(f'{DESCRIBE_FORMAT}:{path}:{separator}:{decimal}'.encode())}"
    hit = cache.read_immutable("describe", key)
    if hit is not None:
        return dict(json.loads(hit))
    out = describe_file(lambda: open_file(v.store, v.id, path), fmt, separator, decimal)
    cache.write_immutable("describe", key, json.dumps(out).encode())
    return out
