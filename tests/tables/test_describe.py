"""describe: Parquet statistics, one pass, exact then approximate distinct counts."""
from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagstore.cli.connectors import _describe_lines
from dagstore.errors import FormatError
from dagstore.tables import describe as D
from dagstore.tables import sketch
from dagstore.tables.columns import BINS


def parquet(table: pa.Table, **kw: Any) -> D.Opener:
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=3000, **kw)
    data = buf.getvalue()
    return lambda: io.BytesIO(data)


def table(n: int = 10_000) -> pa.Table:
    rng = np.random.default_rng(3)
    x = rng.normal(5, 2, n)
    mask = np.zeros(n, dtype=bool)
    mask[::7] = True
    return pa.table({"x": pa.array(x, mask=mask), "k": rng.integers(0, 40, n),
                     "s": [f"v{i}" for i in range(n)]})


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = D.batches

    def spy(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(D, "batches", spy)
    return calls


def test_parquet_uses_statistics_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(D, "BATCH_ROWS", 1000)
    t = table()
    calls = counting(monkeypatch)
    d = D.describe_file(parquet(t), "parquet")
    assert len(calls) == 1  # one pass over the data
    cols = {c["name"]: c for c in d["columns"]}
    x = t.column("x").to_numpy(zero_copy_only=False)
    ok = x[~np.isnan(x)]
    assert cols["x"]["from_statistics"] and cols["k"]["from_statistics"]
    assert not cols["s"]["from_statistics"]  # text statistics may be truncated by writers
    assert cols["x"]["nulls"] == t.column("x").null_count == len(x) - len(ok)
    assert cols["x"]["min"] == ok.min() and cols["x"]["max"] == ok.max()
    expected, _ = np.histogram(ok, bins=BINS, range=(ok.min(), ok.max()))
    assert cols["x"]["histogram"]["counts"] == expected.tolist()
    assert cols["k"]["distinct"] == 40 and not cols["k"]["distinct_approximate"]


def test_parquet_without_statistics_reads_once_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(D, "BATCH_ROWS", 1000)
    t = table()
    with_stats = D.describe_file(parquet(t), "parquet")
    calls = counting(monkeypatch)
    without = D.describe_file(parquet(t, write_statistics=False), "parquet")
    assert len(calls) == 1  # the histograms' values are spilled, not read again
    for a, b in zip(with_stats["columns"], without["columns"]):
        assert not b["from_statistics"]
        assert {k: v for k, v in a.items() if k != "from_statistics"} == \
            {k: v for k, v in b.items() if k != "from_statistics"}


def test_distinct_is_exact_below_the_bound_and_approximate_past_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(D, "EXACT_DISTINCT", 2000)
    monkeypatch.setattr(D, "BATCH_ROWS", 1500)
    n = 30_000
    d = D.describe_file(parquet(table(n)), "parquet")
    cols = {c["name"]: c for c in d["columns"]}
    for name in ("x", "s"):  # ~25,700 distinct floats, 30,000 distinct strings
        true = len(set(table(n).column(name).drop_null().to_pylist()))
        assert cols[name]["distinct_approximate"] is True
        assert abs(cols[name]["distinct"] - true) / true < 0.06, (name, cols[name]["distinct"], true)
    assert cols["k"]["distinct_approximate"] is False and cols["k"]["distinct"] == 40
    text = "\n".join(_describe_lines(d))
    assert "~" + f"{cols['s']['distinct']:,}" in text or f"~{cols['s']['distinct']}" in text
    assert "approximate" in text


def test_distinct_exact_when_under_bound_for_text(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("a,b\n" + "".join(f"{i % 5},{i}\n" for i in range(3000)))
    d = D.describe_file(lambda: open(p, "rb"), "csv")
    assert [(c["distinct"], c["distinct_approximate"]) for c in d["columns"]] == [(5, False), (3000, False)]
    assert "~" not in "\n".join(_describe_lines(d)).split("\n")[2]


def test_csv_is_read_once_and_its_histograms_are_exact(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, 400_000)  # ~8 MB of CSV: two of the reader's 4 MiB blocks
    p = tmp_path / "t.csv"
    p.write_text("x,k\n" + "".join(f"{v!r},{i % 7}\n" for i, v in enumerate(x.tolist())))
    calls = counting(monkeypatch)
    d = D.describe_file(lambda: open(p, "rb"), "csv")
    assert len(calls) == 1
    col = d["columns"][0]
    assert not col["from_statistics"] and col["min"] == x.min() and col["max"] == x.max()
    assert col["histogram"]["counts"] == np.histogram(x, bins=BINS, range=(x.min(), x.max()))[0].tolist()
    assert col["mean"] == pytest.approx(x.mean(), rel=1e-9) and col["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)


@pytest.mark.parametrize("kind", ["int", "text", "timestamp"])
def test_the_estimate_starts_just_past_the_bound(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setattr(D, "EXACT_DISTINCT", 500)
    monkeypatch.setattr(D, "BATCH_ROWS", 64)  # the bound is crossed across many small batches

    def column(n: int) -> pa.Array:
        k = np.arange(10 * n) % n  # n distinct values, each ten times: several flushes of pending rows
        if kind == "text":
            return pa.array([f"v{i}" for i in k])
        if kind == "timestamp":
            return pa.array(k * 1_000_000_000 + 7, pa.timestamp("ns"))
        return pa.array(k)

    at, past = (D.describe_file(parquet(pa.table({"c": column(n)})), "parquet")["columns"][0] for n in (500, 501))
    assert (at["distinct"], at["distinct_approximate"]) == (500, False)
    assert (past["distinct"], past["distinct_approximate"]) == (501, True)  # below the sketch's K: still exact
    if kind != "int":
        assert at["top"][0]["count"] == 10 and past["top"] == []  # top values are only reported while exact


def test_estimates_use_every_bit_of_big_integers_and_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(D, "EXACT_DISTINCT", 1000)
    n = 50_000
    k = np.arange(n, dtype=np.int64)
    t = pa.table({"big": 2**60 + k, "ns": pa.array(1_700_000_000_000_000_000 + k, pa.timestamp("ns")),
                  "day": pa.array((k % 20_000).astype(np.int32), pa.date32())})
    cols = {c["name"]: c for c in D.describe_file(parquet(t), "parquet")["columns"]}
    for name, true in (("big", n), ("ns", n), ("day", 20_000)):  # as float64, 2**60 + k would be ~200 values
        assert cols[name]["distinct_approximate"]
        assert abs(cols[name]["distinct"] - true) / true < 0.06, (name, cols[name]["distinct"])


def test_text_hashes_depend_on_the_value_only() -> None:
    long = "x" * (sketch._CHUNK + 10)  # longer than a chunk of the hashed bytes
    values = ["", "a", "a\x00", "ab", "ba", long, long + "y"]
    h = sketch.hashes(pa.array(values))
    assert len(set(h.tolist())) == len(values)
    padded = pa.array(["pad"] * 70_000 + values)  # the same values after a chunk boundary, sliced
    assert sketch.hashes(padded.slice(70_000)).tolist() == h.tolist()
    assert sketch.hashes(pa.array(values, pa.large_string())).tolist() == h.tolist()
    assert sketch.hashes(pa.array(values, pa.string_view())).tolist() == h.tolist()
    assert len(sketch._POWERS[0]) == sketch._CHUNK + 1  # a long value leaves no large cache


def test_a_malformed_file_fails_in_one_line_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("x,y\n" + "1.5,2\n" * 1_000_000 + "1,2,3\n")  # the bad row is past the first block

    def open_files() -> set[str]:
        out = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                out.add(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass  # closed meanwhile
        return {f for f in out if f == str(p) or f.startswith(tempfile.gettempdir())}  # spills: "/tmp/#123 (deleted)"

    before = open_files()
    with pytest.raises(FormatError, match="cannot read csv data: .*Expected 2 columns, got 3") as err:
        D.describe_file(lambda: open(p, "rb"), "csv")
    assert "\n" not in str(err.value)
    assert open_files() - before == set()  # neither the file nor a spill of its values is left open


def test_nested_json_columns_are_described_not_refused(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"a": 1, "tags": ["x", "y"], "box": {"w": 2}}\n{"a": 2, "tags": null, "box": {"w": 3}}\n')
    d = D.describe_file(lambda: open(p, "rb"), "jsonl")
    cols = {c["name"]: c for c in d["columns"]}
    assert (cols["tags"]["nulls"], cols["tags"]["distinct"], cols["tags"]["top"]) == (1, None, [])
    assert cols["box"]["distinct"] is None and cols["a"]["distinct"] == 2
    assert d["sample"][0]["tags"] == ["x", "y"] and d["sample"][1]["box"] == {"w": 3}
    row = next(r for r in _describe_lines(d) if r.startswith("tags"))
    assert re.split(r"\s{2,}", row)[2:4] == ["1", "-"]  # nulls, distinct


@pytest.mark.parametrize("stats", [True, False])
def test_large_ids_a_few_apart_get_a_histogram_not_a_crash(stats: bool) -> None:
    """IDs near 2^63 (or epoch nanoseconds) whose range is narrower than the spacing of
    float64 there: numpy refuses bins over [min, max], so describe used to fail. The values are
    counted as offsets from the minimum; every row is in some bin."""
    n = 3000
    t = pa.table({"u": pa.array([2**63 + i for i in range(n)], pa.uint64()),
                  "ns": pa.array([1_700_000_000_000_000_000 + 7 * i for i in range(n)], pa.int64()),
                  "same": pa.array([2**62] * n, pa.int64())})
    cols = {c["name"]: c for c in D.describe_file(parquet(t, write_statistics=stats), "parquet")["columns"]}
    assert cols["u"]["min"] == 2**63 and cols["u"]["max"] == 2**63 + n - 1
    for name in ("u", "ns", "same"):
        assert sum(cols[name]["histogram"]["counts"]) == n, name
    assert cols["same"]["histogram"]["counts"][0] == n
