"""The ClearML-Data-compatible porcelain: ``Dataset``. Thin: it turns calls into store,
scan, transfer and cache operations and never touches storage directly."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fsspec

from .cache import _rmtree
from .errors import ConflictError, DatasetFinalizedError, DatasetNotFoundError, DraftError, InvalidPathError
from .hashing import SMALL_FILE, hash_bytes, hash_file
from .manifest import Delta, Diff, Entry, apply_delta, dataset_prefix, diff_states, join_dataset_path, match_path, merge_states, normalize_path, same_content
from .records import Draft, VersionRecord, check_version, version_key
from .config import redact_url
from .scan import hash_files, matches_wildcard, scan
from .store import Store, now_iso
from . import transfer
from .packs import pack_key

DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class FileEntry:
    """A stored file of a version (ClearML's FileEntry fields, plus ``meta``)."""

    relative_path: str
    hash: str
    size: int
    parent_dataset_id: str | None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class LinkEntry:
    """An external file registered by URL (ClearML's LinkEntry fields)."""

    link: str
    relative_path: str
    parent_dataset_id: str | None
    size: int
    hash: str = ""


def _check_content_url(url: str | None) -> str | None:
    """Content URLs are written into version records: refuse any that carries a secret."""
    if url and redact_url(url) != url:
        raise InvalidPathError(f"{redact_url(url)}: put credentials in storage_options or the backend's environment, not in the URL")
    return url


def _resolve_store(store: Store | str | None) -> Store:
    if store is None:
        return Store.default()
    if isinstance(store, Store):
        return store
    return Store(store)


def _patterns(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class Dataset:
    """One version of a dataset: a mutable draft until ``finalize()``, immutable afterwards.

    Create with ``Dataset.create`` or load with ``Dataset.get``; every classmethod takes an
    optional ``store`` (a ``Store`` or URL) and otherwise uses ``DAGSTORE_URL``.
    """

    def __init__(self, store: Store, record: VersionRecord, draft: Draft | None = None):
        self._store = store
        self._record = record
        self._draft = draft
        self._parent_state: dict[str, Entry] | None = None
        self._state: dict[str, Entry] | None = None
        self._reader: Any = None

    # -- identity -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def project(self) -> str:
        return self._record.project

    @property
    def version(self) -> str:
        return self._record.version

    @property
    def tags(self) -> list[str]:
        return list(self._record.tags)

    @property
    def description(self) -> str:
        return self._record.description

    @property
    def parents(self) -> list[str]:
        return list(self._record.parents)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def record(self) -> VersionRecord:
        return self._record

    def __repr__(self) -> str:
        kind = "final" if self.is_final() else "draft"
        return f"<Dataset {self.project}/{self.name} {self.version} id={self.id} ({kind})>"

    # -- create / get ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        dataset_name: str,
        dataset_project: str | None = None,
        dataset_tags: Sequence[str] | None = None,
        parent_datasets: Sequence[str | Dataset] | None = None,
        dataset_version: str | None = None,
        output_uri: str | None = None,
        description: str | None = None,
        store: Store | str | None = None,
    ) -> Dataset:
        """A new draft version. Parents must be final; they merge in list order, later wins."""
        st = _resolve_store(store)
        if not dataset_name or not isinstance(dataset_name, str):
            raise InvalidPathError("dataset_name is required")
        parents: list[str] = []
        for p in parent_datasets or []:
            pid = p.id if isinstance(p, Dataset) else str(p)
            if not st.exists(pid):
                if st.load_draft(pid) is not None:
                    raise DraftError(f"parent {pid} is a draft; finalize it before using it as a parent")
                raise DatasetNotFoundError(f"parent dataset {pid} not found in {st.url}")
            if pid not in parents:
                parents.append(pid)
        if dataset_project is None:
            dataset_project = st.record(parents[0]).project if parents else DEFAULT_PROJECT
        explicit = dataset_version is not None
        version = check_version(dataset_version) if explicit else st.next_version(dataset_project, dataset_name)
        rec = VersionRecord(
            id=uuid.uuid4().hex,
            name=dataset_name,
            project=dataset_project,
            version=version,
            parents=tuple(parents),
            tags=tuple(dataset_tags or ()),
            description=description or "",
            created=now_iso(),
            content_url=_check_content_url(output_uri),
            version_explicit=explicit,
        )
        draft = Draft(rec)
        st.save_draft(draft)
        return cls(st, rec, draft)

    @classmethod
    def get(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        dataset_tags: Sequence[str] | None = None,
        only_completed: bool = False,
        only_published: bool = False,
        auto_create: bool = False,
        writable_copy: bool = False,
        dataset_version: str | None = None,
        alias: str | None = None,
        store: Store | str | None = None,
        **_ignored: Any,
    ) -> Dataset:
        """A version by id, or the highest version of project/name (filtered by tags, exact
        version, completion, publication). ``writable_copy`` returns a new child draft."""
        st = _resolve_store(store)
        found = cls._find(st, dataset_id, dataset_project, dataset_name, dataset_tags, only_completed, only_published, dataset_version)
        if found is None:
            if auto_create and dataset_name:
                return cls.create(dataset_name, dataset_project, dataset_tags=dataset_tags, store=st)
            what = dataset_id or f"{dataset_project or '*'}/{dataset_name or '*'}" + (f" version {dataset_version}" if dataset_version else "")
            raise DatasetNotFoundError(f"no dataset matches {what} in {st.url}")
        if writable_copy:
            if not found.is_final():
                return found
            return cls.create(found.name, found.project, dataset_tags=found.tags, parent_datasets=[found.id], store=st)
        return found

    @classmethod
    def _find(
        cls,
        st: Store,
        dataset_id: str | None,
        project: str | None,
        name: str | None,
        tags: Sequence[str] | None,
        only_completed: bool,
        only_published: bool,
        version: str | None,
    ) -> Dataset | None:
        if dataset_id:
            try:
                ds = cls(st, st.record(dataset_id))
            except DatasetNotFoundError:
                draft = None if only_completed else st.load_draft(dataset_id)
                if draft is None:
                    return None
                ds = cls(st, draft.record, draft)
            return None if only_published and not ds._record.published else ds
        if not name and not project:
            raise DatasetNotFoundError("give a dataset_id, or a dataset_name and/or dataset_project")
        if name and project is not None:
            finals = st.versions_of(project, name)
        else:
            finals = [r for r in st.records() if (not name or r.name == name) and (project is None or r.project == project)]
        cands: list[tuple[VersionRecord, Draft | None]] = [(r, None) for r in finals]
        if not only_completed and not only_published:
            cands += [(d.record, d) for d in st.drafts() if (not name or d.record.name == name) and (project is None or d.record.project == project)]
        want = set(tags or ())
        cands = [
            c for c in cands
            if want <= set(c[0].tags) and (version is None or c[0].version == version) and (not only_published or c[0].published)
        ]
        if not cands:
            return None
        rec, draft = max(cands, key=lambda c: (version_key(c[0].version), c[0].finalized or c[0].created))
        return cls(st, rec, draft)

    # -- state ------------------------------------------------------------------------------

    def is_final(self) -> bool:
        return self._draft is None

    def is_dirty(self) -> bool:
        """True while a draft has content not uploaded yet."""
        return self._draft is not None and bool(self._draft.pending)

    def _require_draft(self) -> Draft:
        if self._draft is None:
            raise DatasetFinalizedError(f"dataset {self.id} is finalized and cannot change; create a child version of it instead")
        return self._draft

    def _require_final(self, what: str) -> None:
        if self._draft is not None:
            raise DraftError(f"{what} needs a finalized version; dataset {self.id} is still a draft (finalize/close it first)")

    def _parents_state(self) -> dict[str, Entry]:
        if self._parent_state is None:
            self._parent_state = merge_states(self._store.state(p) for p in self._record.parents)
        return self._parent_state

    def _current(self) -> dict[str, Entry]:
        """Full content of this version (for a draft: parents plus the pending delta)."""
        if self._draft is None:
            if self._state is None:
                self._state = self._store.state(self.id)
            return self._state
        return apply_delta(dict(self._parents_state()), self._draft.delta, self.id)

    def _save(self) -> None:
        if self._draft is not None:
            self._draft.record = self._record
            self._store.save_draft(self._draft)

    # -- adding and removing ------------------------------------------------------------------

    def _stage(self, path: str, entry: Entry, local: tuple[str, int] | None) -> bool:
        """Put one entry in the draft; returns True if it adds or changes content."""
        draft = self._require_draft()
        parent = self._parents_state().get(path)
        before = draft.delta.entries.get(path) or (None if path in draft.delta.removed else parent)
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

    def add_files(
        self,
        path: str | os.PathLike[str],
        wildcard: str | Sequence[str] | None = None,
        local_base_folder: str | os.PathLike[str] | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
        show_progress: bool = True,
    ) -> int:
        """Add a file or folder; returns how many files were added or modified. Content is
        hashed now and sent by ``upload()``. Nothing changes if any file is bad."""
        self._require_draft()
        files = scan(path, wildcard, recursive, base=local_base_folder)
        hashes = hash_files(files, self._store.cache.statcache, max_workers, show_progress)
        prefix = dataset_prefix(dataset_path)
        n = 0
        for f in files:  # scan yields canonical relative paths
            h, size = hashes[f.path]
            n += self._stage(f"{prefix}/{f.rel}" if prefix else f.rel, Entry(h, size), (f.path, f.mtime_ns))
        count = len(files)
        del files, hashes  # before the draft is serialized: lower peak memory
        self._save()
        if verbose:
            print(f"added or modified {n} of {count} files")
        return n

    def add_external_files(
        self,
        source_url: str | Sequence[str],
        wildcard: str | Sequence[str] | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
    ) -> int:
        """Register remote files as links (not copied); returns how many were added or modified."""
        self._require_draft()
        patterns = _patterns(wildcard)
        staged: list[tuple[str, Entry]] = []
        for url in _patterns(source_url):
            fs, root = fsspec.core.url_to_fs(url)
            proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            info = fs.info(root)
            if info["type"] == "directory":
                found = fs.find(root, maxdepth=None if recursive else 1, detail=True)
                base = root.rstrip("/")
                items = [(p[len(base) + 1 :], i) for p, i in found.items() if i["type"] == "file"]
            else:
                items = [(root.rstrip("/").rsplit("/", 1)[-1], info)]
            for rel, i in sorted(items):
                if not matches_wildcard(rel, patterns):
                    continue
                full = fs.unstrip_protocol(i["name"]) if proto not in ("file", "local") else "file://" + i["name"]
                staged.append((join_dataset_path(dataset_path, rel), Entry("", int(i.get("size") or 0), full)))
        n = sum(self._stage(dp, e, None) for dp, e in staged)
        self._save()
        if verbose:
            print(f"linked {n} external files")
        return n

    def remove_files(self, dataset_path: str | None = None, recursive: bool = True, verbose: bool = False) -> int:
        """Remove entries matching a path, folder or wildcard; returns how many were removed."""
        draft = self._require_draft()
        pattern = dataset_path if dataset_path is not None else "*"
        current = self._current()
        matched = [p for p in current if match_path(p, pattern, recursive)]
        parents = self._parents_state()
        for p in matched:
            draft.delta.entries.pop(p, None)
            draft.pending.pop(p, None)
            if p in parents:
                draft.delta.removed.add(p)
        self._save()
        if verbose:
            print(f"removed {len(matched)} files")
        return len(matched)

    def sync_folder(
        self, local_path: str | os.PathLike[str], dataset_path: str | None = None, verbose: bool = False, show_progress: bool = True
    ) -> tuple[int, int, int]:
        """Make the dataset subtree at ``dataset_path`` equal the local folder.
        Returns ``(removed, added, modified)``; unchanged files are not re-hashed (stat cache)."""
        draft = self._require_draft()
        if not os.path.isdir(local_path):
            raise InvalidPathError(f"{local_path}: not a folder")
        files = scan(local_path)
        hashes = hash_files(files, self._store.cache.statcache, show_progress=show_progress)
        prefix = dataset_prefix(dataset_path)
        wanted = {f"{prefix}/{f.rel}" if prefix else f.rel: f for f in files}
        current = self._current()
        under = [p for p in current if not prefix or p.startswith(prefix + "/")]
        removed = added = modified = 0
        parents = self._parents_state()
        for p in under:
            if p not in wanted:
                draft.delta.entries.pop(p, None)
                draft.pending.pop(p, None)
                if p in parents:
                    draft.delta.removed.add(p)
                removed += 1
        for dp, f in wanted.items():
            h, size = hashes[f.path]
            cur = current.get(dp)
            if cur is not None and cur[0] == h and cur[1] == size and cur[2] is None and cur[3] is None:
                continue  # unchanged: the common case, kept cheap
            existed = cur is not None
            if self._stage(dp, Entry(h, size), (f.path, f.mtime_ns)):
                if existed:
                    modified += 1
                else:
                    added += 1
        self._save()
        if verbose:
            print(f"sync: {removed} removed, {added} added, {modified} modified")
        return removed, added, modified

    # -- upload / finalize --------------------------------------------------------------------

    def upload(
        self,
        show_progress: bool = True,
        verbose: bool = False,
        output_url: str | None = None,
        compression: Any = None,
        chunk_size: int | None = None,
        max_workers: int | None = None,
        retries: int = 3,
    ) -> None:
        """Send pending content to the store (or to ``output_url``): small files packed and
        compressed, large files as their own objects. Safe to retry; resends nothing stored."""
        draft = self._require_draft()
        if output_url and _check_content_url(output_url) != self._record.content_url:
            if self._record.packs or self._record.objects:
                raise ConflictError("this draft already uploaded content elsewhere; output_url must stay the same")
            self._record = replace(self._record, content_url=output_url)
        level = _compression_level(compression)
        pack_size = int(chunk_size * (1 << 20)) if chunk_size else None
        be = self._store.content_backend(self._record)
        pending = [
            transfer.Pending(e.hash, e.size, local, mtime)
            for p, (local, mtime) in sorted(draft.pending.items())
            if (e := draft.delta.entries.get(p)) is not None and e.url is None
        ]
        marked = self._store.gc_marks() if be is self._store.backend else set()
        index = {h: loc for h, loc in self._store.pack_index(be).items() if pack_key(loc.pack) not in marked}
        reused = {index[p.hash].pack for p in pending if p.hash in index} - set(self._record.packs)
        if reused:  # referenced by the draft before anything is sent: gc will not sweep them
            self._record = replace(self._record, packs=tuple(sorted({*self._record.packs, *reused})))
            self._save()
        avoid = {k.rsplit("/", 1)[1] for k in marked if k.startswith("objects/")}
        for attempt in range(max(1, retries)):
            try:
                res = transfer.upload(be, index, pending, level, pack_size, max_workers, show_progress, avoid)
                break
            except OSError:
                if attempt + 1 >= max(1, retries):
                    raise
        self._record = replace(
            self._record,
            packs=tuple(sorted(set(self._record.packs) | res.packs)),
            objects=tuple(sorted(set(self._record.objects) | res.objects)),
        )
        draft.pending.clear()
        self._save()
        if verbose:
            print(f"uploaded {res.blobs_sent} blobs ({res.bytes_sent} bytes stored)")

    def finalize(self, verbose: bool = False, raise_on_error: bool = True, auto_upload: bool = False) -> bool:
        """Seal the version: afterwards it never changes. Needs all content uploaded
        (or ``auto_upload=True``)."""
        draft = self._require_draft()
        if draft.pending:
            if auto_upload:
                self.upload(show_progress=False)
            elif raise_on_error:
                raise DraftError(f"dataset {self.id} has {len(draft.pending)} files not uploaded yet; upload them first (or finalize with auto_upload)")
            else:
                return False
        be = self._store.content_backend(self._record)
        index = self._store.pack_index(be, self._record.packs)
        needed = {e.hash for e in draft.delta.entries.values() if e.url is None}
        packs = {index[h].pack for h in needed if h in index}
        objects = {h for h in needed if h not in index}
        missing = objects - set(self._record.objects)
        if missing:
            raise DraftError(f"dataset {self.id}: content of {len(missing)} files is not in the store; call upload()")
        state = self._current()
        d = diff_states(self._parents_state(), state)
        stats = {
            "files": len(state),
            "bytes": sum(e.size for e in state.values()),
            "added": len(d.added),
            "modified": len(d.modified),
            "removed": len(d.removed),
        }
        draft.record = replace(self._record, packs=tuple(sorted(packs)), objects=tuple(sorted(objects)), stats=stats)
        self._record = self._store.finalize(draft)
        self._store.cache_state(self.id, state)  # children and readers start from it
        self._draft = None
        self._state = None
        if verbose:
            print(f"finalized {self.project}/{self.name} version {self.version} ({self.id})")
        return True

    def publish(self) -> bool:
        """Mark a final version as published."""
        self._require_final("publish()")
        self._record = self._store.set_labels(self.id, published=True)
        return True

    def is_published(self) -> bool:
        return self._record.published

    # -- reading ------------------------------------------------------------------------------

    def list_files(self, dataset_path: str | None = None, recursive: bool = True, dataset_id: str | None = None) -> list[str]:
        """Sorted dataset paths, optionally filtered by a path, folder or wildcard."""
        state = self._store.state(dataset_id) if dataset_id else self._current()
        if dataset_path is None:
            return sorted(state)
        return sorted(p for p in state if match_path(p, dataset_path, recursive))

    def _diff_against(self, dataset_id: str | None) -> Diff:
        base = self._store.state(dataset_id) if dataset_id else self._parents_state()
        return diff_states(base, self._current())

    def list_added_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths added relative to the parents (or to version ``dataset_id``)."""
        return self._diff_against(dataset_id).added

    def list_modified_files(self, dataset_id: str | None = None) -> list[str]:
        return self._diff_against(dataset_id).modified

    def list_removed_files(self, dataset_id: str | None = None) -> list[str]:
        return self._diff_against(dataset_id).removed

    def diff(self, other: str | Dataset) -> Diff:
        """What changed from ``other`` to this version (any two versions, related or not)."""
        oid = other.id if isinstance(other, Dataset) else other
        return diff_states(self._store.state(oid), self._current())

    @property
    def file_entries_dict(self) -> dict[str, FileEntry]:
        return {p: FileEntry(p, e.hash, e.size, e.origin, e.meta) for p, e in self._current().items() if e.url is None}

    @property
    def link_entries_dict(self) -> dict[str, LinkEntry]:
        return {p: LinkEntry(e.url, p, e.origin, e.size, e.hash) for p, e in self._current().items() if e.url is not None}

    def get_dependency_graph(self) -> dict[str, list[str]]:
        """``{id: [parent ids]}`` for this version and all its ancestors."""
        graph = {} if self._draft is None else {self.id: self.parents}
        for pid in self._record.parents if self._draft is not None else [self.id]:
            for rec in self._store.chain(pid):
                graph[rec.id] = list(rec.parents)
        return graph

    def get_num_chunks(self, include_parents: bool = True) -> int:
        """Packs plus large objects holding this version's content (ClearML's chunks)."""
        if not include_parents or self._draft is not None:
            return len(self._record.packs) + len(self._record.objects)
        recs = self._store.chain(self.id)
        return len({p for r in recs for p in r.packs}) + len({o for r in recs for o in r.objects})

    def _selection_key(self, part: int | None, num_parts: int | None, files: str | Sequence[str] | None) -> str:
        """The cache key of the requested subset (validated), computed without reading the state."""
        key = self.id
        if num_parts is not None or part is not None:
            if num_parts is None or part is None or not (isinstance(num_parts, int) and isinstance(part, int)) or num_parts < 1 or not 0 <= part < num_parts:
                raise InvalidPathError(f"part must be in [0, num_parts) and num_parts >= 1 (got part={part}, num_parts={num_parts})")
            key += f"-p{part}of{num_parts}"
        pats = _patterns(files)
        if pats:
            key += "-f" + hash_bytes("\x00".join(sorted(pats)).encode())[:16]
        return key

    def _select(self, part: int | None, num_parts: int | None, files: str | Sequence[str] | None) -> dict[str, Entry]:
        state = self._current()
        paths = sorted(state)
        if num_parts is not None:
            n = len(paths)
            paths = paths[part * n // num_parts : (part + 1) * n // num_parts]  # type: ignore[operator]
        pats = _patterns(files)
        if pats:
            paths = [p for p in paths if any(match_path(p, pat) for pat in pats)]
        return {p: state[p] for p in paths}

    def get_local_copy(
        self,
        use_soft_links: bool | None = None,
        part: int | None = None,
        num_parts: int | None = None,
        raise_on_error: bool = True,
        max_workers: int | None = None,
        files: str | Sequence[str] | None = None,
        show_progress: bool = True,
    ) -> str:
        """A cached, read-only, complete folder of this final version (or of a deterministic
        shard ``part`` of ``num_parts``, or of the files matching ``files`` paths/globs).
        Fetches only missing content; a warm call does no per-file work."""
        self._require_final("get_local_copy()")
        key = self._selection_key(part, num_parts, files)
        if use_soft_links:
            key += "-s"
        cache = self._store.cache
        done = cache.cached_version(key)
        if done:
            return done
        entries = self._select(part, num_parts, files)
        locations: dict[str, Any] = {}

        def locate(h: str) -> Any:
            if not locations:
                locations.update(self._store.locations(self._store.chain(self.id)))
            return locations[h]

        def fetch(missing: list[Entry], sink: Any) -> None:
            transfer.fetch(sink, missing, locate, max_workers, show_progress)

        return cache.materialize(key, entries, transfer.blob_name, fetch, bool(use_soft_links), show_progress=show_progress)

    def get_mutable_local_copy(
        self,
        target_folder: str | os.PathLike[str],
        overwrite: bool = False,
        part: int | None = None,
        num_parts: int | None = None,
        raise_on_error: bool = True,
        max_workers: int | None = None,
        files: str | Sequence[str] | None = None,
        show_progress: bool = True,
    ) -> str:
        """A writable copy (real files, never links into the cache) in ``target_folder``;
        ``files`` (paths or globs) copies a subset."""
        target = os.path.abspath(os.fspath(target_folder))
        if os.path.islink(target):
            raise InvalidPathError(f"{target} is a symbolic link; give the real folder")
        if os.path.exists(target) and not os.path.isdir(target):
            raise InvalidPathError(f"{target} exists and is not a folder")
        if os.path.isdir(target) and os.listdir(target):
            if not overwrite:
                raise InvalidPathError(f"{target} is not empty; pass overwrite=True to replace its content")
        src = self.get_local_copy(part=part, num_parts=num_parts, max_workers=max_workers, files=files, show_progress=show_progress)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(target)}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            shutil.copytree(src, tmp, copy_function=shutil.copyfile)
            for dirpath, _dirs, fnames in os.walk(tmp):
                os.chmod(dirpath, 0o755)
            if os.path.isdir(target):
                _rmtree(Path(target))
            os.rename(tmp, target)
        except BaseException:
            _rmtree(Path(tmp))
            raise
        return target

    def open(self, path: str, mode: str = "rb", block_size: int | None = None) -> Any:
        """A seekable read-only file object for one file of this final version, read in place
        with ranged reads (nothing is downloaded to the local cache)."""
        self._require_final("open()")
        from .fs import DagstoreFileSystem

        return DagstoreFileSystem(store=self._store).open(f"{self.id}/{normalize_path(path)}", mode, block_size=block_size)

    def read_bytes(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of one file of this final version, read in place."""
        self._require_final("read_bytes()")
        from .reader import VersionReader

        if self._reader is None:
            self._reader = VersionReader(self._store, self.id)
        return self._reader.read(normalize_path(path), start or 0, end)

    def verify_dataset_hash(self, local_copy_path: str | None = None, skip_hash: bool = False, verbose: bool = False) -> list[str]:
        """Paths whose local file is missing, of the wrong size, or (unless ``skip_hash``) of the
        wrong content. Checks the cached copy when no path is given."""
        root = local_copy_path or self.get_local_copy(show_progress=False)
        bad = []
        for p, e in sorted(self._current().items()):
            f = os.path.join(root, *p.split("/"))
            try:
                size = os.path.getsize(f)
            except OSError:
                bad.append(p)
                continue
            if size != e.size or (not skip_hash and e.url is None and hash_file(f)[0] != e.hash):
                bad.append(p)
        if verbose:
            print(f"{len(bad)} files differ" if bad else "all files match")
        return bad

    # -- metadata and labels ------------------------------------------------------------------

    def set_metadata(self, metadata: Any, metadata_name: str = "metadata", ui_visible: bool = True) -> None:
        """Attach JSON-serializable metadata (or a pandas DataFrame) to a draft."""
        self._require_draft()
        if hasattr(metadata, "to_dict") and hasattr(metadata, "columns"):
            value: Any = {"__dataframe__": json.loads(metadata.to_json(orient="split"))}
        else:
            value = metadata
        try:
            json.dumps(value)
        except TypeError as exc:
            raise InvalidPathError(f"metadata must be JSON-serializable or a pandas DataFrame: {exc}") from None
        self._record = replace(self._record, metadata={**self._record.metadata, metadata_name: value})
        self._save()

    def get_metadata(self, metadata_name: str = "metadata") -> Any:
        value = self._record.metadata.get(metadata_name)
        if isinstance(value, dict) and "__dataframe__" in value:
            import pandas as pd

            df = value["__dataframe__"]
            return pd.DataFrame(df["data"], index=df["index"], columns=df["columns"])
        return value

    def set_description(self, description: str) -> None:
        """Change the description of a draft."""
        self._require_draft()
        self._record = replace(self._record, description=description)
        self._save()

    def add_tags(self, tags: str | Sequence[str]) -> None:
        add = _patterns(tags)
        if self._draft is not None:
            self._record = replace(self._record, tags=tuple(dict.fromkeys([*self._record.tags, *add])))
            self._save()
        else:  # applied to the store's latest tags, not to this object's possibly stale copy
            self._record = self._store.update_labels(self.id, lambda cur: {**cur, "tags": list(dict.fromkeys([*cur["tags"], *add]))})

    def remove_tags(self, tags: str | Sequence[str]) -> None:
        drop = set(_patterns(tags))
        if self._draft is not None:
            self._record = replace(self._record, tags=tuple(t for t in self._record.tags if t not in drop))
            self._save()
        else:
            self._record = self._store.update_labels(self.id, lambda cur: {**cur, "tags": [t for t in cur["tags"] if t not in drop]})

    # -- whole-dataset operations -------------------------------------------------------------

    @classmethod
    def squash(
        cls,
        dataset_name: str,
        dataset_ids: Sequence[str | Dataset] | None = None,
        dataset_project_name_pairs: Sequence[tuple[str, str]] | None = None,
        output_url: str | None = None,
        store: Store | str | None = None,
    ) -> Dataset:
        """One final, parentless version equal to applying each input's own changes (adds,
        modifications, removals) in order."""
        st = _resolve_store(store)
        inputs = [cls.get(dataset_id=d.id if isinstance(d, Dataset) else d, only_completed=True, store=st) for d in dataset_ids or []]
        inputs += [cls.get(dataset_project=p, dataset_name=n, only_completed=True, store=st) for p, n in dataset_project_name_pairs or []]
        if not inputs:
            raise InvalidPathError("squash needs dataset_ids or dataset_project_name_pairs")
        state: dict[str, Entry] = {}
        for ds in inputs:
            own = ds._diff_against(None)
            cur = ds._current()
            for p in own.removed:
                state.pop(p, None)
            for p in (*own.added, *own.modified):
                state[p] = cur[p]._replace(origin=None)
        out = cls.create(dataset_name, inputs[0].project, parent_datasets=None, output_uri=output_url, store=st)
        draft = out._draft
        assert draft is not None
        draft.delta = Delta(entries=state)
        chain = [r for ds in inputs for r in st.chain(ds.id)]
        target = st.content_backend(out._record)
        if all(st.content_backend(r) is target for r in chain):
            index = st.pack_index(target, {p for r in chain for p in r.packs})
            out._record = replace(out._record, packs=tuple(sorted({index[e.hash].pack for e in state.values() if e.hash in index})), objects=tuple(sorted({o for r in chain for o in r.objects})))
        else:  # content lives elsewhere: bring it through the local blob cache
            locs = st.locations(chain)
            stored = [e for e in state.values() if e.url is None]
            transfer.fetch(st.cache, [e for e in stored if not st.cache.has_blob(e.hash)], locs.__getitem__, show_progress=False)
            for p, e in state.items():
                if e.url is None:
                    blob = st.cache.blob_path(e.hash)
                    draft.pending[p] = (blob, os.stat(blob).st_mtime_ns)
            out._save()
            out.upload(show_progress=False)
        out.finalize()
        return out

    @classmethod
    def delete(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        force: bool = False,
        dataset_version: str | None = None,
        entire_dataset: bool = False,
        store: Store | str | None = None,
        **_ignored: Any,
    ) -> int:
        """Delete one version (by id, or the latest/explicit version of project/name), or with
        ``entire_dataset`` every version of project/name. Refuses while other versions depend on
        a deleted one unless ``force``. Content is reclaimed by gc. Returns versions deleted."""
        st = _resolve_store(store)
        if entire_dataset:
            if not dataset_name:
                raise InvalidPathError("entire_dataset needs dataset_name (and dataset_project)")
            project = dataset_project if dataset_project is not None else DEFAULT_PROJECT
            ids = [r.id for r in st.versions_of(project, dataset_name)]
            ids += [d.record.id for d in st.drafts() if (d.record.project, d.record.name) == (project, dataset_name)]
            if not ids:
                raise DatasetNotFoundError(f"no dataset {project}/{dataset_name} in {st.url}")
            inside = set(ids)
            outside = sorted(r.id for r in st.records() if r.id not in inside and inside & set(r.parents))
            if outside and not force:
                raise ConflictError(f"other datasets depend on {project}/{dataset_name}: {', '.join(outside)}; delete them first or force")
            for vid in reversed(ids):
                st.delete_version(vid, force=True)
            return len(ids)
        ds = cls.get(dataset_id, dataset_project, dataset_name, dataset_version=dataset_version, store=st)
        st.delete_version(ds.id, force=force)
        return 1

    @classmethod
    def rename(cls, new_dataset_name: str, dataset_project: str, dataset_name: str, store: Store | str | None = None) -> int:
        """Rename every version of project/name."""
        st = _resolve_store(store)
        n = st.relabel_dataset(dataset_project, dataset_name, dataset_project, new_dataset_name)
        if not n:
            raise DatasetNotFoundError(f"no dataset {dataset_project}/{dataset_name} in {st.url}")
        return n

    @classmethod
    def move_to_project(cls, new_dataset_project: str, dataset_project: str, dataset_name: str, store: Store | str | None = None) -> int:
        """Move every version of project/name to another project."""
        st = _resolve_store(store)
        n = st.relabel_dataset(dataset_project, dataset_name, new_dataset_project, dataset_name)
        if not n:
            raise DatasetNotFoundError(f"no dataset {dataset_project}/{dataset_name} in {st.url}")
        return n

    @classmethod
    def list_datasets(
        cls,
        dataset_project: str | None = None,
        partial_name: str | None = None,
        tags: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        only_completed: bool = True,
        recursive_project_search: bool = True,
        store: Store | str | None = None,
    ) -> list[dict[str, Any]]:
        """Versions as dicts (id, name, project, version, tags, created, status), newest first."""
        st = _resolve_store(store)
        recs: list[tuple[VersionRecord, str]] = [(r, "published" if r.published else "completed") for r in st.records(ids)]
        if not only_completed:
            recs += [(d.record, "draft") for d in st.drafts() if ids is None or d.record.id in ids]
        out = []
        want = set(tags or ())
        for r, status in recs:
            if dataset_project is not None and not (r.project == dataset_project or (recursive_project_search and r.project.startswith(dataset_project.rstrip("/") + "/"))):
                continue
            if partial_name and partial_name.lower() not in r.name.lower():
                continue
            if not want <= set(r.tags):
                continue
            out.append({"id": r.id, "name": r.name, "project": r.project, "version": r.version, "tags": list(r.tags),
                        "created": r.created, "status": status, "parents": list(r.parents)})
        return sorted(out, key=lambda d: d["created"], reverse=True)


def _compression_level(compression: Any) -> int | None:
    """upload(compression=...): None -> zstd level 1; False/0/'none' -> stored raw; int or
    'zstd:N' -> that zstd level."""
    if compression is None or compression is True or compression == "zstd":
        return 1
    if compression is False or compression == 0 or (isinstance(compression, str) and compression.lower() in ("none", "raw", "stored")):
        return None
    if isinstance(compression, int):
        return compression
    if isinstance(compression, str) and compression.lower().startswith("zstd:"):
        return int(compression.split(":", 1)[1])
    raise InvalidPathError(f"unknown compression {compression!r}: use None, False, an int zstd level, or 'zstd:N'")
