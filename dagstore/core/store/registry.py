"""The store as its own registry: drafts, final version records, version-number claims, labels."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import pyarrow as pa

from ...errors import ConflictError, DagstoreError, DatasetNotFoundError
from .. import columns, layout
from ..decode import expect, is_str_list, parse_object, skip
from ..hashing import hash_bytes
from ..records import Draft, VersionRecord, bump_version, check_name, version_key
from ._root import StoreRoot, check_id, now_iso


class Registry(StoreRoot):
    """Reading and writing version records, drafts, claims and labels."""

    # -- drafts --------------------------------------------------------------------------

    def save_draft(self, draft: Draft) -> None:
        """Write the draft, if the store still holds it as this process last read or wrote it.
        Else (another process saved, finalized or deleted it since) the stored one is taken in
        when the two differ only in what each uploaded (``Draft.take_uploads``); any other
        change is a ConflictError, nothing written."""
        key = layout.draft_key(draft.record.id)
        for _ in range(100):
            data = draft.to_bytes()
            if self.backend.replace_if(key, data, lambda cur: (cur if cur is None else hash_bytes(cur)) == draft.stored):
                draft.stored = hash_bytes(data)
                return
            try:
                other: Draft | None = self._draft_from(key, self.backend.read(key))
            except FileNotFoundError:
                other = None
            if other is None or not draft.take_uploads(other):
                break
        raise ConflictError(f"draft {draft.record.id} ({draft.record.project}/{draft.record.name}) was changed by "
                            "another process since this one read it; nothing was saved: run the command again")

    def load_draft(self, version_id: str) -> Draft | None:
        try:
            data = self.backend.read(layout.draft_key(check_id(version_id)))
        except FileNotFoundError:
            return None
        if self.exists(version_id):  # a finalize died after writing the record: the draft is stale
            self.delete_draft(version_id)
            return None
        return self._draft_from(layout.draft_key(version_id), data)

    def _draft_from(self, key: str, data: bytes) -> Draft:
        draft = Draft.from_bytes(data, f"draft {key}")
        draft.stored = hash_bytes(data)
        expect(draft.record.id == layout.leaf(key), f"draft {key}", f"it holds the id {draft.record.id}")
        return draft

    def delete_draft(self, version_id: str) -> None:
        self.backend.delete([layout.draft_key(version_id)])

    def discard_draft(self, draft: Draft) -> None:
        """Delete a draft deleted by its user (``delete_version``)."""
        self.delete_draft(draft.record.id)

    def drafts(self) -> list[Draft]:
        """Unfinished versions. A draft whose version record exists (its finalize died before
        removing it) is stale: it is skipped and removed."""
        keys = self.backend.list(layout.DRAFTS)
        final = {layout.record_id(k) for k in self.backend.list(layout.VERSIONS) if layout.is_record_key(k)}
        stale = [k for k in keys if layout.leaf(k) in final]
        if stale:
            self.backend.delete(stale)
        out = []
        for key, data in self.backend.read_many([k for k in keys if k not in stale]).items():
            try:
                out.append(self._draft_from(key, data))
            except DagstoreError as exc:  # one bad draft never hides the others
                skip(key, exc)
        return out

    # -- final versions ------------------------------------------------------------------

    def record(self, version_id: str) -> VersionRecord:
        """The final version's record with its current labels; DatasetNotFoundError if none."""
        vid = check_id(version_id)
        try:
            rec = self._record_from(layout.record_key(vid), self.backend.read(layout.record_key(vid)))
        except FileNotFoundError:
            raise DatasetNotFoundError(f"no final version with id {version_id} in {self.url}") from None
        labels = self._labels(vid)[1]
        return rec.with_labels(labels) if labels is not None else rec

    def content_record(self, version_id: str) -> VersionRecord:
        """A final version's record without its labels, for reading content: records never
        change, so they are cached locally and later calls make no request."""
        vid = check_id(version_id)
        data = self.cache.read_immutable("records", vid)
        if data is None:
            try:
                data = self.backend.read(layout.record_key(vid))
            except FileNotFoundError:
                raise DatasetNotFoundError(f"no final version with id {version_id} in {self.url}") from None
            rec = self._record_from(layout.record_key(vid), data)
            self.cache.write_immutable("records", vid, data)
            return rec
        return self._record_from(layout.record_key(vid), data)

    def _record_from(self, key: str, data: bytes) -> VersionRecord:
        """A final version's record, checked: valid fields, the id of its key, a manifest."""
        what = f"version record {key}"
        rec = VersionRecord.from_json(data, what)
        expect(rec.id == layout.record_id(key), what, f"it holds the id {rec.id}")
        expect(bool(rec.manifest), what, "no manifest")
        return rec

    def exists(self, version_id: str) -> bool:
        return self.backend.exists(layout.record_key(check_id(version_id)))

    def records(self, ids: Iterable[str] | None = None) -> list[VersionRecord]:
        """Every final version (or those of ``ids``), labels applied."""
        if ids is None:
            keys = [k for k in self.backend.list(layout.VERSIONS) if layout.is_record_key(k)]
        else:
            keys = [layout.record_key(check_id(i)) for i in ids]
        recs = []
        for key, data in self.backend.read_many(keys).items():
            try:
                recs.append(self._record_from(key, data))
            except DagstoreError as exc:  # one bad record never hides the others
                skip(key, exc)
        latest: dict[str, str] = {}
        for k in self.backend.list(layout.STATE):  # state/<id>/<revision>.json, highest revision wins
            owner = layout.labels_owner(k)
            if owner is not None and k > latest.get(owner, ""):
                latest[owner] = k
        states = self.backend.read_many([latest[r.id] for r in recs if r.id in latest])
        labels = {k: self._labels_from(k, data) for k, data in states.items()}
        return [r.with_labels(lab) if (lab := labels.get(latest.get(r.id, ""))) is not None else r for r in recs]

    # -- names and version numbers -------------------------------------------------------

    def claimed_versions(self, project: str, name: str) -> dict[str, str]:
        """``{version: id}`` claimed under project/name (some may belong to unfinished finalizes)."""
        out = {}
        for k, data in self.backend.read_many(self.backend.list(layout.claims_prefix(project, name))).items():
            owner = self._claim_owner(k, data)
            if owner is not None:
                out[layout.leaf(k)] = owner
        return out

    def _claim_owner(self, key: str, data: bytes, warn: bool = True) -> str | None:
        """The id a claim names, or None (with a warning) when the claim is unreadable."""
        try:
            owner = parse_object(data, f"version claim {key}").get("id")
            expect(isinstance(owner, str) and owner.isalnum() and len(owner) <= 64, f"version claim {key}", "no valid id")
            return owner
        except DagstoreError as exc:
            if warn:
                skip(key, exc)
            return None

    def versions_of(self, project: str, name: str) -> list[VersionRecord]:
        """Final versions of project/name, lowest version first."""
        claims = self.claimed_versions(project, name)
        recs = [r for r in self.records(claims.values()) if r.name == name and r.project == project]
        return sorted(recs, key=lambda r: version_key(r.version))

    def next_version(self, project: str, name: str) -> str:
        """The default version for a new draft: the highest claimed one bumped, else 1.0.0."""
        claimed = list(self.claimed_versions(project, name))
        return bump_version(max(claimed, key=version_key)) if claimed else "1.0.0"

    def finalize(self, draft: Draft, delta: pa.Table | None = None) -> VersionRecord:
        """Make a fully uploaded draft a final version, atomically (the record is written last).
        ``delta``: the draft's delta as a table (``columns.entries_table``), when already made."""
        rec = draft.record
        manifest_bytes = columns.encode_delta(delta) if delta is not None else columns.delta_bytes(draft.delta)
        manifest = layout.manifest_key(hash_bytes(manifest_bytes))
        self.backend.write(manifest, manifest_bytes)  # rewritten, not reused: a fresh copy gc will not sweep
        self.backend.delete([layout.gc_mark_key(manifest)])
        version = self._claim(rec)
        final = replace(rec, version=version, manifest=manifest, finalized=now_iso())
        if not self.backend.write_new(layout.record_key(rec.id), final.to_json()):
            existing = self._record_from(layout.record_key(rec.id), self.backend.read(layout.record_key(rec.id)))
            if existing.manifest != manifest:
                raise ConflictError(f"version {rec.id} was already finalized with other content")
            final = existing
        self.delete_draft(rec.id)
        return final

    def _claim(self, rec: VersionRecord) -> str:
        version = rec.version
        body = json.dumps({"id": rec.id, "project": rec.project, "name": rec.name}).encode()
        for _ in range(1000):
            key = layout.claim_key(rec.project, rec.name, version)
            if self.backend.write_new(key, body):
                return version
            owner = self._claim_owner(key, self.backend.read(key))
            if owner == rec.id:
                return version
            if rec.version_explicit:
                raise ConflictError(f"version {version} of {rec.project}/{rec.name} already exists (id {owner or 'unreadable, ' + key})")
            # past every number claimed (names only: one listing, no reads, so 64 writers racing stay fast)
            taken = [layout.leaf(k) for k in self.backend.list(layout.claims_prefix(rec.project, rec.name))]
            version = bump_version(max([version, *taken], key=version_key))
        raise ConflictError(f"could not claim a version number for {rec.project}/{rec.name}")

    # -- labels --------------------------------------------------------------------------

    def _labels(self, version_id: str) -> tuple[int, dict[str, Any] | None]:
        """(latest revision, labels) of a final version; (0, None) when never relabelled."""
        keys = self.backend.list(layout.labels_prefix(version_id))
        if not keys:
            return 0, None
        last = max(keys)
        return layout.labels_revision(last), self._labels_from(last, self.backend.read(last))

    def _labels_from(self, key: str, data: bytes, warn: bool = True) -> dict[str, Any] | None:
        """A label revision, or None (with a warning: the record's own labels then apply)."""
        what = f"label revision {key}"
        try:
            doc = parse_object(data, what)
            for k, ok in (("name", str), ("project", str), ("published", bool)):
                expect(k not in doc or isinstance(doc[k], ok), what, f"{k} has the wrong type")
            expect("tags" not in doc or is_str_list(doc["tags"]), what, "tags is not a list of texts")
            return doc
        except DagstoreError as exc:
            if warn:
                skip(key, exc)
            return None

    def set_labels(self, version_id: str, **labels: Any) -> VersionRecord:
        """Change the mutable labels (name, project, tags, published) of a final version."""
        return self.update_labels(version_id, lambda cur: {**cur, **{k: (list(v) if k == "tags" else v) for k, v in labels.items()}})

    def update_labels(self, version_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> VersionRecord:
        """Apply ``change`` to the current labels atomically: each change is a new write-once
        revision ``state/<id>/<n>.json`` claimed with put-if-absent, so concurrent changes
        retry on the latest labels instead of overwriting each other. Revisions are never
        deleted while the version lives (deleting one would let a stale writer reclaim it)."""
        rec = self.record(version_id)
        for _ in range(1000):
            n, cur = self._labels(version_id)
            if cur is None:
                cur = {"name": rec.name, "project": rec.project, "tags": list(rec.tags), "published": rec.published,
                       "description": rec.description}
            new = change(dict(cur))
            if self.backend.write_new(layout.labels_key(version_id, n + 1), json.dumps(new, sort_keys=True).encode()):
                return rec.with_labels(new)
        raise ConflictError(f"could not update the labels of {version_id}: too many concurrent changes")

    def relabel_dataset(self, project: str, name: str, new_project: str, new_name: str) -> int:
        """Rename / move every version of project/name (finals and drafts). Idempotent on retry."""
        check_name(new_project, "project")
        check_name(new_name, "dataset name")
        if (project, name) == (new_project, new_name):
            return 0
        claims = self.claimed_versions(project, name)
        taken = self.claimed_versions(new_project, new_name)
        clash = sorted(v for v in claims if v in taken and taken[v] != claims[v])
        if clash:
            raise ConflictError(f"{new_project}/{new_name} already has version(s) {', '.join(clash)}")
        n = 0
        for version, vid in claims.items():
            body = json.dumps({"id": vid, "project": new_project, "name": new_name}).encode()
            self.backend.write_new(layout.claim_key(new_project, new_name, version), body)
            if self.exists(vid):
                self.set_labels(vid, name=new_name, project=new_project)
                n += 1
            self.backend.delete([layout.claim_key(project, name, version)])
        for d in self.drafts():
            if (d.record.project, d.record.name) == (project, name):
                d.record = replace(d.record, project=new_project, name=new_name)
                self.save_draft(d)
                n += 1
        return n

    def delete_version(self, version_id: str, force: bool = False) -> None:
        """Remove a version (final or draft). Refuses while other versions depend on it unless
        ``force``. Content stays until gc."""
        draft = self.load_draft(version_id)
        if draft is not None:
            self.discard_draft(draft)
            return
        rec = self.record(version_id)
        children = sorted(r.id for r in self.records() if version_id in r.parents)
        children += sorted(d.record.id for d in self.drafts() if version_id in d.record.parents)
        if children and not force:
            raise ConflictError(f"version {version_id} is a parent of {', '.join(children)}; delete those first or force")
        self.backend.delete([layout.record_key(version_id)])  # invisible from here on
        self.backend.delete([*self.backend.list(layout.labels_prefix(version_id)), layout.claim_key(rec.project, rec.name, rec.version)])
