"""describe: Parquet statistics, one pass, exact then approximate distinct counts."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagstore.cli.connectors import _describe_lines
from dagstore.tables import describe as D


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
    expected, _ = np.histogram(ok, bins=D.BINS, range=(ok.min(), ok.max()))
    assert cols["x"]["histogram"]["counts"] == expected.tolist()
    assert cols["k"]["distinct"] == 40 and not cols["k"]["distinct_approximate"]


def test_parquet_without_statistics_scans_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    t = table()
    with_stats = D.describe_file(parquet(t), "parquet")
    calls = counting(monkeypatch)
    without = D.describe_file(parquet(t, write_statistics=False), "parquet")
    assert len(calls) == 2  # the histograms' range is not known up front
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
