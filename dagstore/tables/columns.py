"""One column's statistics for ``describe``, accumulated record batch by record batch with
pyarrow and numpy kernels: no value becomes a Python object but the few that are reported.

Distinct values are counted exactly (with their counts for non-numeric columns, for the top
values) up to a bound, then estimated by a k-minimum-values sketch. Numeric columns get
count, mean and variance (Chan's parallel update) and a histogram over [min, max], filled
batch by batch when the range is known up front (Parquet statistics), else read back at the
end from the column's values spilled to a temporary file (8 bytes a value), so that the table
itself is read once."""

from __future__ import annotations

import datetime
import decimal
import math
import tempfile
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.arrays import from_numpy, numbers, floats
from .sketch import Distinct

BINS = 10
TOP = 10
PENDING_ROWS = 4  # times the exact bound: rows waiting before their distinct values are counted
PENDING_BYTES = 64 << 20  # or this many bytes of them
_SPILL_READ = 1 << 23  # bytes of spilled values histogrammed at once


def numeric(t: Any) -> bool:
    """Integers, floats and decimals: the columns with moments, histograms and correlations."""
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def py(v: Any) -> Any:
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


class Values:
    """A column's distinct values: exact up to ``bound`` (with their counts when ``counted``),
    then a sketch's estimate. Batches wait in ``pending`` (at most ``PENDING_ROWS`` times the
    bound rows or ``PENDING_BYTES``), then their distinct values are counted in one call and
    merged into the exact ones by a lookup."""

    def __init__(self, bound: int, counted: bool) -> None:
        self.bound, self.counted = bound, counted
        self.exact: Any = None  # pa.Array of the distinct values so far
        self.counts: Any = None  # their counts (numpy int64), when counted
        self.pending: list[Any] = []
        self.pending_rows = self.pending_bytes = 0
        self.sketch: Distinct | None = None

    def add(self, valid: Any) -> None:
        """Add a batch's non-null values."""
        if self.sketch is not None:
            self.sketch.add(valid)
            return
        self.pending.append(valid)
        self.pending_rows += len(valid)
        self.pending_bytes += valid.nbytes
        if self.pending_rows > PENDING_ROWS * self.bound or self.pending_bytes > PENDING_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        chunk = pa.chunked_array(self.pending)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
        counts: Any = None
        if self.counted:
            vc = pc.value_counts(chunk)
            values, counts = vc.field("values"), numbers(vc.field("counts")).copy()
        else:
            values = pc.unique(chunk)
        if self.exact is not None:
            at = numbers(pc.index_in(values, value_set=self.exact), -1)
            new = at < 0
            if self.counted:
                self.counts[at[~new]] += counts[~new]  # each value once: no repeated index
                counts = np.concatenate([self.counts, counts[new]])
            values = pa.concat_arrays([self.exact, values.filter(from_numpy(new, pa.bool_()))])
        self.exact, self.counts = values, counts
        if len(values) > self.bound:
            self.sketch = Distinct()
            self.sketch.add(values)
            self.exact = self.counts = None

    def count(self) -> tuple[int, bool]:
        """(distinct values, whether the count is an estimate)."""
        self._flush()
        if self.sketch is not None:
            return self.sketch.estimate(), True
        return (0 if self.exact is None else len(self.exact)), False

    def top(self, k: int) -> list[dict[str, Any]]:
        """The ``k`` most frequent values (ties by value), while counted exactly; else none."""
        self._flush()
        if self.exact is None or not self.counted:
            return []
        t = pa.Table.from_arrays([self.exact, from_numpy(self.counts, pa.int64())], names=["values", "counts"])
        best = t.take(pc.select_k_unstable(t, k, sort_keys=[("counts", "descending"), ("values", "ascending")]))
        return [{"value": py(v), "count": n} for v, n in zip(best["values"].to_pylist(), best["counts"].to_pylist())]


def _histogram(x: Any, lo: float, hi: float) -> Any:
    """Counts of ``x`` in ``BINS`` equal bins over [lo, hi]. Where the bins are narrower than
    the floats there can tell apart (large IDs or epoch nanoseconds a few apart: numpy refuses
    such edges), the values are counted as offsets from ``lo``."""
    top = hi if hi > lo else lo + 1
    if np.all(np.diff(np.linspace(lo, top, BINS + 1)) > 0):
        return np.histogram(x, bins=BINS, range=(lo, top))[0]
    return np.histogram(np.asarray(x) - lo, bins=BINS, range=(0.0, max(hi - lo, 1.0)))[0]


