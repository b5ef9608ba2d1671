"""The state of one version, which the operations (``core.ops``), the subsystems and the
``Dataset`` facade share, and small helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..secrets import redact_url
from .backend import Backend
from .columns import entries_table
from . import stagehold
from .records import Draft, VersionRecord
from .scan import LocalFile
from .staging import Staged
from .state import State
from .store import Store
from ..errors import DatasetFinalizedError, DraftError, InvalidPathError

DEFAULT_PROJECT = "default"


def status(record: VersionRecord, is_draft: bool) -> str:
    """ClearML's status names: draft, completed or published."""
    return "draft" if is_draft else "published" if record.published else "completed"


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """One string or a sequence of strings as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def check_content_url(url: str | None) -> str | None:
    """Content URLs are written into version records: refuse any that carries a secret."""
    if url and redact_url(url) != url:
        raise InvalidPathError(f"{redact_url(url)}: put credentials in storage_options or the backend's environment, not in the URL")
    return url


class Version:
    """One version as the operations see it: its store, record, draft (None once final) and
    lazily loaded content (parents' merged state, own state, a ranged reader)."""

    def __init__(self, store: Store, record: VersionRecord, draft: Draft | None = None):
        self.store = store
        self.record = record
        self.draft = draft
        self.parent_state: State | None = None
        self.parent_folders: set[str] | None = None  # folders of parent_state (path checks)
        self.state: State | None = None
        self.reader: Any = None
        self.staged: Staged | None = None  # small files' content read by add_files, for upload
        self.held_at: Backend | None = None  # where staged spools and holds it (core.stagehold.place)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def project(self) -> str:
        return self.record.project

    def is_final(self) -> bool:
        return self.draft is None

    @property
    def status(self) -> str:
        return status(self.record, self.draft is not None)

    def require_draft(self) -> Draft:
        if self.draft is None:
            raise DatasetFinalizedError(f"dataset {self.id} is finalized and cannot change; create a child version of it instead")
        return self.draft

    def require_final(self, what: str) -> None:
        if self.draft is not None:
            raise DraftError(f"{what} needs a finalized version; dataset {self.id} is still a draft (finalize/close it first)")

    def parents_state(self) -> State:
        if self.parent_state is None:
            self.parent_state = State.merge(self.store.state(p) for p in self.record.parents)
        return self.parent_state

    def current(self) -> State:
        """Full content of this version (for a draft: parents plus the pending delta)."""
        if self.draft is None:
            if self.state is None:
                self.state = self.store.state(self.id)
            return self.state
        return self.parents_state().apply(entries_table(self.draft.delta.entries, self.draft.delta.removed), self.id)

    def kept(self) -> Staged:
        """Small files' content kept for upload: what this process's hashing passes kept, and
        what an earlier process held for this draft (``core.stagehold``)."""
        if self.staged is None:
            # its spool: unnamed files of the store (they become packs as they are), else of the cache folder
            be = self.store.content_backend(self.record)
            self.held_at = stagehold.place(be, self.store.cache.held_folder(be.url))
            self.staged = Staged(spool_dir=self.store.cache.root, store=self.held_at)
            stagehold.take(self.held_at, self.id, self.staged)
        return self.staged

    def keep_content(self) -> Callable[[list[tuple[LocalFile, str, bytes]]], None]:
        """Where the hashing pass hands small files' content, so that upload need not read them again."""
        return self.kept().keep_many

    def hold_kept(self) -> int:
        """Keep the content kept so far for an upload by a later process; how many files."""
        if self.staged is None or self.held_at is None:
            return 0
        n = stagehold.hold(self.staged, self.held_at, self.id)
        if n:  # given away: this process's next add or upload takes them over as any other would
            self.drop_staged(keep_held=True)
        return n

    def drop_staged(self, keep_held: bool = False) -> None:
        """Forget the content ``keep_content`` kept (its spool's space is given back at once),
        and what was held for a later process, unless ``keep_held``."""
        staged, self.staged = self.staged, None
        if staged is not None:
            try:
                staged.close(keep_held)
            finally:
                if not keep_held and self.held_at is not None:
                    stagehold.forget(self.held_at, self.id)

    def save(self) -> None:
        """Write the draft (with the current record) to the store (``Registry.save_draft``)."""
        if self.draft is not None:
            self.draft.record = self.record
            self.store.save_draft(self.draft)
            self.record = self.draft.record  # with the packs of another upload it took in
