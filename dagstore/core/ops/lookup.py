"""Creating drafts and finding versions (by id, or the highest version of project/name)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..records import Draft, VersionRecord, check_name, check_origin, check_version, version_key
from ..store import Store, now_iso
from ...errors import DatasetNotFoundError, DraftError
from ..version import DEFAULT_PROJECT, Version, as_list, check_content_url, status


def new_draft(
    st: Store,
    name: str,
    project: str | None,
    tags: Sequence[str] | None,
    parents: Sequence[str],
    version: str | None,
    content_url: str | None,
    description: str | None,
    origin: str | None = None,
) -> Version:
    """A new draft version, saved. Parents must be final; they merge in list order, later wins."""
    check_name(name, "dataset_name")
    if project is not None:
        check_name(project, "dataset_project")
    unique: list[str] = []
    for pid in parents:
        if not st.exists(pid):
            if st.load_draft(pid) is not None:
                raise DraftError(f"parent {pid} is a draft; finalize it before using it as a parent")
            raise DatasetNotFoundError(f"parent dataset {pid} not found in {st.url}")
        if pid not in unique:
            unique.append(pid)
    if project is None:
        project = st.record(unique[0]).project if unique else DEFAULT_PROJECT
    explicit = version is not None
    rec = VersionRecord(
        id=uuid.uuid4().hex,
        name=name,
        project=project,
        version=check_version(version) if version is not None else st.next_version(project, name),
        parents=tuple(unique),
        tags=tuple(dict.fromkeys(as_list(tags))),
        description=description or "",
        created=now_iso(),
        content_url=check_content_url(content_url),
        version_explicit=explicit,
        origin=check_origin(origin) if origin is not None else None,
    )
    draft = Draft(rec)
    st.save_draft(draft)
    return Version(st, rec, draft)


def _by_id(st: Store, dataset_id: str, only_completed: bool, only_published: bool) -> Version | None:
    """The final version ``dataset_id``, else the draft (unless only_completed); None when none matches."""
    try:
        v = Version(st, st.record(dataset_id))
    except DatasetNotFoundError:
        draft = None if only_completed else st.load_draft(dataset_id)
        if draft is None:
            return None
        v = Version(st, draft.record, draft)
    return None if only_published and not v.record.published else v


def named(project: str | None, name: str | None, rec: VersionRecord) -> bool:
    """Whether ``rec`` is of project/name (None or '' for either: any)."""
    return (not name or rec.name == name) and (project is None or rec.project == project)


def _candidates(st: Store, project: str | None, name: str | None,
                with_drafts: bool) -> list[tuple[VersionRecord, Draft | None]]:
    """Final versions (and drafts) of project/name, either of which may be None (any)."""
    if name and project is not None:
        finals = st.versions_of(project, name)
    else:
        finals = [r for r in st.records() if named(project, name, r)]
    cands: list[tuple[VersionRecord, Draft | None]] = [(r, None) for r in finals]
    if with_drafts:
        cands += [(d.record, d) for d in st.drafts() if named(project, name, d.record)]
    return cands


def find(
    st: Store,
    dataset_id: str | None,
    project: str | None,
    name: str | None,
    tags: Sequence[str] | None,
    only_completed: bool,
    only_published: bool,
    version: str | None,
) -> Version | None:
    """The version with ``dataset_id``, else the highest version of project/name (either may
    be left out when tags are given) matching the filters; None when nothing matches."""
    if dataset_id:
        return _by_id(st, dataset_id, only_completed, only_published)
    want = set(as_list(tags))
    if not name and not project and not want:
        raise DatasetNotFoundError("give a dataset_id, or a dataset_name, dataset_project and/or dataset_tags")
    cands = [
        c for c in _candidates(st, project, name, with_drafts=not only_completed and not only_published)
        if want <= set(c[0].tags) and (version is None or c[0].version == version) and (not only_published or c[0].published)
    ]
    if not cands:
        return None
    rec, draft = max(cands, key=lambda c: (version_key(c[0].version), c[0].finalized or c[0].created))
    return Version(st, rec, draft)


def not_found(st: Store, dataset_id: str | None, project: str | None, name: str | None, version: str | None,
              tags: str | Sequence[str] | None = None) -> DatasetNotFoundError:
    """The error for a lookup that matched nothing."""
    what = dataset_id or f"{project or '*'}/{name or '*'}" + (f" version {version}" if version else "")
    if tags and not dataset_id:
        what += f" with tags {', '.join(as_list(tags))}"
    return DatasetNotFoundError(f"no dataset matches {what} in {st.url}")


def get(st: Store, dataset_id: str | None = None, project: str | None = None, name: str | None = None,
        version: str | None = None, only_completed: bool = False) -> Version:
    """``find`` by id or project/name (and version), raising ``not_found`` when nothing matches."""
    v = find(st, dataset_id, project, name, None, only_completed, False, version)
    if v is None:
        raise not_found(st, dataset_id, project, name, version)
    return v


def origin_of(rec: VersionRecord) -> str:
    """Where a version came from; versions recorded before origins existed were uploads."""
    return rec.origin or "upload"


def _in_project(project: str, wanted: str | None, recursive: bool) -> bool:
    return wanted is None or project == wanted or (recursive and project.startswith(wanted.rstrip("/") + "/"))


def list_datasets(
    st: Store,
    project: str | None,
    partial_name: str | None,
    tags: Sequence[str] | None,
    ids: Sequence[str] | None,
    only_completed: bool,
    recursive_project_search: bool,
    origin: str | None = None,
) -> list[dict[str, Any]]:
    """Versions as dicts (id, name, project, version, tags, created as a datetime, status,
    parents, origin), newest first; ``origin`` keeps only versions of that origin (an unknown
    origin is an error, not an empty list)."""
    if origin is not None:
        check_origin(origin)
    recs: list[tuple[VersionRecord, str]] = [(r, status(r, False)) for r in st.records(ids)]
    if not only_completed:
        recs += [(d.record, "draft") for d in st.drafts() if ids is None or d.record.id in ids]
    want = set(as_list(tags))
    out = [
        {"id": r.id, "name": r.name, "project": r.project, "version": r.version, "tags": list(r.tags),
         "created": datetime.fromisoformat(r.created), "status": st_, "parents": list(r.parents), "origin": origin_of(r)}
        for r, st_ in recs
        if _in_project(r.project, project, recursive_project_search)
        and (not partial_name or partial_name.lower() in r.name.lower())
        and want <= set(r.tags)
        and (origin is None or origin_of(r) == origin)
    ]
    return sorted(out, key=lambda d: d["created"], reverse=True)