class Column:
    """One column's running statistics; ``update`` per batch, ``result`` at the end."""

    def __init__(self, name: str, type_: Any, bound: int) -> None:
        self.name, self.type, self.numeric = name, type_, numeric(type_)
        self.nested = pa.types.is_nested(type_)  # lists, structs, maps: nulls only, not compared
        self.values = Values(bound, counted=not self.numeric)
        self.nulls = self.n = 0
        self.mean = self.m2 = 0.0
        self.lo: Any = None
        self.hi: Any = None
        self.stats = False  # min/max/nulls from the Parquet file's statistics
        self.hist = np.zeros(BINS, dtype=np.int64)
        self.spill: IO[bytes] | None = None

    def use_statistics(self, lo: Any, hi: Any, nulls: int) -> None:
        self.lo, self.hi, self.nulls, self.stats = lo, hi, nulls, True

    def update(self, arr: Any) -> Any:
        """Add one batch; a numeric column returns it as float64 with NaN for nulls (for the
        correlations), others None."""
        if self.nested:
            self.nulls += arr.null_count
            return None
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        valid = arr.drop_null() if arr.null_count else arr
        if not self.stats:
            self.nulls += arr.null_count
        if len(valid):
            self.values.add(valid)
            if not self.stats:
                self._range(valid)
        if not self.numeric:
            self.n += len(valid)
            return None
        if not len(valid):
            return np.full(len(arr), np.nan)
        f = pc.cast(arr, pa.float64(), safe=False)  # ints past 2^53 round, as floats do
        vf = f.drop_null() if arr.null_count else f
        self._moments(vf)
        x = numbers(vf)
        if not self.stats:
            self._spill(x)
        elif self.lo is not None:
            self.hist += _histogram(x, float(self.lo), float(self.hi))
        return floats(f)

    def _range(self, arr: Any) -> None:
        mm = pc.min_max(arr)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        self.lo = lo if self.lo is None or (lo is not None and lo < self.lo) else self.lo
        self.hi = hi if self.hi is None or (hi is not None and hi > self.hi) else self.hi

    def _moments(self, vf: Any) -> None:
        nb = len(vf)
        mb = pc.mean(vf).as_py()
        m2b = (pc.variance(vf, ddof=0).as_py() or 0.0) * nb
        tot = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / tot
        self.m2 += m2b + delta * delta * self.n * nb / tot
        self.n = tot

    def _spill(self, x: Any) -> None:
        if self.spill is None:
            self.spill = tempfile.TemporaryFile(prefix="dagstore-describe-")
        self.spill.write(np.ascontiguousarray(x).data)

    def _unspill(self) -> None:
        """The histogram of the spilled values, now that [min, max] is known."""
        f, self.spill = self.spill, None
        if f is None:
            return
        with f:
            f.seek(0)
            while chunk := f.read(_SPILL_READ):
                self.hist += _histogram(np.frombuffer(chunk, dtype=np.float64), float(self.lo), float(self.hi))

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()
            self.spill = None

    def result(self) -> dict[str, Any]:
        """The column's entry of ``describe``'s result."""
        distinct: int | None
        distinct, approximate = (None, False) if self.nested else self.values.count()
        d: dict[str, Any] = {"name": self.name, "type": str(self.type), "nulls": self.nulls, "distinct": distinct,
                             "distinct_approximate": approximate, "from_statistics": self.stats,
                             "min": py(self.lo), "max": py(self.hi)}
        if not self.numeric:
            return {**d, "mean": None, "std": None, "top": self.values.top(TOP)}
        d["mean"] = self.mean if self.n else None
        d["std"] = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None
        if self.n and self.lo is not None:
            self._unspill()
            lo, hi = float(self.lo), float(self.hi)
            width = (hi - lo) / BINS if hi > lo else 1.0 / BINS
            d["histogram"] = {"edges": [lo + k * width for k in range(BINS + 1)], "counts": self.hist.tolist()}
        return d
