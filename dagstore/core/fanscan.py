"""A local folder ingested on an Executor's workers, each scanning its own sub-trees.

The driver lists folders breadth-first only until there are a few units per worker (a
sub-tree, or up to ``fanout.TASK_FILES`` file names of one folder); each worker scans its
units (stat, wildcard, symbolic links as ``scan`` treats them), hashes what its own stat
cache does not know, packs and uploads what the store lacks, and returns its manifest
fragment as an Arrow table (``path``, ``hash``, ``size``). The driver concatenates the
tables and sorts them once: it makes no Python object per file (docs/scale.md).
"""

from __future__ import annotations

import os
import stat as statmod
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidPathError
from . import arrays, columns, fanout, tree
from .gcpause import gc_paused
from .scan import LocalFile, matches_wildcard, scan

Unit = tuple[str, str, tuple[str, ...] | None]  # (folder, its dataset-relative prefix, file names or None: the sub-tree)
ROWS = pa.schema([pa.field("path", pa.string(), nullable=False), pa.field("hash", columns.HASH),
                  pa.field("size", pa.uint64(), nullable=False)])


@dataclass(frozen=True)
class TreeTask:
    """One worker's share of a folder: ``units`` to scan, the wildcard, where content goes."""

    store: fanout.StoreRef
    units: tuple[Unit, ...]
    wildcard: tuple[str, ...] | None
    level: int | None
    pack_size: int | None
    marked: frozenset[str] = frozenset()


def plan(root: str, prefix: str, recursive: bool, want: int) -> list[Unit]:
    """Units of the folder ``root``: folders are listed breadth-first (files only named,
    never stat-ed) until there are ``want`` units or no folder is left; the files of a listed
    folder go in units of ``fanout.TASK_FILES`` names. Symbolic links to folders are followed
    and a loop is refused, as ``scan`` does."""
    units: list[Unit] = []
    level = [(root, prefix)]
    seen = {_folder_key(root)}
    while level:
        deeper: list[tuple[str, str]] = []
        for folder, pre in level:
            names, subs = _list(folder)
            step = fanout.TASK_FILES
            units += [(folder, pre, tuple(names[i : i + step])) for i in range(0, len(names), step)]
            for name in subs if recursive else ():
                sub = os.path.join(folder, name)
                key = _folder_key(sub)
                if key in seen:
                    raise InvalidPathError(f"{sub}: symbolic link loop (folder already visited)")
                seen.add(key)
                deeper.append((sub, f"{pre}{name}/"))
        if len(units) + len(deeper) >= want:
            return units + [(d, pre, None) for d, pre in deeper]
        level = deeper
    return units


def _folder_key(path: str) -> tuple[int, int]:
    s = os.stat(path)
    return s.st_dev, s.st_ino


def _list(folder: str) -> tuple[list[str], list[str]]:
    """(names of the non-folders, names of the folders) in ``folder``, links followed."""
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise InvalidPathError(f"{folder}: cannot list folder: {exc.strerror}") from None
    names: list[str] = []
    subs: list[str] = []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False  # the worker's scan names the problem
        (subs if is_dir else names).append(e.name)
    return sorted(names), sorted(subs)


def _scan_unit(unit: Unit, patterns: list[str] | None) -> list[tuple[str, LocalFile]]:
    """``(dataset-relative path, file)`` of one unit's files, as ``scan`` finds them."""
    folder, pre, names = unit
    if names is None:  # the wildcard sees paths relative to the scan's base, as in one process
        return [(pre + f.rel, f) for f in scan(folder) if not patterns or matches_wildcard(pre + f.rel, patterns)]
    out = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            s = os.stat(path)
        except OSError:
            s = None
        if s is None or not statmod.S_ISREG(s.st_mode):
            if s is None or not statmod.S_ISDIR(s.st_mode):
                scan(path)  # raises scan's error (a broken link, a loop, a special file), whatever the wildcard
            raise InvalidPathError(f"{path}: changed while its folder was scanned")
        rel = pre + name
        if not patterns or matches_wildcard(rel, patterns):
            out.append((rel, LocalFile(path, rel, s.st_size, s.st_mtime_ns, s.st_dev, s.st_ino, s.st_ctime_ns)))
    return out


