"""Store-wide operations on datasets: squash, delete, rename, move to another project."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from ..core import transfer
from ..core.manifest import Delta, Entry
from ..core.store import Store
from ..errors import ConflictError, DatasetNotFoundError, InvalidPathError
from . import commit, lookup, query
from .version import DEFAULT_PROJECT, Version


def _merged_annotation_meta(inputs: list[Version]) -> dict[str, Any]:
    """The inputs' class lists and colors combined in order (class lists are append-only
    along a chain, so each keeps its ids; classes new in a later input are appended)."""
    classes: dict[str, dict[str, Any]] = {}
    colors: dict[str, str] = {}
    for v in inputs:
        for c in v.record.annotations.get("classes", ()):
            classes.setdefault(c["name"], c)
        colors.update(v.record.annotations.get("colors", {}))
    return {"classes": list(classes.values()), "colors": colors} if classes or colors else {}


def squash(st: Store, name: str, inputs: list[Version], output_url: str | None) -> Version:
    """One final, parentless version equal to applying each input's own changes (adds,
    modifications, removals) in order."""
    if not inputs:
        raise InvalidPathError("squash needs dataset_ids or dataset_project_name_pairs")
    state: dict[str, Entry] = {}
    for v in inputs:
        for p, e in query.own_changes(v).items():
            if e is None:
                state.pop(p, None)
            else:
                state[p] = e._replace(origin=None)
    out = lookup.new_draft(st, name, inputs[0].record.project, None, (), None, output_url, None)
    out.record = replace(out.record, annotations=_merged_annotation_meta(inputs))
    draft = out.require_draft()
    draft.delta = Delta(entries=state)
    chain = [r for v in inputs for r in st.chain(v.id)]
    target = st.content_backend(out.record)
    if all(st.content_backend(r) is target for r in chain):
        index = st.pack_index(target, {p for r in chain for p in r.packs})
        out.record = replace(out.record, packs=tuple(sorted({index[e.hash].pack for e in state.values() if e.hash in index})),
                             objects=tuple(sorted({o for r in chain for o in r.objects})))
    else:  # content lives elsewhere: bring it through the local blob cache
        locs = st.locations(chain)
        stored = [e for e in state.values() if e.url is None]
        transfer.fetch(st.cache, [e for e in stored if not st.cache.has_blob(e.hash)], locs.__getitem__, show_progress=False)
        for p, e in state.items():
            if e.url is None:
                blob = st.cache.blob_path(e.hash)
                draft.pending[p] = (blob, os.stat(blob).st_mtime_ns)
        out.save()
        commit.upload(out, False, None, None, None, None, 3)
    commit.finalize(out)
    return out


def delete_dataset(st: Store, project: str | None, name: str | None, force: bool) -> int:
    """Delete every version (and draft) of project/name; refuses while other datasets depend
    on one of them unless ``force``. Returns versions deleted."""
    if not name:
        raise InvalidPathError("entire_dataset needs dataset_name (and dataset_project)")
    project = project if project is not None else DEFAULT_PROJECT
    ids = [r.id for r in st.versions_of(project, name)]
    ids += [d.record.id for d in st.drafts() if (d.record.project, d.record.name) == (project, name)]
    if not ids:
        raise DatasetNotFoundError(f"no dataset {project}/{name} in {st.url}")
    inside = set(ids)
    outside = sorted(r.id for r in st.records() if r.id not in inside and inside & set(r.parents))
    if outside and not force:
        raise ConflictError(f"other datasets depend on {project}/{name}: {', '.join(outside)}; delete them first or force")
    for vid in reversed(ids):
        st.delete_version(vid, force=True)
    return len(ids)


def relabel(st: Store, project: str, name: str, new_project: str, new_name: str) -> int:
    """Rename and/or move every version of project/name; returns how many versions changed."""
    n = st.relabel_dataset(project, name, new_project, new_name)
    if not n:
        raise DatasetNotFoundError(f"no dataset {project}/{name} in {st.url}")
    return n
