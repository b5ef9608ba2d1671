"""Facet counts (core.counts): slices counted on threads, by value or by their runs, and summed
give what one count of the whole column gives, nulls left out, for any slice size and for values
the first slices lack."""

from __future__ import annotations

import random
from collections import Counter

import pyarrow as pa
import pytest

from dagstore.core import counts
from dagstore.core.columns import optional_strings


def _column(r: random.Random, n: int) -> list[str | None]:
    common = ["train", "val", "test", "", "é"]
    values: list[str | None] = [r.choice(common) if r.random() < 0.9 else None for _ in range(n)]
    for i in r.sample(range(n), 12):  # rare values, some only near the end
        values[i] = f"rare-{i % 5}"
    values[-1] = "last-only"
    return values


@pytest.mark.parametrize("slice_rows", [1, 7, 100, 1 << 20])
def test_sliced_counts_equal_one_count(slice_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counts, "_COUNT_SLICE", slice_rows)
    r = random.Random(slice_rows)
    columns = [_column(r, 1000), _column(r, 357), [None] * 10, []]
    got = counts.value_counts([optional_strings(c) for c in columns])
    want = [dict(sorted(Counter(v for v in c if v is not None).items())) for c in columns]
    assert got == want
    assert [list(g) for g in got] == [sorted(w) for w in want]  # sorted by value


def test_a_slice_of_an_array_is_counted_from_its_offset() -> None:
    arr = optional_strings(["a", "b", "b", "c", None, "c", "c"]).slice(2, 4)
    assert counts.value_counts([arr, pa.nulls(0, pa.string())]) == [{"b": 1, "c": 2}, {}]


def _runs(r: random.Random, n: int) -> list[str | None]:
    """Values in runs (a split per folder), some runs null, a few short runs and lone values."""
    out: list[str | None] = []
    while len(out) < n:
        out += [r.choice(["train", "val", "test", None, "x"])] * r.choice([1, 3, 40, 300])
    return out[:n]


@pytest.mark.parametrize("slice_rows", [5, 64, 1000, 1 << 20])
def test_columns_in_runs_are_counted_by_their_runs(slice_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counts, "_COUNT_SLICE", slice_rows)
    monkeypatch.setattr(counts, "_SAMPLE", 64)
    r = random.Random(slice_rows)
    columns = [_runs(r, 5000), ["box"] * 700, _runs(r, 3000)[1234:] + _column(r, 500)]
    arrays = [optional_strings(c) for c in columns]
    arrays[2] = optional_strings(_runs(r, 200) + columns[2]).slice(200)  # from an offset
    assert counts.value_counts(arrays) == [dict(sorted(Counter(v for v in c if v is not None).items())) for c in columns]
