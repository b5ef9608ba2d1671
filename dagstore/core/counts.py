"""Counting the values of large columns (a version's facets: files per split, class, region type).

Each column is cut into slices counted at once on threads (Arrow's ``value_counts`` releases the
GIL, so a 10M-entry version's counts use every core), and the slices' counts are summed by value
in Arrow and numpy: no Python object per row, nor per value of a slice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .align import bools
from .columns import bits, numbers

_COUNT_SLICE = 1 << 20  # values counted by one task


def value_counts(arrays: Sequence[pa.Array]) -> list[dict[str, int]]:
    """``{value: count}`` of each array's non-null values, sorted by value. Every array is cut
    into slices of ``_COUNT_SLICE`` values, counted at once on threads (Arrow's counting releases
    the GIL); each array's slice counts are summed by value in numpy, with no Python per value."""
    tasks = [(k, arr.slice(at, _COUNT_SLICE)) for k, arr in enumerate(arrays) for at in range(0, len(arr), _COUNT_SLICE)]
    workers = min(len(tasks), len(os.sched_getaffinity(0)))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda task: pc.value_counts(task[1]), tasks))
    else:
        parts = [pc.value_counts(arr) for _k, arr in tasks]
    out: list[dict[str, int]] = []
    for k in range(len(arrays)):
        mine = [part for (j, _arr), part in zip(tasks, parts) if j == k]
        if not mine:
            out.append({})
            continue
        values = pa.concat_arrays([part.field("values") for part in mine])
        counts = np.concatenate([numbers(part.field("counts")) for part in mine])
        present = bits(values.is_valid())
        distinct = pc.dictionary_encode(values.filter(bools(present)))
        sums = np.bincount(numbers(distinct.indices), weights=counts[present], minlength=len(distinct.dictionary))
        out.append(dict(sorted(zip(distinct.dictionary.to_pylist(), sums.astype(np.int64).tolist()))))
    return out
