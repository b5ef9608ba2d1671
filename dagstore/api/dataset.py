"""The ClearML-Data-compatible porcelain: ``Dataset``.

Thin: each method checks its arguments and delegates to one operation module over the
version it wraps (``core.ops``: ``lookup``, ``stage``, ``commit``, ``query``, ``checkout``,
``labels``, ``admin``); none touches storage directly. Each subsystem's methods are in its
marked section below, each one line of delegation down into its package, which takes the
``Version`` (never the ``Dataset``) and is imported by the first call that uses it (``api.lazy``).
"""

# shape: over 400 lines because it is the whole ClearML Dataset surface, each method with its
# ClearML signature and docstring; every body is a delegation (logic lives in the operation modules).

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._log import report
from ..core.manifest import Diff
from ..core.ops import admin, checkout, commit, labels, lookup, origin, query, stage
from ..core.records import Draft, VersionRecord
from ..core.store import Store as CoreStore
from ..core.version import Version
from ..errors import DraftError
from ..fs import VersionFile, open_file
from . import lazy
from .store import Store, resolve_store

if TYPE_CHECKING:  # the subsystems' types; their modules are loaded on first use (api/lazy.py)
    from ..annotations.report import ImportReport
    from ..delivery import Delivery
    from ..export import ExportJob, ExportReport, Snapshot


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


