"""Staging into a draft: add local files, register external links, remove, sync a folder.

Each call stages all its entries in memory and writes the draft once at the end.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from itertools import starmap
from operator import itemgetter
from collections.abc import Iterable, Mapping, Sequence, Set as AbstractSet
from concurrent.futures import Executor
from typing import Any

import fsspec
import pyarrow as pa

from ...secrets import redact_url
from .. import columns as cols, fanscan, tree
from ..folderdiff import folder_diff
from ..gcpause import gc_paused
from ..manifest import Entry, dataset_prefix, join_dataset_path, match_path, same_content
from ..scan import hash_list, matches_wildcard, scan, scan_and_hash
from ..records import Draft
from ...errors import InvalidPathError
from .commit import fan_out_folder, send_files
from ..version import Version, as_list

Local = tuple[str, int, int]  # (local path, mtime_ns, ctime_ns) of content still to upload
_REL, _LOCAL = itemgetter(1), itemgetter(0, 3, 6)  # of a LocalFile: its relative path; (path, mtime_ns, ctime_ns)


def stage(v: Version, path: str, entry: Entry, local: Local | None, parents: Mapping[str, Entry] | None = None) -> bool:
    """Put one entry in the draft (in memory); True if it adds or changes content. ``parents``:
    the parents' entries of the paths being staged (``State.pick``: a dict, for many calls)."""
    draft = v.require_draft()
    parent = (v.parents_state() if parents is None else parents).get(path)
    before = draft.delta.entries.get(path) or (None if path in draft.delta.removed else parent)
    if entry.annotation is None and before is not None and before.annotation is not None and local is not None:
        entry = entry._replace(annotation=before.annotation)  # re-adding a file keeps its annotation
    if parent is not None and same_content(parent, entry):
        draft.delta.entries.pop(path, None)
        draft.pending.pop(path, None)
    else:
        draft.delta.entries[path] = entry
        if local is not None:
            draft.pending[path] = local
        else:
            draft.pending.pop(path, None)
    draft.delta.removed.discard(path)
    return before is None or not same_content(before, entry)


def check_fit(v: Version, paths: Iterable[str]) -> None:
    """Refuse new paths that would make the version impossible to check out (a file where a
    folder is, or the reverse; names over 255 bytes; paths over 4,096 bytes)."""
    draft = v.require_draft()
    parents = v.parents_state()
    delta, removed = draft.delta.entries, draft.delta.removed

    def is_file(p: str) -> bool:
        return p in delta or (p in parents and p not in removed)

    delta_folders = tree.folders(delta)
    if v.parent_folders is None:
        v.parent_folders = tree.folders(parents)
    parent_folders = v.parent_folders

    def folders_among(new: AbstractSet[str]) -> AbstractSet[str]:  # the parents' files under one may all have been removed
        return (new & delta_folders) | {p for p in new & parent_folders if any(k.startswith(p + "/") and k not in removed for k in parents)}

    problem = tree.new_paths_problem(set(paths), is_file, folders_among)
    if problem:
        raise InvalidPathError(problem)


def stage_many(v: Version, items: Iterable[tuple[str, Entry, Local | None]]) -> int:
    """Stage many ``(dataset path, entry, local)`` items and write the draft once; returns how
    many added or changed content. The entry point for importers staging many files."""
    v.require_draft()
    items = list(items)
    check_fit(v, (p for p, _e, _local in items))
    n = sum(stage(v, p, e, local) for p, e, local in items)
    v.save()
    return n


def unstage(v: Version, path: str, parents: Mapping[str, Entry] | None = None) -> None:
    """Drop ``path`` from the draft (in memory): a removal if a parent has it (``parents``:
    as for ``stage``)."""
    draft = v.require_draft()
    draft.delta.entries.pop(path, None)
    draft.pending.pop(path, None)
    if path in (v.parents_state() if parents is None else parents):
        draft.delta.removed.add(path)


def add_files(
    v: Version,
    path: str | os.PathLike[str],
    wildcard: str | Sequence[str] | None,
    local_base_folder: str | os.PathLike[str] | None,
    dataset_path: str | None,
    recursive: bool,
    max_workers: int | None,
    show_progress: bool,
    executor: Executor | None = None,
) -> tuple[int, int]:
    """Hash and stage a file or folder; returns ``(added or modified, files seen)``. With
    ``executor`` its workers hash and upload the files (nothing is left pending)."""
    draft = v.require_draft()
    prefix = dataset_prefix(dataset_path)
    if executor is not None and os.path.isdir(path):
        return _add_folder_on_workers(v, executor, path, wildcard, local_base_folder, prefix, recursive)
    fresh = v.staged is None
    try:
        with gc_paused():  # a few tuples per file, no cycles: collections would only walk them
            return _add_local(v, draft, path, wildcard, local_base_folder, prefix, recursive, max_workers, show_progress, executor)
    except BaseException:
        if fresh:  # refused (e.g. by check_fit, after hashing) or failed: the spool it made holds nothing staged
            with contextlib.suppress(Exception):  # its space is freed either way; the first error is the one to raise
                v.drop_staged(keep_held=True)  # what an earlier process held is still the draft's
        raise


