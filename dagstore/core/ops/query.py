"""Reading what a version holds: file lists, diffs, entries, ancestry, chunk counts."""

from __future__ import annotations

from ..manifest import Diff, Entry, diff_states, match_path
from ..version import Version


def list_files(v: Version, dataset_path: str | None, recursive: bool, dataset_id: str | None) -> list[str]:
    """Sorted dataset paths, optionally filtered by a path, folder or wildcard; with
    ``dataset_id``, only those whose content that version introduced (ClearML's filter on
    ``parent_dataset_id``)."""
    state = v.current()
    paths = [p for p, e in state.items() if e.origin == dataset_id] if dataset_id else list(state)
    if dataset_path is None:
        return sorted(paths)
    return sorted(p for p in paths if match_path(p, dataset_path, recursive))


def diff_against(v: Version, dataset_id: str | None) -> Diff:
    """What changed from version ``dataset_id`` (default: the merged parents) to ``v``."""
    base = v.store.state(dataset_id) if dataset_id else v.parents_state()
    return diff_states(base, v.current())


def diff(v: Version, other_id: str) -> Diff:
    """What changed from ``other_id`` to ``v`` (any two versions, related or not)."""
    return diff_states(v.store.state(other_id), v.current())


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
