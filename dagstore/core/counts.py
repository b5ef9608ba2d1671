"""Counting the values of large columns (a version's facets: files per split, class, region type).

Each column is cut into slices counted at once on threads (Arrow's kernels release the GIL, so
a 10M-entry version's counts use every core). A slice whose first rows come in runs (a split,
a label or a region type per folder: the rows are sorted by path) is counted by its runs
(``run_end_encode``: adjacent values compared, no hashing per row), any other by value
(``value_counts``, a hash per row). The slices' counts are summed by value in Arrow and numpy:
no Python object per row, nor per value of a slice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .align import bools
from .arrays import bits, numbers

_COUNT_SLICE = 1 << 20  # values counted by one task
_SAMPLE = 1 << 12  # first values of a slice that tell whether it comes in runs
_RUN = 8  # mean run length of the sample from which a slice is counted by its runs
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def value_counts(arrays: Sequence[pa.Array]) -> list[dict[str, int]]:
    """``{value: count}`` of each array's non-null values, sorted by value."""
    tasks = [(k, arr.slice(at, _COUNT_SLICE)) for k, arr in enumerate(arrays) for at in range(0, len(arr), _COUNT_SLICE)]
    workers = min(len(tasks), _CORES)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda task: _count(task[1]), tasks))
    else:
        parts = [_count(arr) for _k, arr in tasks]
    out: list[dict[str, int]] = []
    for k in range(len(arrays)):
        mine = [part for (j, _arr), part in zip(tasks, parts) if j == k]
        if not mine:
            out.append({})
            continue
        values = pa.concat_arrays([v for v, _c in mine])
        present = bits(values.is_valid())
        distinct = pc.dictionary_encode(values.filter(bools(present)))
        weights = np.concatenate([c for _v, c in mine])[present]
        sums = np.bincount(numbers(distinct.indices), weights=weights, minlength=len(distinct.dictionary))
        out.append(dict(sorted(zip(distinct.dictionary.to_pylist(), sums.astype(np.int64).tolist()))))
    return out


def _count(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(values, how many rows each stands for) of one slice: its runs, or its distinct values."""
    head = arr.slice(0, _SAMPLE)
    changes = pc.sum(pc.not_equal(head.slice(1), head.slice(0, len(head) - 1))).as_py() if len(head) > 1 else 0
    if len(head) >= _RUN * ((changes or 0) + 1):
        runs = pc.run_end_encode(arr)
        return runs.values, np.diff(numbers(runs.run_ends), prepend=0).astype(np.float64)
    counted = pc.value_counts(arr)
    return counted.field("values"), numbers(counted.field("counts")).astype(np.float64)