def _add_local(v: Version, draft: Draft, path: str | os.PathLike[str], wildcard: str | Sequence[str] | None,
               base: str | os.PathLike[str] | None, prefix: str, recursive: bool, max_workers: int | None,
               show_progress: bool, executor: Executor | None) -> tuple[int, int]:
    """``add_files`` of local files scanned here (hashed here, or by ``executor``'s workers)."""
    if executor is None:  # hashed as the walk finds them; what cannot be checked out is refused before staging
        files, found = scan_and_hash(path, wildcard, recursive, base, v.store.cache.statcache, max_workers, show_progress,
                                     v.keep_content())
    else:
        files = scan(path, wildcard, recursive, base=base)
    paths = list(map(_REL, files))  # scan yields canonical relative paths
    if prefix:
        paths = list(map(f"{prefix}/".__add__, paths))
    check_fit(v, paths)
    if executor is not None:
        sent = send_files(v, executor, files)
        found = [sent[f.path] for f in files]
    n = 0
    parents = v.parents_state().pick(paths)
    delta, pending = draft.delta, draft.pending
    known = parents.keys() | delta.entries.keys() | delta.removed  # paths new to the draft and its parents skip stage()
    entries = starmap(Entry, found)
    local = map(_LOCAL, files)
    if not known:  # a first add_files to a draft without parents: every path is new, added in bulk
        delta.entries.update(zip(paths, entries))
        pending.update(zip(paths, local))
        n = len(paths)
    else:
        for dp, e, loc in zip(paths, entries, local):
            if dp in known:
                n += stage(v, dp, e, loc, parents)
            else:
                delta.entries[dp] = e
                pending[dp] = loc
                n += 1
    if executor is not None:
        for dp in paths:
            pending.pop(dp, None)  # its content is in the store already
    count = len(files)
    del files, found, paths, parents, entries, local  # before the draft is serialized: lower peak memory
    v.save()
    return n, count


def _add_folder_on_workers(v: Version, executor: Executor, path: str | os.PathLike[str], wildcard: str | Sequence[str] | None,
                           base: str | os.PathLike[str] | None, prefix: str, recursive: bool) -> tuple[int, int]:
    """``add_files`` of a folder whose sub-trees the workers scan, hash and upload; the rows
    they return are staged in bulk and the draft is written once."""
    root = os.path.abspath(os.fspath(path))
    rel = os.path.relpath(root, os.path.abspath(os.fspath(base))) if base else "."
    if rel == ".." or rel.startswith(".." + os.sep):
        raise InvalidPathError(f"{root} is not inside local_base_folder {os.path.abspath(os.fspath(base or root))}")
    frag = fan_out_folder(v, executor, root, "" if rel == "." else rel.replace(os.sep, "/") + "/", as_list(wildcard),
                          recursive, prefix)
    n = stage_rows(v, frag.table)
    v.save()
    return n, frag.table.num_rows


def stage_rows(v: Version, rows: pa.Table) -> int:
    """Stage files whose content the store holds, in bulk: ``rows`` (path, hash, size; sorted,
    as ``core.fanscan`` returns them). Refuses, changing nothing, what could not be checked
    out; paths neither the draft nor its parents have are added without a loop over them.
    Returns how many added or changed content."""
    draft = v.require_draft()
    problem = v.current().apply(fanscan.delta_rows(rows), v.id).tree_problem()
    if problem:
        raise InvalidPathError(problem)
    paths = rows["path"].to_pylist()
    entries = map(Entry, cols.hashes_to_hex(rows["hash"]), rows["size"].to_pylist())
    delta, parents = draft.delta, v.parents_state()
    if not len(parents) and not delta.entries and not delta.removed:
        delta.entries.update(zip(paths, entries))
        return len(paths)
    known = set(parents.pick(paths)) | (delta.entries.keys() | delta.removed)
    n = 0
    for p, e in zip(paths, entries):
        if p not in known:
            delta.entries[p] = e
            n += 1
            continue
        n += stage(v, p, e, ("", 0, 0))  # as a file added again: it keeps its annotation
        draft.pending.pop(p, None)  # its content is in the store already
    return n