@gc_paused()  # a few tuples per file, no cycles: collections would only walk them
def ingest_tree(task: TreeTask) -> fanout.Fragment:
    """Worker side: scan the units, hash what this worker's stat cache does not know (packing
    the bytes read), upload what the store lacks; the fragment's table lists the files sorted
    by path."""
    t0, c0 = time.perf_counter(), time.process_time()
    st, be = fanout.open_store(task.store)
    patterns = list(task.wildcard) if task.wildcard else None
    found = sorted((x for u in task.units for x in _scan_unit(u, patterns)), key=lambda x: x[0])
    files = [f for _rel, f in found]
    rels = [rel for rel, _f in found]
    problem = tree.encoding_problem(rels)  # before anything is uploaded: no manifest can hold such a path
    if problem:
        raise InvalidPathError(problem)
    out = fanout.Fragment()
    got = fanout.store_files(be, st, files, st.cache.statcache, task.level, task.pack_size, task.marked, out)
    sizes = np.array([s for _h, s in got], dtype=np.uint64)
    out.table = pa.Table.from_arrays([arrays.strings(rels), columns.hashes_to_array([h for h, _s in got]),
                                      pa.Array.from_buffers(pa.uint64(), len(sizes), [None, pa.py_buffer(sizes)])], schema=ROWS)
    out.seconds, out.cpu = time.perf_counter() - t0, time.process_time() - c0
    return out


def ingest_folder(executor: Executor, ref: fanout.StoreRef, root: str, rel: str, wildcard: Sequence[str] | None,
                  recursive: bool, dataset_prefix: str = "", level: int | None = 1, pack_size: int | None = None,
                  marked: frozenset[str] = frozenset()) -> fanout.Fragment:
    """Driver side: plan the units of ``root`` (whose files' paths, relative to the scan's
    base, start with ``rel``: what the wildcard sees), run ``ingest_tree`` on each, and merge
    the fragments: one table of every file at ``dataset_prefix/<relative path>``, sorted."""
    t0 = time.perf_counter()
    units = plan(root, rel, recursive, 4 * fanout.worker_count(executor))
    pats = tuple(wildcard) if wildcard else None
    frags = fanout.run(executor, ingest_tree, [TreeTask(ref, (u,), pats, level, pack_size, marked) for u in units], "ingestion")
    out = fanout.Fragment(tasks=len(units))
    for frag in frags:
        out.add(frag)
    table = pa.concat_tables([f.table for f in frags]) if frags else pa.Table.from_batches([], schema=ROWS)  # (empty_table imports pandas)
    table = table.take(pc.sort_indices(table["path"])).combine_chunks()
    _check_unique(table["path"])
    if dataset_prefix:
        prefix, empty = arrays.strings([dataset_prefix + "/", ""])  # Arrow scalars: a Python str would import pandas
        joined = pc.binary_join_element_wise(prefix, table["path"], empty)
        table = table.set_column(0, ROWS.field("path"), joined)
    out.table = table
    out.wall = time.perf_counter() - t0
    return out


def _check_unique(paths: pa.ChunkedArray) -> None:
    """Units are disjoint, so paths are too; a path twice (a folder renamed into another
    unit during the scan) would make a wrong manifest: refuse it."""
    arr = arrays.one_array(paths)
    if len(arr) > 1:
        same = arrays.bits(pc.equal(arr.slice(0, len(arr) - 1), arr.slice(1)))
        if same.any():
            raise InvalidPathError(f"{arr[int(np.flatnonzero(same)[0])].as_py()}: found twice while scanning (did the folder change?)")


def delta_rows(rows: pa.Table) -> pa.Table:
    """A fragment table as a delta table (``columns.DELTA``): stored files, nothing else set."""
    n = rows.num_rows
    cols = {"path": rows["path"], "hash": rows["hash"], "size": rows["size"],
            "removed": pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.zeros((n + 7) // 8, dtype=np.uint8))])}
    return pa.Table.from_arrays([cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in columns.DELTA], schema=columns.DELTA)
