"""Statistics of a tabular file (Parquet, CSV, TSV, JSON lines), computed streaming.

Memory bounded by the batch size and by ``EXACT_DISTINCT`` values per column (not the row
count). One pass gathers counts, nulls, distinct values (exact up to ``EXACT_DISTINCT``, then a
k-minimum-values estimate marked ``distinct_approximate``), min/max, mean and variance (Chan's
parallel update), value counts of non-numeric columns, the Pearson sums and the numeric
histograms. A Parquet file's column statistics give min/max/nulls up front (the column says
``from_statistics``), so its histograms fill in that same pass; a column whose range is not
known up front (CSV / TSV / JSON lines, Parquet without statistics) takes a second pass for
its histogram.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from ..core.hashing import hash_bytes
from ..core.ops import query
from ..core.version import Version
from ..errors import FormatError, InvalidPathError
from ..fs import open_file
from .dialect import SNIFF_BYTES, Dialect, sniff
from .sketch import Distinct

DESCRIBE_FORMAT = 3  # 2: CSV dialect detection; 3: Parquet statistics, approximate distinct
TABULAR = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}
BATCH_ROWS = 65_536
BINS = 10
TOP = 10
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


def _numeric(t: Any) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _py(v: Any) -> Any:
    """A JSON-friendly scalar."""
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v[:64].hex()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass
class _Col:
    name: str
    type: Any
    numeric: bool
    nulls: int = 0
    n: int = 0  # non-null values
    mean: float = 0.0
    m2: float = 0.0
    lo: Any = None
    hi: Any = None
    uniques: Any = None  # pyarrow array of distinct values (numeric)
    counts: dict[Any, int] = field(default_factory=dict)  # value counts (non-numeric)
    overflow: bool = False  # past EXACT_DISTINCT: ``sketch`` estimates the distinct count
    sketch: Distinct | None = None
    stats: bool = False  # min/max/nulls from the Parquet file's statistics
    hist: list[int] = field(default_factory=lambda: [0] * BINS)


def _distinct(c: _Col, valid: Any) -> None:
    """Track the distinct values exactly up to EXACT_DISTINCT, then in a sketch."""
    if c.overflow:
        assert c.sketch is not None
        c.sketch.add(valid)
        return
    if c.numeric:
        u = pc.unique(valid)
        c.uniques = u if c.uniques is None else pc.unique(pa.concat_arrays([c.uniques, u]))
        size = len(c.uniques)
    else:
        vc = pc.value_counts(valid)
        for v, k in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
            c.counts[v] = c.counts.get(v, 0) + k
        size = len(c.counts)
    if size > EXACT_DISTINCT:
        c.overflow, c.sketch = True, Distinct()
        c.sketch.add(c.uniques if c.numeric else pa.array(list(c.counts), type=valid.type))
        c.uniques, c.counts = None, {}


def _update(c: _Col, arr: Any) -> None:
    if not c.stats:
        c.nulls += arr.null_count
    valid = arr.drop_null() if arr.null_count else arr
    if len(valid) == 0:
        return
    if pa.types.is_dictionary(valid.type):
        valid = valid.dictionary_decode()
    if not c.stats:
        mm = pc.min_max(valid)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        c.lo = lo if c.lo is None or (lo is not None and lo < c.lo) else c.lo
        c.hi = hi if c.hi is None or (hi is not None and hi > c.hi) else c.hi
    if c.numeric:
        x = pc.cast(valid, pa.float64())
        nb = len(x)
        mb = pc.mean(x).as_py()
        m2b = (pc.variance(x, ddof=0).as_py() or 0.0) * nb
        tot = c.n + nb
        delta = mb - c.mean
        c.mean += delta * nb / tot
        c.m2 += m2b + delta * delta * c.n * nb / tot
        c.n = tot
        if c.stats and c.lo is not None:
            _add_histogram(c, np.asarray(x.to_numpy(zero_copy_only=False)))
    else:
        c.n += len(valid)
    _distinct(c, valid)


def _add_histogram(c: _Col, x: Any) -> None:
    lo, hi = float(c.lo), float(c.hi)
    counts, _ = np.histogram(x, bins=BINS, range=(lo, hi if hi > lo else lo + 1))
    c.hist = [a + int(b) for a, b in zip(c.hist, counts)]


def _parquet_stats(open_file: Opener, cols: list[_Col]) -> None:
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
            los, his = [s.min for s in sts], [s.max for s in sts]
            c.lo, c.hi = min(los), max(his)
        except TypeError:
            c.lo = c.hi = None
            continue
        c.nulls, c.stats = sum(s.null_count for s in sts), True


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
        x = np.column_stack([pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False) for a in cols])
        if self.shift is None:
            self.shift = np.nan_to_num(np.nanmean(x, axis=0)) if len(x) else np.zeros(x.shape[1])
        x = x - self.shift
        ok = ~np.isnan(x)
        z = np.where(ok, x, 0.0)
        m = ok.astype(np.float64)
        self.n += m.T @ m
        self.sx += z.T @ m  # sx[i, j]: sum of x_i where both i and j are present
        self.sy += m.T @ z
        self.sxx += (z * z).T @ m
        self.syy += m.T @ (z * z)
        self.sxy += z.T @ z

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


def _first_pass(open_file: Opener, fmt: str, dialect: Dialect | None) -> tuple[list[_Col], int, list[dict[str, Any]], _Pearson | None]:
    """(columns with counts, nulls, distinct values, min/max, mean and variance, histograms
    where the range is known up front; rows; sample rows; Pearson sums) in one pass."""
    cols: list[_Col] = []
    rows = 0
    sample: list[dict[str, Any]] = []
    pearson: _Pearson | None = None
    for batch in batches(open_file, fmt, dialect):
        if not cols:
            cols = [_Col(f.name, f.type, _numeric(f.type)) for f in batch.schema]
            pearson = _Pearson([c.name for c in cols if c.numeric])
            if fmt == "parquet":
                _parquet_stats(open_file, cols)
        rows += batch.num_rows
        if len(sample) < SAMPLE_ROWS:
            sample += [{k: _py(v) for k, v in r.items()} for r in batch.slice(0, SAMPLE_ROWS - len(sample)).to_pylist()]
        for c, arr in zip(cols, batch.columns):
            _update(c, arr)
        if pearson and pearson.names:
            pearson.update([arr for c, arr in zip(cols, batch.columns) if c.numeric])
    return cols, rows, sample, pearson


def _histograms(open_file: Opener, fmt: str, cols: list[_Col], dialect: Dialect | None) -> None:
    """Second pass, only for numeric columns whose [min, max] was not known up front."""
    numeric = [c for c in cols if c.numeric and c.n and c.lo is not None and not c.stats]
    if not numeric:
        return
    idx = [i for i, c in enumerate(cols) if c in numeric]
    for batch in batches(open_file, fmt, dialect):
        for i in idx:
            c = cols[i]
            _add_histogram(c, pc.cast(batch.column(i).drop_null(), pa.float64()).to_numpy(zero_copy_only=False))


def _column_stats(c: _Col) -> dict[str, Any]:
    """One column's entry of the result."""
    d: dict[str, Any] = {"name": c.name, "type": str(c.type), "nulls": c.nulls}
    if c.sketch is not None:
        d["distinct"] = c.sketch.estimate()
    else:
        d["distinct"] = (len(c.uniques) if c.uniques is not None else 0) if c.numeric else len(c.counts)
    d["distinct_approximate"] = c.sketch is not None
    d["from_statistics"] = c.stats
    d["min"], d["max"] = _py(c.lo), _py(c.hi)
    if c.numeric:
        d["mean"] = c.mean if c.n else None
        d["std"] = math.sqrt(c.m2 / (c.n - 1)) if c.n > 1 else None
        if c.n:
            lo, hi = float(c.lo), float(c.hi)
            width = (hi - lo) / BINS if hi > lo else 1.0 / BINS
            d["histogram"] = {"edges": [lo + k * width for k in range(BINS + 1)], "counts": c.hist}
    else:
        d["mean"] = d["std"] = None
        top = sorted(c.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]
        d["top"] = [{"value": _py(v), "count": k} for v, k in top]
    return d


def describe_file(open_file: Opener, fmt: str, separator: str | None = None, decimal: str | None = None) -> dict[str, Any]:
    """Statistics of one tabular file (see docs/connectors.md for the fields); a CSV / TSV's
    separator and decimal mark are guessed unless given (the result says which, as ``dialect``)."""
    dialect = dialect_of(open_file, fmt, separator, decimal) if fmt in ("csv", "tsv") else None
    cols, rows, sample, pearson = _first_pass(open_file, fmt, dialect)
    _histograms(open_file, fmt, cols, dialect)
    extra = {"dialect": dialect.to_dict()} if dialect else {}
    return {**extra, "rows": rows, "columns": [_column_stats(c) for c in cols],
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