def _external_items(url: str, recursive: bool, options: dict[str, Any]) -> list[tuple[str, str, int]]:
    """``(relative path, full URL, size)`` of the files at ``url`` (a file or a folder)."""
    fs, root = fsspec.core.url_to_fs(url, **options)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    try:
        info = fs.info(root)
    except FileNotFoundError:
        raise InvalidPathError(f"{redact_url(url)}: no such file or folder") from None
    if info["type"] == "directory":
        found = fs.find(root, maxdepth=None if recursive else 1, detail=True)
        base = root.rstrip("/")
        items = [(p[len(base) + 1 :], i) for p, i in found.items() if i["type"] == "file"]
    else:
        items = [(root.rstrip("/").rsplit("/", 1)[-1], info)]
    out = []
    for rel, i in sorted(items):
        full = fs.unstrip_protocol(i["name"]) if proto not in ("file", "local") else "file://" + i["name"]
        out.append((rel, full, int(i.get("size") or 0)))
    return out


def add_external_files(
    v: Version,
    source_url: str | Sequence[str],
    wildcard: str | Sequence[str] | None,
    dataset_path: str | Sequence[str] | None,
    recursive: bool,
) -> int:
    """Register remote files as links (not copied); returns how many were added or modified.
    ``dataset_path``: one folder for every URL, or one per URL (as in ClearML)."""
    v.require_draft()
    patterns, urls = as_list(wildcard), as_list(source_url)
    folders = [dataset_path] * len(urls) if dataset_path is None or isinstance(dataset_path, str) else list(dataset_path)
    if len(folders) != len(urls):
        raise InvalidPathError(f"dataset_path must be one path or one per source_url (got {len(folders)} paths for {len(urls)} URLs)")
    staged: list[tuple[str, Entry, Local | None]] = []
    for url, folder in zip(urls, folders):
        for rel, full, size in _external_items(url, recursive, v.store.link_options(url)):
            if matches_wildcard(rel, patterns):
                staged.append((join_dataset_path(folder, rel), Entry("", size, full), None))
    return stage_many(v, staged)


def remove_files(v: Version, dataset_path: str | None, recursive: bool) -> int:
    """Remove entries matching a path, folder or wildcard (links also by their URL, as in
    ClearML); returns how many were removed."""
    v.require_draft()
    pattern = dataset_path if dataset_path is not None else "*"
    matched = [p for p, e in v.current().items() if match_path(p, pattern, recursive) or (e.url is not None and _link_matches(e.url, pattern, recursive))]
    had = v.parents_state().pick(matched)
    for p in matched:
        unstage(v, p, had)
    v.save()
    return len(matched)


def _link_matches(url: str, pattern: str, recursive: bool) -> bool:
    """Whether ``pattern`` (a URL, URL glob or, when recursive, URL folder) names link ``url``."""
    return "://" in pattern and (fnmatch.fnmatchcase(url, pattern) or (recursive and url.startswith(pattern.rstrip("/") + "/")))


def sync_folder(v: Version, local_path: str | os.PathLike[str], dataset_path: str | None, show_progress: bool,
                executor: Executor | None = None) -> tuple[int, int, int]:
    """Make the dataset subtree at ``dataset_path`` equal the local folder; returns
    ``(removed, added, modified)``. Unchanged files are not re-hashed (stat cache) and are
    compared with the version as columns (``core.folderdiff``). With ``executor`` its
    workers hash and upload the files (nothing is left pending)."""
    v.require_draft()
    if not os.path.isdir(local_path):
        raise InvalidPathError(f"{local_path}: not a folder")
    prefix = dataset_prefix(dataset_path)
    with gc_paused():  # a tuple and a few strings per file, no cycles: collections would only walk them
        return _sync(v, local_path, prefix, show_progress, executor)


def _sync(v: Version, local_path: str | os.PathLike[str], prefix: str, show_progress: bool,
          executor: Executor | None) -> tuple[int, int, int]:
    draft = v.require_draft()
    files = scan(local_path)
    if executor is None:
        found = hash_list(files, v.store.cache.statcache, show_progress=show_progress, keep=v.keep_content())
    else:
        sent = send_files(v, executor, files)
        found = [sent[f.path] for f in files]
    paths = [f"{prefix}/{f.rel}" for f in files] if prefix else [f.rel for f in files]  # sorted: scan sorts by rel
    d = folder_diff(v.current(), prefix, paths, [h for h, _s in found], [s for _h, s in found])
    had = v.parents_state().pick(d.gone)
    for p in d.gone:
        unstage(v, p, had)
    added = modified = 0
    parents = v.parents_state().pick(paths[i] for i in d.changed)
    for i, known in zip(d.changed.tolist(), d.known.tolist()):
        f, dp = files[i], paths[i]
        if stage(v, dp, Entry(*found[i]), (f.path, f.mtime_ns, f.ctime_ns), parents):
            if known:
                modified += 1
            else:
                added += 1
        if executor is not None:
            draft.pending.pop(dp, None)
    del files, found, paths  # before the draft is serialized: fewer objects, lower peak memory
    v.save()
    return len(d.gone), added, modified
