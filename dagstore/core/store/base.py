"""A store root: version records, drafts, name/version claims, labels, content lookup, gc, verify.

The store is its own registry (no server, no database). Layout and invariants are in
docs/format.md; in short: content objects are write-once, a version's record is written
last and only once (``versions/<id>.json``), and a version number is claimed with a
put-if-absent of ``names/<name key>/<version>`` so that two writers never share one.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import platformdirs

from . import config
from .backend import Backend, open_backend
from .cache import Cache
from .errors import ConflictError, DatasetNotFoundError, FormatError, IntegrityError
from .hashing import hash_bytes, hash_file
from .manifest import Delta, Diff, Entry, apply_delta, diff_states, merge_states, state_from_bytes, state_to_bytes
from .packs import BlobLocation, decode_blob, decode_header, index_key, object_key, pack_key, read_pack_header
from .records import Draft, VersionRecord, bump_version, version_key

STORE_FORMAT = 1
_MARKER = "dagstore.json"


def default_store_url() -> str:
    """``DAGSTORE_URL`` (or ``url`` in the config file), else a folder in the user's data dir
    (the embedded default)."""
    return config.setting("url") or os.path.join(platformdirs.user_data_dir("dagstore"), "store")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def name_key(project: str, name: str) -> str:
    return hash_bytes(f"{project}\x00{name}".encode())


@dataclass
class GcReport:
    """What gc removed (or would remove, with dry_run), and what it marked for a later run."""

    packs: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)  # partial files of interrupted writes
    marked: list[str] = field(default_factory=list)  # unreferenced now; removed by a later run
    bytes: int = 0
    dry_run: bool = False


class Store:
    """One store root (a local folder or any fsspec URL) plus the local cache used with it.

    ``Store()`` uses ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR`` or their defaults; pass ``url``,
    ``storage_options`` (credentials, endpoints; never persisted) and ``cache_dir`` to use
    several stores in one process.
    """

    _defaults: dict[tuple[str, str | None], Store] = {}
    _defaults_lock = threading.Lock()

    def __init__(self, url: str | None = None, storage_options: dict[str, Any] | None = None, cache_dir: str | None = None):
        if url is None:
            url = default_store_url()
            if storage_options is None:
                storage_options = config.storage_options() or None
        self.backend: Backend = open_backend(url, storage_options)
        self.url = self.backend.url
        self.storage_options = storage_options or {}
        self.cache = Cache(cache_dir)
        self._content_backends: dict[str, Backend] = {}
        self._init_marker()

    @classmethod
    def default(cls) -> Store:
        """The process-wide store for the current ``DAGSTORE_URL`` / ``DAGSTORE_CACHE_DIR``."""
        key = (default_store_url(), config.setting("cache_dir"))
        with cls._defaults_lock:
            if key not in cls._defaults:
                cls._defaults[key] = cls()
            return cls._defaults[key]

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- format marker -------------------------------------------------------------------

    def _init_marker(self) -> None:
        try:
            data = self.backend.read(_MARKER)
        except FileNotFoundError:
            ensure = getattr(self.backend, "ensure_root", None)
            if ensure:
                ensure()
            self.backend.write_new(_MARKER, json.dumps({"format": STORE_FORMAT, "created": now_iso()}).encode())
            data = self.backend.read(_MARKER)
        try:
            fmt = json.loads(data).get("format")
        except ValueError as exc:
            raise FormatError(f"{self.url}: {_MARKER} is not valid JSON") from exc
        if not isinstance(fmt, int) or fmt > STORE_FORMAT:
            raise FormatError(f"{self.url} was written by a newer dagstore (store format {fmt}, this one knows {STORE_FORMAT}); upgrade dagstore")

    # -- drafts --------------------------------------------------------------------------

    def save_draft(self, draft: Draft) -> None:
        self.backend.write(f"drafts/{draft.record.id}", draft.to_bytes())

    def load_draft(self, version_id: str) -> Draft | None:
        try:
            data = self.backend.read(f"drafts/{_check_id(version_id)}")
        except FileNotFoundError:
            return None
        if self.exists(version_id):  # a finalize died after writing the record: the draft is stale
            self.delete_draft(version_id)
            return None
        return Draft.from_bytes(data)

    def delete_draft(self, version_id: str) -> None:
        self.backend.delete([f"drafts/{version_id}"])

    def drafts(self) -> list[Draft]:
        """Unfinished versions. A draft whose version record exists (its finalize died before
        removing it) is stale: it is skipped and removed."""
        keys = self.backend.list("drafts")
        final = {k.rsplit("/", 1)[1][: -len(".json")] for k in self.backend.list("versions") if k.endswith(".json")}
        stale = [k for k in keys if k.rsplit("/", 1)[1] in final]
        if stale:
            self.backend.delete(stale)
        return [Draft.from_bytes(d) for d in self.backend.read_many([k for k in keys if k not in stale]).values()]

    # -- final versions ------------------------------------------------------------------

    def record(self, version_id: str) -> VersionRecord:
        """The final version's record with its current labels; DatasetNotFoundError if none."""
        vid = _check_id(version_id)
        try:
            rec = VersionRecord.from_json(self.backend.read(f"versions/{vid}.json"))
        except FileNotFoundError:
            raise DatasetNotFoundError(f"no final version with id {version_id} in {self.url}") from None
        labels = self._labels(vid)[1]
        return rec.with_labels(labels) if labels is not None else rec

    def content_record(self, version_id: str) -> VersionRecord:
        """A final version's record without its labels, for reading content: records never
        change, so they are cached locally and later calls make no request."""
        vid = _check_id(version_id)
        data = self.cache.read_immutable("records", vid)
        if data is None:
            try:
                data = self.backend.read(f"versions/{vid}.json")
            except FileNotFoundError:
                raise DatasetNotFoundError(f"no final version with id {version_id} in {self.url}") from None
            rec = VersionRecord.from_json(data)
            self.cache.write_immutable("records", vid, data)
            return rec
        return VersionRecord.from_json(data)

    def exists(self, version_id: str) -> bool:
        return self.backend.exists(f"versions/{_check_id(version_id)}.json")

    def records(self, ids: Iterable[str] | None = None) -> list[VersionRecord]:
        """Every final version (or those of ``ids``), labels applied."""
        if ids is None:
            keys = [k for k in self.backend.list("versions") if k.endswith(".json")]
        else:
            keys = [f"versions/{_check_id(i)}.json" for i in ids]
        recs = [VersionRecord.from_json(d) for d in self.backend.read_many(keys).values()]
        latest: dict[str, str] = {}
        for k in self.backend.list("state"):  # state/<id>/<revision>.json, highest revision wins
            parts = k.split("/")
            if len(parts) == 3 and k > latest.get(parts[1], ""):
                latest[parts[1]] = k
        states = self.backend.read_many([latest[r.id] for r in recs if r.id in latest])
        return [r.with_labels(json.loads(states[latest[r.id]])) if latest.get(r.id) in states else r for r in recs]

    def claimed_versions(self, project: str, name: str) -> dict[str, str]:
        """``{version: id}`` claimed under project/name (some may belong to unfinished finalizes)."""
        prefix = f"names/{name_key(project, name)}"
        out = {}
        for k, data in self.backend.read_many(self.backend.list(prefix)).items():
            out[k.rsplit("/", 1)[1]] = json.loads(data)["id"]
        return out

    def versions_of(self, project: str, name: str) -> list[VersionRecord]:
        """Final versions of project/name, lowest version first."""
        claims = self.claimed_versions(project, name)
        recs = [r for r in self.records(claims.values()) if r.name == name and r.project == project]
        return sorted(recs, key=lambda r: version_key(r.version))

    def next_version(self, project: str, name: str) -> str:
        """The default version for a new draft: the highest claimed one bumped, else 1.0.0."""
        claimed = list(self.claimed_versions(project, name))
        return bump_version(max(claimed, key=version_key)) if claimed else "1.0.0"

    def finalize(self, draft: Draft) -> VersionRecord:
        """Make a fully uploaded draft a final version, atomically (the record is written last)."""
        rec = draft.record
        manifest_bytes = draft.delta.to_bytes()
        manifest = f"manifests/{hash_bytes(manifest_bytes)}"
        self.backend.write(manifest, manifest_bytes)  # rewritten, not reused: a fresh copy gc will not sweep
        self.backend.delete([f"gc/{manifest}"])
        version = self._claim(rec)
        final = replace(rec, version=version, manifest=manifest, finalized=now_iso())
        if not self.backend.write_new(f"versions/{rec.id}.json", final.to_json()):
            existing = VersionRecord.from_json(self.backend.read(f"versions/{rec.id}.json"))
            if existing.manifest != manifest:
                raise ConflictError(f"version {rec.id} was already finalized with other content")
            final = existing
        self.delete_draft(rec.id)
        return final

    def _claim(self, rec: VersionRecord) -> str:
        prefix = f"names/{name_key(rec.project, rec.name)}"
        version = rec.version
        body = json.dumps({"id": rec.id, "project": rec.project, "name": rec.name}).encode()
        for _ in range(1000):
            if self.backend.write_new(f"{prefix}/{version}", body):
                return version
            owner = json.loads(self.backend.read(f"{prefix}/{version}"))["id"]
            if owner == rec.id:
                return version
            if rec.version_explicit:
                raise ConflictError(f"version {version} of {rec.project}/{rec.name} already exists (id {owner})")
            version = bump_version(max([version, *self.claimed_versions(rec.project, rec.name)], key=version_key))
        raise ConflictError(f"could not claim a version number for {rec.project}/{rec.name}")

    def _labels(self, version_id: str) -> tuple[int, dict[str, Any] | None]:
        """(latest revision, labels) of a final version; (0, None) when never relabelled."""
        keys = self.backend.list(f"state/{version_id}")
        if not keys:
            return 0, None
        last = max(keys)
        return int(last.rsplit("/", 1)[1].split(".")[0]), json.loads(self.backend.read(last))

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
                cur = {"name": rec.name, "project": rec.project, "tags": list(rec.tags), "published": rec.published}
            new = change(dict(cur))
            if self.backend.write_new(f"state/{version_id}/{n + 1:010d}.json", json.dumps(new, sort_keys=True).encode()):
                return rec.with_labels(new)
        raise ConflictError(f"could not update the labels of {version_id}: too many concurrent changes")

    def relabel_dataset(self, project: str, name: str, new_project: str, new_name: str) -> int:
        """Rename / move every version of project/name (finals and drafts). Idempotent on retry."""
        if (project, name) == (new_project, new_name):
            return 0
        old_prefix = f"names/{name_key(project, name)}"
        new_prefix = f"names/{name_key(new_project, new_name)}"
        claims = self.claimed_versions(project, name)
        taken = self.claimed_versions(new_project, new_name)
        clash = sorted(v for v in claims if v in taken and taken[v] != claims[v])
        if clash:
            raise ConflictError(f"{new_project}/{new_name} already has version(s) {', '.join(clash)}")
        body = lambda vid: json.dumps({"id": vid, "project": new_project, "name": new_name}).encode()  # noqa: E731
        n = 0
        for version, vid in claims.items():
            self.backend.write_new(f"{new_prefix}/{version}", body(vid))
            if self.exists(vid):
                self.set_labels(vid, name=new_name, project=new_project)
                n += 1
            self.backend.delete([f"{old_prefix}/{version}"])
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
            self.delete_draft(version_id)
            return
        rec = self.record(version_id)
        children = sorted(r.id for r in self.records() if version_id in r.parents)
        children += sorted(d.record.id for d in self.drafts() if version_id in d.record.parents)
        if children and not force:
            raise ConflictError(f"version {version_id} is a parent of {', '.join(children)}; delete those first or force")
        self.backend.delete([f"versions/{version_id}.json"])  # invisible from here on
        self.backend.delete([*self.backend.list(f"state/{version_id}"), f"names/{name_key(rec.project, rec.name)}/{rec.version}"])

    # -- content -------------------------------------------------------------------------

    def content_backend(self, rec: VersionRecord) -> Backend:
        """Where a version's packs and objects live (its content_url, or this store)."""
        if not rec.content_url or rec.content_url == self.url:
            return self.backend
        if rec.content_url not in self._content_backends:
            self._content_backends[rec.content_url] = open_backend(rec.content_url, self.storage_options)
        return self._content_backends[rec.content_url]

    def delta(self, rec: VersionRecord) -> Delta:
        cached = self.cache.read_immutable("manifests", rec.manifest.rsplit("/", 1)[-1])
        if cached is None:
            cached = self.backend.read(rec.manifest)
            if hash_bytes(cached) != rec.manifest.rsplit("/", 1)[-1]:
                raise IntegrityError(f"manifest of version {rec.id} does not match its hash")
            self.cache.write_immutable("manifests", rec.manifest.rsplit("/", 1)[-1], cached)
        return Delta.from_bytes(cached)

    def state(self, version_id: str) -> dict[str, Entry]:
        """The full content of a final version (parents merged, own delta applied), cached locally."""
        cached = self.cache.read_immutable("states", version_id)
        if cached is not None:
            return state_from_bytes(cached)
        rec = self.content_record(version_id)
        base = merge_states(self.state(p) for p in rec.parents)
        st = apply_delta(base, self.delta(rec), rec.id)
        self.cache.write_immutable("states", version_id, state_to_bytes(st))
        return st

    def cache_state(self, version_id: str, state: dict[str, Entry]) -> None:
        """Remember the merged state of a version just finalized (computed by its writer)."""
        self.cache.write_immutable("states", version_id, state_to_bytes(state))

    def chain(self, version_id: str) -> list[VersionRecord]:
        """The version and all its ancestors, each once (content records: no labels)."""
        seen: dict[str, VersionRecord] = {}
        todo = [version_id]
        while todo:
            vid = todo.pop()
            if vid in seen:
                continue
            seen[vid] = self.content_record(vid)
            todo.extend(seen[vid].parents)
        return list(seen.values())

    def locations(self, recs: Iterable[VersionRecord]) -> dict[str, tuple[Backend, BlobLocation | None]]:
        """``{blob hash: (backend, pack location or None for a large object)}`` for these versions."""
        out: dict[str, tuple[Backend, BlobLocation | None]] = {}
        for rec in recs:
            be = self.content_backend(rec)
            for h, loc in self.pack_index(be, rec.packs).items():
                out.setdefault(h, (be, loc))
            for h in rec.objects:
                out.setdefault(h, (be, None))
        return out

    def pack_index(self, backend: Backend, pack_ids: Iterable[str] | None = None) -> dict[str, BlobLocation]:
        """Blob locations from the index objects of these packs (all packs when None)."""
        if pack_ids is None:
            pack_ids = [k.rsplit("/", 1)[1] for k in backend.list("index")]
        out: dict[str, BlobLocation] = {}
        missing = []
        for pid in pack_ids:
            data = self.cache.read_immutable("index", pid)
            if data is None:
                missing.append(pid)
            else:
                out.update(decode_header(pid, data))
        for key, data in backend.read_many([index_key(p) for p in missing]).items():
            pid = key.rsplit("/", 1)[1]
            self.cache.write_immutable("index", pid, data)
            out.update(decode_header(pid, data))
        return out

    def diff(self, old_id: str, new_id: str) -> Diff:
        """What changed from version ``old_id`` to version ``new_id`` (any two versions)."""
        return diff_states(self.state(old_id), self.state(new_id))

    # -- maintenance ---------------------------------------------------------------------

    def gc_marks(self) -> set[str]:
        """Keys of content that gc has marked for removal (``gc/<key>`` objects): uploads must
        not reuse it."""
        return {k[len("gc/") :] for k in self.backend.list("gc")}

    def gc(self, dry_run: bool = False, min_age_seconds: float = 3600.0) -> GcReport:
        """Remove content that no version or draft references, in two phases so that content
        a concurrent upload reuses is never lost: unreferenced packs, objects and manifests
        older than ``min_age_seconds`` are first *marked* (``gc/<key>``, which uploads do not
        reuse); a later run removes those still unreferenced and marked at least
        ``min_age_seconds`` earlier. With ``min_age_seconds=0`` both phases run at once.
        A pack's index is deleted before the pack; an index whose pack is gone is removed."""
        report = GcReport(dry_run=dry_run)
        recs = self.records()
        drafts = [d.record for d in self.drafts()]
        live_ids = {r.id for r in recs} | {d.id for d in drafts}
        referenced = {pack_key(p) for r in (*recs, *drafts) for p in r.packs}
        referenced |= {object_key(o) for r in (*recs, *drafts) for o in r.objects}
        referenced |= {r.manifest for r in recs}
        now = time.time()
        cutoff = now - min_age_seconds
        be = self.backend
        old = lambda key: be.mtime(key) < cutoff  # noqa: E731
        marks = {k[len("gc/") :]: json.loads(v).get("at", now) for k, v in be.read_many(be.list("gc")).items()}
        packs = set(be.list("packs"))
        candidates = [k for k in (*sorted(packs), *be.list("objects"), *be.list("manifests")) if k not in referenced and old(k)]
        to_mark: list[str] = []
        for key in candidates:
            at = marks.get(key)
            if min_age_seconds <= 0 or (at is not None and at <= cutoff):
                report.bytes += be.size(key)
                kind = key.split("/", 1)[0]
                name = key.rsplit("/", 1)[1]
                {"packs": report.packs, "objects": report.objects, "manifests": report.manifests}[kind].append(name if kind == "packs" else key)
            elif at is None:
                to_mark.append(key)
        report.marked = to_mark
        unmark = [f"gc/{k}" for k in marks if k not in candidates]  # referenced again, or gone
        orphan_indexes = [k for k in be.list("index") if pack_key(k.rsplit("/", 1)[1]) not in packs and old(k)]
        for key, data in be.read_many(be.list("names")).items():
            if json.loads(data)["id"] not in live_ids and old(key):
                report.claims.append(key)
        for prefix in ("packs", "index", "objects", "manifests", "versions", "drafts", "names", "state", "gc"):
            for key in be.list_temp(prefix):
                try:
                    if old(key):
                        report.temps.append(key)
                        report.bytes += be.size(key)
                except FileNotFoundError:  # its writer just finished or cleaned it up
                    pass
        if not dry_run:
            stamp = json.dumps({"at": now}).encode()
            for key in to_mark:
                be.write(f"gc/{key}", stamp)
            still_old = lambda key: _mtime_or_none(be, key) is not None and old(key)  # noqa: E731
            for pid in report.packs:
                be.delete([index_key(pid)])  # the index first: an index never names a missing pack
                be.delete([pack_key(pid), f"gc/{pack_key(pid)}"])
            be.delete(orphan_indexes)
            for key in (*report.objects, *report.manifests):
                if still_old(key):  # re-checked: an upload may have just rewritten it
                    be.delete([key])
                be.delete([f"gc/{key}"])
            be.delete(unmark)
            be.delete(report.claims)
            be.delete(report.temps)
        return report

    def verify(self, read_data: bool = False) -> list[str]:
        """Problems found in the store: unreadable records, missing manifests, packs or objects,
        blobs missing from their packs; with ``read_data`` every blob is read and hashed."""
        problems: list[str] = []
        try:
            recs = self.records()
        except FormatError as exc:
            return [str(exc)]
        for rec in recs:
            try:
                delta = self.delta(rec)
            except (FileNotFoundError, FormatError, IntegrityError) as exc:
                problems.append(f"version {rec.id}: manifest: {exc}")
                continue
            for p in rec.parents:
                if not self.exists(p):
                    problems.append(f"version {rec.id}: parent {p} is missing")
            be = self.content_backend(rec)
            try:
                index = self.pack_index(be, rec.packs)
            except FormatError as exc:
                problems.append(f"version {rec.id}: {exc}")
                continue
            objects = set(rec.objects)
            for path, e in delta.entries.items():
                if e.url is None and e.hash not in index and e.hash not in objects:
                    problems.append(f"version {rec.id}: {path}: content {e.hash} is not in its packs or objects")
            for pid in rec.packs:
                if not be.exists(pack_key(pid)):
                    problems.append(f"version {rec.id}: pack {pid} is missing")
            for h in objects:
                if not be.exists(object_key(h)):
                    problems.append(f"version {rec.id}: object {h} is missing")
        if read_data:
            problems += self._verify_data()
        return sorted(set(problems))

    def _verify_data(self) -> list[str]:
        problems = []
        be = self.backend
        for key in be.list("packs"):
            pid = key.rsplit("/", 1)[1]
            try:
                data = be.read(key)
                if hash_bytes(data) != pid:
                    problems.append(f"pack {pid}: content does not match its id")
                    continue
                for h, loc in read_pack_header(be, pid).items():
                    decode_blob(h, memoryview(data)[loc.offset : loc.offset + loc.length], loc)
            except (FormatError, IntegrityError) as exc:
                problems.append(f"pack {pid}: {exc}")
        for key in be.list("objects"):
            with tempfile.TemporaryDirectory() as tmp:
                local = os.path.join(tmp, "blob")
                be.get_file(key, local)
                if hash_file(local)[0] != key.rsplit("/", 1)[1]:
                    problems.append(f"object {key}: content does not match its hash")
        return problems


def _mtime_or_none(be: Backend, key: str) -> float | None:
    try:
        return be.mtime(key)
    except FileNotFoundError:
        return None


def _check_id(version_id: str) -> str:
    if not isinstance(version_id, str) or not version_id.isalnum() or len(version_id) > 64:
        raise DatasetNotFoundError(f"invalid dataset id {version_id!r}")
    return version_id


