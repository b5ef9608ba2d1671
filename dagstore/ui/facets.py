"""Facet counts of a version under the current filter: split, class, annotated, kind.

The one place facets are computed. Each facet is counted with its own filter left out, so
clicking a value narrows and the other values stay visible. Everything is summed from the
two cubes of ``VersionIndex.cube`` (file counts by split × annotated × kind, and by class ×
split × annotated × kind): the whole version's are kept with the open index, so a filter on
those four needs no pass over the files; a path search (``q``) first counts the cubes of the
files it selects (a slice of the sorted paths for a prefix, one scan of them for a glob).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .index import KIND_NAMES, Filters, VersionIndex

MAX_VALUES = 100  # a facet lists at most this many values (the most frequent)


def _kept(files: np.ndarray, labels: np.ndarray, idx: VersionIndex, f: Filters) -> np.ndarray:
    """Counts by (split, annotated, kind) of the files ``f`` keeps (its ``q`` already applied)."""
    split, annotated, kind = idx.axes(f)
    code = idx.label_code(f)
    base = files if code is None else labels[code] if code >= 0 else np.zeros_like(files)
    return np.asarray(base * split[:, None, None] * annotated[None, :, None] * kind[None, None, :])


def _listed(names: list[str], counts: np.ndarray) -> list[tuple[str, int]]:
    pairs = [(name, int(n)) for name, n in zip(names, counts.tolist()) if n]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))[:MAX_VALUES]


def facets(idx: VersionIndex, f: Filters) -> dict[str, Any]:
    """``{"split": [(value, count)…], "label": …, "annotated": …, "kind": …, "total": n}``."""
    files, labels = idx.cubes if not f.q else idx.cube(idx.select(f))
    out: dict[str, Any] = {
        "split": _listed(["(none)", *idx.meta["splits"]], _kept(files, labels, idx, replace(f, split="")).sum(axis=(1, 2))),
        "annotated": _listed(["no", "yes"], _kept(files, labels, idx, replace(f, annotated="")).sum(axis=(0, 2))),
        "kind": _listed(KIND_NAMES, _kept(files, labels, idx, replace(f, kind="")).sum(axis=(0, 1))),
    }
    split, annotated, kind = idx.axes(replace(f, label=""))
    by_label = labels * split[None, :, None, None] * annotated[None, None, :, None] * kind[None, None, None, :]
    out["label"] = _listed(idx.meta["labels"], by_label.sum(axis=(1, 2, 3)))
    out["total"] = int(_kept(files, labels, idx, f).sum())
    return out
