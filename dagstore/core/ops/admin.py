"""Store-wide operations on datasets: squash, delete, rename, move to another project."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

import fsspec

from .. import fetchplan, layout
from ..manifest import Delta, Entry
from ..records import version_key
from ..store import Store
from ...errors import ConflictError, DatasetNotFoundError, InvalidPathError
from . import commit, lookup, query
from ..version import Version

log = logging.getLogger("dagstore")


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


def _squashed_state(inputs: list[Version]) -> dict[str, Entry]:
    """Of a single input its whole content; of several, each input's own changes applied in order."""
    if len(inputs) == 1:
        return {p: e._replace(origin=None) for p, e in inputs[0].current().items()}
    state: dict[str, Entry] = {}
    for v in inputs:
        for p, e in query.own_changes(v).items():
            if e is None:
                state.pop(p, None)
            else:
                state[p] = e._replace(origin=None)
    return state


def _bring_content(st: Store, out: Version, chain: list[Any], state: dict[str, Entry]) -> None:
    """Content stored elsewhere than the output: fetch it through the local blob cache and upload it."""
    draft = out.require_draft()
    missing = {e.hash: e.size for e in state.values() if e.url is None and not st.cache.has_blob(e.hash)}
    fetchplan.fetch(st.cache, fetchplan.Wanted.stored(missing), fetchplan.Where.of(st, chain), show_progress=False)
    for p, e in state.items():
        if e.url is None:
            blob = st.cache.blob_path(e.hash)
            seen = os.stat(blob)
            draft.pending[p] = (blob, seen.st_mtime_ns, seen.st_ctime_ns)
    out.save()
    commit.upload(out, False, None, None, None, None, 3)


def squash(st: Store, name: str, inputs: list[Version], output_url: str | None) -> Version:
    """One final, parentless version: of a single input its whole content (as ClearML); of
    several, each input's own changes (adds, modifications, removals) applied in order."""
    if not inputs:
        raise InvalidPathError("squash needs dataset_ids or dataset_project_name_pairs")
    state = _squashed_state(inputs)
    out = lookup.new_draft(st, name, inputs[0].record.project, None, (), None, output_url, None)
    out.record = replace(out.record, annotations=_merged_annotation_meta(inputs))
    out.require_draft().delta = Delta(entries=state)
    chain = [r for v in inputs for r in st.chain(v.id)]
    target = st.content_backend(out.record)
    if all(st.content_backend(r) is target for r in chain):
        index = st.pack_index(target, {p for r in chain for p in r.packs})
        out.record = replace(out.record, packs=tuple(sorted({index[e.hash].pack for e in state.values() if e.hash in index})),
                             objects=tuple(sorted({o for r in chain for o in r.objects})))
    else:
        _bring_content(st, out, chain, state)
    commit.finalize(out)
    return out


def delete(st: Store, dataset_id: str | None, project: str | None, name: str | None, version: str | None,
           entire: bool, force: bool, delete_files: bool, delete_external_files: bool) -> int:
    """Delete exactly what is asked for (see ``Dataset.delete``); returns versions deleted."""
    if not (dataset_id or project or name):
        raise InvalidPathError("give a dataset_id, or a dataset_project and dataset_name, of the dataset to delete")
    if dataset_id and (project or name):
        raise InvalidPathError("give either dataset_id or dataset_project/dataset_name, not both")
    ids = _by_id(st, dataset_id) if dataset_id else _targets(st, project, name, version, entire, force)
    drafts = {d.record.id: d for d in st.drafts() if d.record.id in ids}
    gone = [*st.records([i for i in ids if i not in drafts]), *(d.record for d in drafts.values())]
    links = {e.url for r in gone for e in Version(st, r, drafts.get(r.id)).current().values()
             if e.url} if delete_external_files else set()
    for vid in ids:  # children first
        st.delete_version(vid, force=force)
    if delete_files:
        st.mark_unreferenced(_stored_keys(st, gone))
    if links:
        _delete_link_targets(st, links)
    return len(ids)


def _by_id(st: Store, dataset_id: str) -> list[str]:
    if not st.exists(dataset_id) and st.load_draft(dataset_id) is None:
        raise DatasetNotFoundError(f"no dataset matches {dataset_id} in {st.url}")
    return [dataset_id]


def _stored_keys(st: Store, gone: list[Any]) -> list[str]:
    """Manifest, pack and object keys of deleted versions whose content is in this store."""
    return [k for r in gone if st.content_backend(r) is st.backend
            for k in (r.manifest, *map(layout.pack_key, r.packs), *map(layout.object_key, r.objects)) if k]


def _targets(st: Store, project: str | None, name: str | None, version: str | None, entire: bool, force: bool) -> list[str]:
    """The ids a delete by project/name means, children first; refuses when that is ambiguous."""
    if entire and not force:
        raise InvalidPathError("Can only delete entire dataset if force is True (entire_dataset deletes every version)")
    recs = [r for r in st.records() if lookup.named(project, name, r)]
    recs += [d.record for d in st.drafts() if lookup.named(project, name, d.record)]
    recs = sorted((r for r in recs if version is None or r.version == version), key=lambda r: version_key(r.version))
    what = f"{project or '*'}/{name or '*'}" + (f" version {version}" if version else "")
    if not recs:
        raise DatasetNotFoundError(f"no dataset matches {what} in {st.url}")
    if len(recs) > 1 and not entire:
        one = len({(r.project, r.name) for r in recs}) == 1
        found = ", ".join(("" if one else f"{r.project}/{r.name} ") + f"{r.version} ({r.id[:12]})" for r in recs)
        raise ConflictError(f"Multiple datasets found for {what}: {found}; give dataset_version (--version) or the id, "
                            "or entire_dataset with force (--entire-dataset --force) to delete them all")
    return [r.id for r in reversed(recs)]


def _delete_link_targets(st: Store, links: set[str]) -> None:
    """Delete the files behind ``links`` that no remaining version or draft links to (with the
    store's credentials for links beside it); the others are kept, with a warning."""
    used = {e.url for r in st.records() for e in st.state(r.id).values() if e.url}
    used |= {e.url for d in st.drafts() for e in Version(st, d.record, d).current().values() if e.url}
    for url in sorted(links & used):
        log.warning("kept external file %s: another version still links to it", url)
    for url in sorted(links - used):
        fs, path = fsspec.core.url_to_fs(url, **st.link_options(url))
        try:
            fs.rm_file(path)
        except FileNotFoundError:
            pass


def relabel(st: Store, project: str, name: str, new_project: str, new_name: str) -> int:
    """Rename and/or move every version of project/name; returns how many versions changed."""
    n = st.relabel_dataset(project, name, new_project, new_name)
    if not n:
        raise DatasetNotFoundError(f"no dataset {project}/{name} in {st.url}")
    return n
