"""Sync-if-changed: make a new version equal a local folder, or create nothing if it already does."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from ..core.store import Store
from ..errors import ConflictError, DatasetNotFoundError, InvalidPathError
from .dataset import Dataset


@dataclass
class SyncResult:
    """What ``sync_new_version`` did: ``dataset`` is None when nothing changed (nothing created)."""

    dataset: Dataset | None
    latest: Dataset | None
    removed: int = 0
    added: int = 0
    modified: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.added or self.modified)


def child_of_latest(st: Store, project: str | None, name: str, version: str | None, tags: Sequence[str],
                    storage: str | None) -> tuple[Dataset, Dataset | None]:
    """A new draft whose parent is the highest final version of project/name (if any). Without
    a project, a name one project holds (even as drafts only) is that project's; a name that
    several projects hold is refused: the child would go to one of them."""
    if project is None:
        held = sorted({r["project"] for r in Dataset.list_datasets(partial_name=name, only_completed=False, store=st) if r["name"] == name})
        if len(held) > 1:
            raise ConflictError(f"a dataset named {name} is in several projects ({', '.join(held)}); give its project (--project)")
        project = held[0] if held else None
    try:
        latest: Dataset | None = Dataset.get(dataset_project=project, dataset_name=name, only_completed=True, store=st)
    except DatasetNotFoundError:
        latest = None
    ds = Dataset.create(name, project, dataset_tags=list(tags) or None, parent_datasets=[latest.id] if latest else None,
                        dataset_version=version, output_uri=storage, store=st)
    return ds, latest


def sync_into(ds: Dataset, folder: str, dataset_folder: str | None, close: bool, show_progress: bool,
              upload_storage: str | None = None, chunk_size: int | None = None, max_workers: int | None = None,
              created: bool = False, latest: Dataset | None = None, executor: Executor | None = None) -> SyncResult:
    """Sync ``folder`` into draft ``ds``; upload and finalize it when ``close``. A draft this
    call ``created`` is deleted again when nothing changed or anything fails."""
    if not os.path.isdir(folder):
        raise InvalidPathError(f"{folder}: not a folder")
    try:
        removed, added, modified = ds.sync_folder(folder, dataset_path=dataset_folder, show_progress=show_progress, executor=executor)
        res = SyncResult(ds, latest, removed, added, modified)
        if created and not res.changed:
            ds.store.delete_version(ds.id)
            res.dataset = None
            return res
        if close:
            if ds.is_dirty() or upload_storage:
                ds.upload(show_progress=show_progress, output_url=upload_storage, chunk_size=chunk_size, max_workers=max_workers,
                          executor=executor)
            ds.finalize()
    except BaseException:
        if created and not ds.is_final():  # leave nothing behind
            ds.store.delete_version(ds.id)
        raise
    return res


def sync_new_version(st: Store, project: str | None, name: str, folder: str, dataset_folder: str | None = None,
                     version: str | None = None, tags: Sequence[str] = (), storage: str | None = None,
                     close: bool = True, show_progress: bool = True, chunk_size: int | None = None,
                     max_workers: int | None = None, parents: Sequence[str] = (), executor: Executor | None = None) -> SyncResult:
    """A child of the highest version of project/name (or of ``parents``) equal to ``folder``
    (the first version if there is none), uploaded and finalized when ``close``; nothing is
    created if nothing changed."""
    if not os.path.isdir(folder):
        raise InvalidPathError(f"{folder}: not a folder")
    if parents:
        ds, latest = Dataset.create(name, project, dataset_tags=list(tags) or None, parent_datasets=list(parents),
                                    dataset_version=version, output_uri=storage, store=st), None
    else:
        ds, latest = child_of_latest(st, project, name, version, tags, storage)
    return sync_into(ds, folder, dataset_folder, close, show_progress, None, chunk_size, max_workers, created=True, latest=latest,
                     executor=executor)
