"""Reading what a version holds: file lists, diffs, entries, ancestry, chunk counts."""

from __future__ import annotations

from collections.abc import Sequence

from ..manifest import Diff, Entry, dataset_prefix, match_path
from ..version import Version


def list_files(v: Version, dataset_path: str | None, recursive: bool, dataset_id: str | None) -> list[str]:
    """Sorted dataset paths, optionally filtered by a path, folder or wildcard; with
    ``dataset_id``, only those whose content that version introduced (ClearML's filter on
    ``parent_dataset_id``)."""
    state = v.current()
    folder = _folder(dataset_path) if recursive else None
    if folder is not None:  # the file of that name and the folder's rows (a slice of the sorted rows)
        under = state.under(folder)
        paths = under.origin_paths(dataset_id) if dataset_id else under.paths()
        exact = dataset_path is not None and not dataset_path.endswith("/") and folder in state
        return ([folder] if exact and (not dataset_id or state[folder].origin == dataset_id) else []) + paths
    paths = state.origin_paths(dataset_id) if dataset_id else state.paths()
    if dataset_path is None:
        return paths
    return [p for p in paths if match_path(p, dataset_path, recursive)]


def _folder(pattern: str | None) -> str | None:
    """The folder a pattern names when ``match_path`` matches it as "that path or under it":
    canonical, with a '/', no glob characters."""
    if pattern is None or any(c in pattern for c in "*?["):
        return None
    pat = pattern.strip("/")
    parts = pat.split("/")
    return pat if len(parts) > 1 and not {"", ".", ".."} & set(parts) else None


def filter_files(v: Version, split: str | Sequence[str] | None, label: str | Sequence[str] | None,
                 region_type: str | Sequence[str] | None, dataset_path: str | None) -> list[str]:
    """Paths matching the annotation columns (split, class, region type) under a folder."""
    prefix = dataset_prefix(dataset_path)
    return v.current().filter_paths(split=split, label=label, region_type=region_type, prefix=prefix or None)


def diff_against(v: Version, dataset_id: str | None) -> Diff:
    """What changed from version ``dataset_id`` (default: the merged parents) to ``v``."""
    base = v.store.state(dataset_id) if dataset_id else v.parents_state()
    return base.diff(v.current())


def diff(v: Version, other_id: str) -> Diff:
    """What changed from ``other_id`` to ``v`` (any two versions, related or not)."""
    return v.store.state(other_id).diff(v.current())


def own_changes(v: Version) -> dict[str, Entry | None]:
    """The version's own changes as ``{path: entry, or None if removed}``, in diff order."""
    own = diff_against(v, None)
    cur = v.current()
    out: dict[str, Entry | None] = {p: None for p in own.removed}
    out.update((p, cur[p]) for p in (*own.added, *own.modified))
    return out


def dependency_graph(v: Version) -> dict[str, list[str]]:
    """``{id: [parent ids]}`` for this version and all its ancestors."""
    graph = {} if v.draft is None else {v.id: list(v.record.parents)}
    for pid in v.record.parents if v.draft is not None else [v.id]:
        for rec in v.store.chain(pid):
            graph[rec.id] = list(rec.parents)
    return graph


def num_chunks(v: Version, include_parents: bool) -> int:
    """Packs plus large objects holding this version's content (ClearML's chunks)."""
    if not include_parents or v.draft is not None:
        return len(v.record.packs) + len(v.record.objects)
    recs = v.store.chain(v.id)
    return len({p for r in recs for p in r.packs}) + len({o for r in recs for o in r.objects})