class Dataset:
    """One version of a dataset: a mutable draft until ``finalize()``, immutable afterwards.

    Create with ``Dataset.create`` or load with ``Dataset.get``; every classmethod takes an
    optional ``store`` (a ``Store`` or URL) and otherwise uses ``DAGSTORE_URL``.
    """

    def __init__(self, store: CoreStore | str | None, record: VersionRecord, draft: Draft | None = None):
        self._v = Version(resolve_store(store), record, draft)

    @classmethod
    def _of(cls, v: Version) -> Dataset:
        ds = cls.__new__(cls)
        ds._v = v
        return ds

    # -- identity -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._v.record.id

    @property
    def name(self) -> str:
        return self._v.record.name

    @property
    def project(self) -> str:
        return self._v.record.project

    @property
    def version(self) -> str:
        return self._v.record.version

    @version.setter
    def version(self, version: str) -> None:
        """Set the version of a draft (kept at finalize). A final version's number is part of
        its immutable record and of its name claim: DatasetFinalizedError."""
        labels.set_version(self._v, version)

    @property
    def tags(self) -> list[str]:
        return list(self._v.record.tags)

    @tags.setter
    def tags(self, values: Sequence[str] | None) -> None:
        """Replace the tags (of a draft, or the labels of a final version)."""
        labels.set_tags(self._v, values)

    @property
    def description(self) -> str:
        return self._v.record.description

    @property
    def parents(self) -> list[str]:
        return list(self._v.record.parents)

    @property
    def store(self) -> Store:
        return Store.of(self._v.store)

    @property
    def record(self) -> VersionRecord:
        return self._v.record

    @property
    def status(self) -> str:
        """ClearML's status name: ``draft``, ``completed`` or ``published``."""
        return self._v.status

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
        use_current_task: bool = False,
        dataset_version: str | None = None,
        output_uri: str | None = None,
        description: str | None = None,
        store: CoreStore | str | None = None,
        classes: Sequence[str] | None = None,
        origin: str | None = None,
    ) -> Dataset:
        """A new draft version. Parents must be final; they merge in list order, later wins.
        The class list is inherited from the parents (``classes`` chooses it when they disagree).
        ``use_current_task`` has no effect (there are no tasks).
        ``origin`` (``upload``, ``datasource``, ``pipeline``, ``import``, ``zip``) defaults to
        what fills the draft (``upload`` for add_files)."""
        st, parents = resolve_store(store), _ids(parent_datasets)
        if classes is None and not any(st.exists(p) and st.record(p).annotations for p in parents):
            # no class list to set or inherit: the annotation subsystem is not loaded (its import,
            # ~0.03 s without cached bytecode, was a tenth of a W2 version)
            return cls._of(lookup.new_draft(st, dataset_name, dataset_project, dataset_tags, parents, dataset_version,
                                            output_uri, description, origin))
        return cls._of(lazy.annotation_ops.new_draft(st, dataset_name, dataset_project, dataset_tags, parents, dataset_version,
                                                     output_uri, description, classes, origin))

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
        overridable: bool = False,
        shallow_search: bool = False,
        include_archived: bool = True,
        store: CoreStore | str | None = None,
        silence_alias_warnings: bool = False,
    ) -> Dataset:
        """A version by id, or the highest version of project/name and/or carrying
        ``dataset_tags`` (filtered by exact version, completion, publication).
        ``writable_copy`` returns a new child draft. No effect: ``alias``/``overridable``/
        ``silence_alias_warnings`` (task hyperparameters), ``shallow_search`` (the whole store
        is always searched), ``include_archived`` (nothing is archived)."""
        st = resolve_store(store)
        found = lookup.find(st, dataset_id, dataset_project, dataset_name, dataset_tags, only_completed, only_published, dataset_version)
        if found is None:
            if auto_create and dataset_name:
                return cls.create(dataset_name, dataset_project, dataset_tags=dataset_tags, store=st)
            raise lookup.not_found(st, dataset_id, dataset_project, dataset_name, dataset_version, dataset_tags)
        if writable_copy and found.is_final():
            return cls.create(found.record.name, found.record.project, dataset_tags=found.record.tags, parent_datasets=[found.id], store=st)
        return cls._of(found)

    # -- state ------------------------------------------------------------------------------

    def is_final(self) -> bool:
        return self._v.is_final()

    def is_dirty(self) -> bool:
        """True while a draft has content not uploaded yet."""
        return self._v.draft is not None and bool(self._v.draft.pending)

    # -- adding and removing ------------------------------------------------------------------

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
        executor: Executor | None = None,
    ) -> int:
        """Add a file or folder; returns how many files were added or modified. Content is
        hashed now and sent by ``upload()``. Nothing changes if any file is bad. With
        ``executor`` (any ``concurrent.futures.Executor``, e.g. a Dask client's
        ``get_executor()``) its workers hash and upload the files now (docs/scale.md)."""
        n, count = stage.add_files(self._v, path, wildcard, local_base_folder, dataset_path, recursive, max_workers, show_progress, executor)
        report(f"added or modified {n} of {count} files", verbose)
        return n

    def keep_for_later_upload(self) -> int:
        """Hold the small files' content that ``add_files`` read in this process for an upload
        by a later process on this host (in a local store, else in this host's cache), which then
        does not read them again (``dagstore add`` does this); returns how many files are held.
        They are given away: this process's own later upload takes them over as another would.
        What no upload takes, ``gc`` removes after its ``--min-age`` (the cache, 7 days after)."""
        return self._v.hold_kept()

    def add_external_files(
        self,
        source_url: str | Sequence[str],
        wildcard: str | Sequence[str] | None = None,
        dataset_path: str | Sequence[str] | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
    ) -> int:
        """Register remote files as links (not copied); returns how many were added or modified.
        ``dataset_path`` is one dataset folder, or a list of one per ``source_url``."""
        n = stage.add_external_files(self._v, source_url, wildcard, dataset_path, recursive)
        report(f"linked {n} external files", verbose)
        return n

    def remove_files(self, dataset_path: str | None = None, recursive: bool = True, verbose: bool = False) -> int:
        """Remove entries matching a path, folder or wildcard; returns how many were removed."""
        n = stage.remove_files(self._v, dataset_path, recursive)
        report(f"removed {n} files", verbose)
        return n

    def sync_folder(
        self, local_path: str | os.PathLike[str], dataset_path: str | None = None, verbose: bool = False, show_progress: bool = True,
        executor: Executor | None = None,
    ) -> tuple[int, int, int]:
        """Make the dataset subtree at ``dataset_path`` equal the local folder.
        Returns ``(removed, added, modified)``; unchanged files are not re-hashed (stat cache).
        With ``executor`` its workers hash and upload the files now."""
        removed, added, modified = stage.sync_folder(self._v, local_path, dataset_path, show_progress, executor)
        report(f"sync: {removed} removed, {added} added, {modified} modified", verbose)
        return removed, added, modified

    # -- upload / finalize --------------------------------------------------------------------

    def upload(
        self,
        show_progress: bool = True,
        verbose: bool = False,
        output_url: str | None = None,
        compression: bool | int | str | None = None,
        chunk_size: int | None = None,
        max_workers: int | None = None,
        retries: int = 3,
        preview: bool = True,
        executor: Executor | None = None,
    ) -> None:
        """Send pending content to the store (or to ``output_url``): small files packed and
        compressed, large files as their own objects. Safe to retry; resends nothing stored.
        ``chunk_size`` is the pack size in MB (-1: one pack for all the small files);
        ``preview`` has no effect (there is no UI to show previews in). With ``executor`` its
        workers send the content."""
        res = commit.upload(self._v, show_progress, output_url, compression, chunk_size, max_workers, retries, executor)
        report(f"uploaded {res.blobs_sent} blobs ({res.bytes_sent} bytes stored)", verbose)

    def finalize(self, verbose: bool = False, raise_on_error: bool = True, auto_upload: bool = False) -> bool:
        """Seal the version: afterwards it never changes. Needs all content uploaded
        (or ``auto_upload=True``)."""
        draft = self._v.require_draft()
        if draft.pending:
            if auto_upload:
                self.upload(show_progress=False)
            elif raise_on_error:
                n = len(draft.pending)
                raise DraftError(f"dataset {self.id} has {n} file{'' if n == 1 else 's'} not uploaded yet; upload first (upload(), or "
                                 "finalize(auto_upload=True); on the command line `dagstore upload`, or `close` without --disable-upload)")
            else:
                return False
        commit.finalize(self._v)
        report(f"finalized {self.project}/{self.name} version {self.version} ({self.id})", verbose)
        return True

    def publish(self, raise_on_error: bool = True) -> bool:
        """Mark a final version as published. A draft cannot be: it raises DraftError, or
        with ``raise_on_error=False`` returns False."""
        if not raise_on_error and not self.is_final():
            return False
        commit.publish(self._v)
        return True

    def is_published(self) -> bool:
        return self._v.record.published

    # -- reading ------------------------------------------------------------------------------

    def list_files(self, dataset_path: str | None = None, recursive: bool = True, dataset_id: str | None = None) -> list[str]:
        """Sorted dataset paths, optionally filtered by a path, folder or wildcard; with
        ``dataset_id``, only the files whose content that version introduced (as in ClearML)."""
        return query.list_files(self._v, dataset_path, recursive, dataset_id)

    def list_added_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths added relative to the parents (or to version ``dataset_id``)."""
        return query.diff_against(self._v, dataset_id).added

    def list_modified_files(self, dataset_id: str | None = None) -> list[str]:
        return query.diff_against(self._v, dataset_id).modified

    def list_removed_files(self, dataset_id: str | None = None) -> list[str]:
        return query.diff_against(self._v, dataset_id).removed

    def diff(self, other: str | Dataset) -> Diff:
        """What changed from ``other`` to this version (any two versions, related or not)."""
        return query.diff(self._v, other.id if isinstance(other, Dataset) else other)

    @property
    def file_entries_dict(self) -> dict[str, FileEntry]:
        return {p: FileEntry(p, e.hash, e.size, e.origin, e.meta) for p, e in self._v.current().items() if e.url is None}

    @property
    def link_entries_dict(self) -> dict[str, LinkEntry]:
        return {p: LinkEntry(e.url, p, e.origin, e.size, e.hash) for p, e in self._v.current().items() if e.url is not None}

    @property
    def file_entries(self) -> list[FileEntry]:
        """The stored files (ClearML's list form of ``file_entries_dict``)."""
        return list(self.file_entries_dict.values())

    @property
    def link_entries(self) -> list[LinkEntry]:
        """The external links (the list form of ``link_entries_dict``)."""
        return list(self.link_entries_dict.values())

    @property
    def changed_files(self) -> dict[str, int]:
        """ClearML's counts of files added, modified and removed relative to the parents."""
        d = query.diff_against(self._v, None)
        return {"files added": len(d.added), "files modified": len(d.modified), "files removed": len(d.removed)}

    def update_changed_files(self, num_files_added: int | None = None, num_files_modified: int | None = None,
                             num_files_removed: int | None = None) -> None:
        """Accepted for ClearML scripts; no effect: ``changed_files`` and a version's
        statistics are computed from its content, so they are never out of date."""

    def get_default_storage(self) -> str:
        """Where this version's content is (or will be) uploaded: its output URI, else the store."""
        return self._v.record.content_url or self.store.url

    def get_dependency_graph(self) -> dict[str, list[str]]:
        """``{id: [parent ids]}`` for this version and all its ancestors."""
        return query.dependency_graph(self._v)

    def get_num_chunks(self, include_parents: bool = True) -> int:
        """Packs plus large objects holding this version's content (ClearML's chunks)."""
        return query.num_chunks(self._v, include_parents)

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
        """A cached, read-only, complete folder of this final version (or of the files matching
        ``files`` paths/globs, or of a deterministic shard ``part`` of ``num_parts`` of those).
        Fetches only missing content; a warm call does no per-file work."""
        return checkout.local_copy(self._v, use_soft_links, part, num_parts, max_workers, files, show_progress)

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
        ``files`` (paths or globs) copies a subset. Written as a held ``.tmp-held-*`` sibling
        renamed into place: one left by a killed process is removed by the next copy beside it."""
        target = os.path.abspath(os.fspath(target_folder))
        checkout.check_copy_target(target, overwrite)
        src = self.get_local_copy(part=part, num_parts=num_parts, max_workers=max_workers, files=files, show_progress=show_progress)
        return checkout.copy_tree(src, target)

    def open(self, path: str, mode: str = "rb", block_size: int | None = None) -> VersionFile:
        """A seekable read-only file object for one file of this final version, read in place
        with ranged reads (nothing is downloaded to the local cache)."""
        self._v.require_final("open()")
        return open_file(self.store, self.id, path, mode, block_size)

    def read_bytes(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of one file of this final version, read in place."""
        return checkout.read_bytes(self._v, path, start, end)

    def verify_dataset_hash(self, local_copy_path: str | None = None, skip_hash: bool = False, verbose: bool = False) -> list[str]:
        """Paths whose local file is missing, of the wrong size, or (unless ``skip_hash``) of the
        wrong content. Checks the cached copy when no path is given."""
        root = local_copy_path or self.get_local_copy(show_progress=False)
        bad = checkout.verify_copy(self._v, root, skip_hash)
        if bad and local_copy_path is None:  # the cached copy was changed: rebuilt on next use
            checkout.forget_copy(self._v, bad)
        report(f"{len(bad)} files differ" if bad else "all files match", verbose)
        return bad

    # -- metadata and labels ------------------------------------------------------------------

    def set_metadata(self, metadata: Any, metadata_name: str = "metadata", ui_visible: bool = True) -> None:
        """Attach JSON-serializable metadata (or a pandas DataFrame) to a draft."""
        labels.set_metadata(self._v, metadata, metadata_name)

    def get_metadata(self, metadata_name: str = "metadata") -> Any:
        return labels.get_metadata(self._v, metadata_name)

    def set_description(self, description: str) -> None:
        """Change the description: of a draft, or of a final version as a label (outside its
        immutable content, like tags)."""
        labels.set_description(self._v, description)

    def add_tags(self, tags: str | Sequence[str]) -> None:
        labels.add_tags(self._v, tags)

    def remove_tags(self, tags: str | Sequence[str]) -> None:
        labels.remove_tags(self._v, tags)

    # -- whole-dataset operations -------------------------------------------------------------

    @classmethod
    def squash(
        cls,
        dataset_name: str,
        dataset_ids: Sequence[str | Dataset] | None = None,
        dataset_project_name_pairs: Sequence[tuple[str, str]] | None = None,
        output_url: str | None = None,
        store: CoreStore | str | None = None,
    ) -> Dataset:
        """One final, parentless version: of a single input, its whole content; of several,
        each input's own changes (adds, modifications, removals) applied in order."""
        st = resolve_store(store)
        inputs = [cls.get(dataset_id=d.id if isinstance(d, Dataset) else d, only_completed=True, store=st) for d in dataset_ids or []]
        inputs += [cls.get(dataset_project=p, dataset_name=n, only_completed=True, store=st) for p, n in dataset_project_name_pairs or []]
        return cls._of(admin.squash(st, dataset_name, [ds._v for ds in inputs], output_url))

    @classmethod
    def delete(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        force: bool = False,
        dataset_version: str | None = None,
        entire_dataset: bool = False,
        shallow_search: bool = False,
        delete_files: bool = True,
        delete_external_files: bool = False,
        store: CoreStore | str | None = None,
    ) -> int:
        """Delete one version: by id, or the only version of project/name (or its
        ``dataset_version``); several matches are refused ("Multiple datasets found") and
        nothing is deleted. ``entire_dataset`` (which requires ``force``) deletes every
        version and draft of project/name. A version others depend on needs ``force``.

        ``delete_files`` (default): the content no remaining version uses is marked for gc
        (the next gc past its min-age removes it); ``False`` leaves it unmarked.
        ``delete_external_files``: also delete the link targets no remaining version links
        to. ``shallow_search`` has no effect (the whole store is searched). Returns the
        number of versions deleted."""
        return admin.delete(resolve_store(store), dataset_id, dataset_project, dataset_name, dataset_version,
                            entire_dataset, force, delete_files, delete_external_files)

    @classmethod
    def rename(cls, new_dataset_name: str, dataset_project: str, dataset_name: str, store: CoreStore | str | None = None) -> int:
        """Rename every version of project/name."""
        return admin.relabel(resolve_store(store), dataset_project, dataset_name, dataset_project, new_dataset_name)

    @classmethod
    def move_to_project(cls, new_dataset_project: str, dataset_project: str, dataset_name: str, store: CoreStore | str | None = None) -> int:
        """Move every version of project/name to another project."""
        return admin.relabel(resolve_store(store), dataset_project, dataset_name, new_dataset_project, dataset_name)

    @classmethod
    def list_datasets(
        cls,
        dataset_project: str | None = None,
        partial_name: str | None = None,
        tags: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        only_completed: bool = True,
        recursive_project_search: bool = True,
        include_archived: bool = True,
        store: CoreStore | str | None = None,
        origin: str | None = None,
    ) -> list[dict[str, Any]]:
        """Versions as dicts (id, name, project, version, tags, ``created`` as a datetime,
        status, parents, origin), newest first; ``origin`` keeps only versions of that origin.
        ``include_archived`` has no effect: nothing is archived."""
        return lookup.list_datasets(resolve_store(store), dataset_project, partial_name, tags, ids, only_completed,
                                    recursive_project_search, origin)

    # --- annotations (dagstore.annotations) ---

    @property
    def classes(self) -> list[str]:
        """The ordered class list; a class's id is its index (append-only along the DAG)."""
        return list(lazy.annotation_ops.classes(self._v).names)

    @property
    def class_colors(self) -> dict[str, str]:
        """``{label: "#rrggbb"}`` for every class (generated deterministically where not set)."""
        return lazy.annotation_ops.classes(self._v).all_colors()

    @property
    def splits(self) -> list[str]:
        """The split names in use (train, val, test first)."""
        return lazy.annotation_ops.splits(self._v)

    def add_classes(self, names: str | Sequence[str], colors: dict[str, str] | None = None) -> list[str]:
        """Append classes to a draft's list (existing ids never change); returns the new ones."""
        return lazy.annotation_ops.add_classes(self._v, names, colors)

    def set_annotation(self, dataset_path: str, annotation: dict[str, Any] | None) -> None:
        """Set (or with None remove) the ``dagstore.annotation/1`` of one file of a draft."""
        lazy.annotation_ops.set_annotation(self._v, dataset_path, annotation)

    def set_annotations(self, annotations: dict[str, dict[str, Any] | None]) -> int:
        """Set many annotations (``{path: annotation or None}``), validated first, written once."""
        return lazy.annotation_ops.set_annotations(self._v, annotations)

    def facets(self) -> dict[str, Any]:
        """Counts for browsing, from the version's columns: ``files``, ``annotated``, files per
        ``splits``, per ``classes`` (item or region label) and per ``region_types``."""
        return self._v.current().facets()

    def filter_files(self, split: str | Sequence[str] | None = None, label: str | Sequence[str] | None = None,
                     region_type: str | Sequence[str] | None = None, dataset_path: str | None = None) -> list[str]:
        """Sorted paths in any of the splits ``split``, with any of the classes ``label`` and
        any of the region types ``region_type``, under folder ``dataset_path``."""
        return query.filter_files(self._v, split, label, region_type, dataset_path)

    def get_annotation(self, dataset_path: str) -> dict[str, Any] | None:
        """The annotation of one file (any version), or None."""
        return lazy.annotation_ops.get_annotation(self._v, dataset_path)

    def iter_annotations(self, split: str | Sequence[str] | None = None, labels: str | Sequence[str] | None = None,
                         wildcard: str | Sequence[str] | None = None, include_unannotated: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(path, annotation)`` in path order; ``labels`` matches item or region labels."""
        return lazy.annotation_ops.iter_annotations(self._v, split, labels, wildcard, include_unannotated)

    def set_split(self, split: str, dataset_path: str | None = None, wildcard: str | Sequence[str] | None = None) -> int:
        """Assign ``split`` to the matching files of a draft; returns how many changed."""
        return lazy.annotation_ops.set_split(self._v, split, dataset_path, wildcard)

    def import_annotations(self, source: str | os.PathLike[str], format: str, media: str | os.PathLike[str] | None = None,
                           dataset_path: str | None = None, split: str | None = None, policy: str = "ground_truth",
                           on_error: str = "raise", executor: Executor | None = None, **options: Any) -> ImportReport:
        """Add a labelled dataset (media + annotations) in ``format`` from a path, zip or fsspec
        URL to a draft in one step; nothing changes on error (``on_error="skip"`` reports bad items).
        With ``executor`` its workers hash and upload the media."""
        return lazy.annotation_ops.import_annotations(self._v, source, format, media, dataset_path, split, policy, on_error,
                                                      executor=executor, **options)

    # --- exports (dagstore.export) ---

    def export(self, export_format: str | None, target: str | os.PathLike[str], splits: Sequence[str] | None = None,
               filters: dict[str, Any] | None = None, include_media: bool = True, overwrite: bool = False,
               storage_options: dict[str, Any] | None = None, progress: Any = None, executor: Executor | None = None,
               **options: Any) -> ExportReport:
        """Write this final version in ``export_format`` to a folder, a ``.zip`` or an fsspec URL; returns an
        ``ExportReport``. With ``executor``, slices are written by its workers (docs/scale.md)."""
        return lazy.source.export_version(self._v, export_format, target, splits, filters, include_media, overwrite,
                                          storage_options, progress, executor, **options)

    def create_export(self, export_format: str | None, splits: Sequence[str] | None = None, filters: dict[str, Any] | None = None,
                      include_media: bool = True, **options: Any) -> ExportJob:
        """Start an export into the store and return its ``ExportJob`` at once."""
        return lazy.jobs.create_export(self._v, export_format, splits, filters, include_media, **options)

    def create_snapshot(self, name: str | None = None, filters: dict[str, Any] | None = None) -> Snapshot:
        """Store a named selection of this final version (a ``Snapshot``)."""
        return lazy.snapshots.create_snapshot(self._v, name, filters)

    # --- datasources (dagstore.connectors) ---

    @property
    def origin(self) -> str:
        """Where this version came from: upload, datasource, pipeline, import or zip."""
        return origin.of(self._v)

    @classmethod
    def create_from_datasource(cls, datasource: str, dataset_name: str, dataset_project: str | None = None,
                               file_format: str = "parquet", parent_datasets: Sequence[str | Dataset] | None = None,
                               store: CoreStore | str | None = None) -> Dataset:
        """Read a datasource (``Store.datasources``) into a new final version: a SQL result as
        one ``data.parquet``/``data.csv`` (types kept, streamed), a path as its files."""
        return cls._of(lazy.pull.create_from_datasource(resolve_store(store), datasource, dataset_name, dataset_project,
                                                        file_format, _ids(parent_datasets)))

    @classmethod
    def sync_datasource(cls, datasource: str, dataset_name: str, dataset_project: str | None = None,
                        store: CoreStore | str | None = None, file_format: str = "parquet") -> Dataset:
        """A child of the latest version when the datasource's data changed, else that version
        (the first call creates the dataset, a SQL result as ``file_format``; later calls keep it)."""
        return cls._of(lazy.pull.sync_datasource(resolve_store(store), datasource, dataset_name, dataset_project,
                                                 file_format))

    def add_zip(self, path: str, dataset_path: str | None = None, only_images: bool = False) -> int:
        """Add a zip's files to this draft; a hostile archive (``..``, absolute paths, links,
        bombs; with ``only_images`` any non-image) is refused whole. Returns the files added."""
        return lazy.archive.add_zip(self._v, path, dataset_path, only_images)

    def describe(self, dataset_path: str | None = None, separator: str | None = None,
                 decimal: str | None = None) -> dict[str, Any]:
        """Statistics of a tabular file (Parquet, CSV, TSV, JSON lines) of this final version:
        rows, per-column nulls/distinct/min/max/mean/std/histogram or top, correlations, sample.
        A CSV's ``separator`` (``,`` ``;`` tab ``|``) and ``decimal`` mark are guessed unless given."""
        return lazy.describe.describe_version(self._v, dataset_path, separator, decimal)

    # --- selections (dagstore.delivery) ---

    def export_selection(self, selection_name: str, sample_ids: Sequence[str] | None = None, export_method: str | None = None,
                         annotation: Any = None, filters: dict[str, Any] | None = None) -> Delivery:
        """Send dataset paths of this final version (or those ``filters`` select) through an
        export method; the recorded ``Delivery`` once the destination confirmed it, else an error
        (recorded too). Unknown ids are refused before anything is sent."""
        return lazy.selection.select(self._v, selection_name, sample_ids, export_method or "", annotation, filters)

    def export_annotation(self, annotation_name: str, annotation: Any, export_method: str) -> Delivery:
        """Send one free-form annotation (a range, a 2-D box...) of this final version."""
        return lazy.selection.annotate(self._v, annotation_name, annotation, export_method)


def _ids(datasets: Sequence[str | Dataset] | None) -> list[str]:
    """Version ids of ``Dataset`` objects or ids."""
    return [d.id if isinstance(d, Dataset) else str(d) for d in datasets or []]
