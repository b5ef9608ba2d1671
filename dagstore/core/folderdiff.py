"""What syncing a local folder into a version changes, compared as columns; whether a delta
over a state can be checked out, looking at the delta's new paths only.

The folder's files (sorted dataset paths, hashes, sizes) are paired with the state's rows
under the same folder by a merge-join of the two sorted path columns (``core.align``), and
hashes, sizes, links and metadata compared a column at a time: no Python object is made for
an unchanged file, only for the changed, added and removed ones.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidPathError
from . import align, columns as cols, tree
from .state import State


class FolderDiff(NamedTuple):
    """``changed``: indices of the folder's files whose entry is new or differs; ``known``:
    for each of them, whether the state has its path; ``gone``: the state's paths under the
    folder that the folder no longer has (sorted)."""

    changed: np.ndarray
    known: np.ndarray
    gone: list[str]


def _paths_array(paths: list[str]) -> pa.Array:
    """The paths as Arrow text; InvalidPathError naming a file name that is not UTF-8."""
    try:
        return cols.strings(paths)
    except UnicodeEncodeError:
        raise InvalidPathError(tree.encoding_problem(paths) or "a file name is not valid UTF-8") from None


def folder_diff(state: State, prefix: str, paths: list[str], hashes: list[str], sizes: list[int]) -> FolderDiff:
    """The folder's files (``paths`` sorted and unique, under folder ``prefix``; "" for the
    root) against ``state``. InvalidPathError, before anything changes, when the result could
    not be checked out: a new path too long, or the folder (or a folder above it) is a file of
    the state. (Paths from one folder tree never clash among themselves, and a path of the
    state under the folder is either the folder's or removed, so nothing else can clash.)"""
    part = state.under(prefix) if prefix else state
    have = part.column("path")
    want = _paths_array(paths)
    found, pos = align.matches(have, want)
    rows = np.flatnonzero(found)
    at = align.ints(pos[rows])
    same = np.zeros(len(paths), dtype=bool)
    if len(rows):
        mine = cols.hashes_to_array(hashes).take(align.ints(rows))
        same[rows] = (cols.bits(pc.equal(part.column("hash").take(at), mine))
                      & (cols.numbers(part.column("size"))[pos[rows]] == np.asarray(sizes, dtype=np.uint64)[rows])
                      & cols.bits(part.column("url").take(at).is_null()) & cols.bits(part.column("meta").take(at).is_null()))
    changed = np.flatnonzero(~same)
    new = [paths[i] for i in np.flatnonzero(~found)]
    problem = tree.length_problem(new)
    if problem is None and new and prefix:
        above = sorted(tree.folders([prefix + "/x"]))  # the folder and every folder above it
        files = sorted(set(above) - set(state.missing(above)))
        problem = tree.both_problem(files[0]) if files else None
    if problem:
        raise InvalidPathError(problem)
    seen = np.zeros(len(have), dtype=bool)
    seen[pos[rows]] = True
    return FolderDiff(changed, found[changed], have.filter(align.bools(~seen)).to_pylist())


def delta_problem(parent: State, paths: Collection[str], removed: Collection[str]) -> str | None:
    """Why ``parent`` with a delta (its entries' ``paths``, its ``removed`` paths) could not be
    checked out, or None, given that ``parent`` itself can (a version's state is checked when
    it is made): only the paths ``parent`` lacks can be too long or clash. The answer is the
    one ``State.tree_problem`` gives for the merged state, without reading all of it."""
    new = parent.missing(paths)
    problem = tree.length_problem(new)
    if problem:
        return problem
    gone = set(removed)
    dirs = tree.folders(new)
    both = {d for d in dirs if d in paths} | (dirs - set(parent.missing(dirs)) - gone)
    delta_dirs = tree.folders(paths)
    both |= {p for p in new if p in delta_dirs}
    have = parent.column("path")
    if len(have) and new:
        lo, hi = (cols.numbers(pc.search_sorted(have, cols.strings([p + end for p in new]))) for end in ("/", "0"))
        for i in np.flatnonzero(hi > lo):  # the parent has files under the new path: all removed?
            if any(p not in gone for p in have.slice(int(lo[i]), int(hi[i] - lo[i])).to_pylist()):
                both.add(new[i])
    return tree.both_problem(min(both)) if both else None
