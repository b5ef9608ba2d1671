"""Content lookup: where a version's bytes live, its manifest and merged state, pack indexes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from ...errors import DagstoreError, FormatError, IntegrityError
from .. import columns, layout, packindex
from ..decode import skip
from ..backend import Backend, open_backend
from ..hashing import hash_bytes
from ..manifest import Delta, Diff
from ..packs import BlobLocation, decode_header, index_columns
from ..records import VersionRecord
from ..state import State
from .registry import Registry

log = logging.getLogger("dagstore")
T = TypeVar("T")


class Content(Registry):
    """Reading what versions hold; every result that cannot change is cached locally."""

    def link_options(self, url: str) -> dict[str, Any]:
        """fsspec options for an external link: this store's ``storage_options`` when the link
        uses the store's protocol (a private bucket beside the store), else none."""
        if not self.storage_options:
            return {}
        link_proto = url.split("://", 1)[0] if "://" in url else "file"
        store_proto = self.url.split("://", 1)[0] if "://" in self.url else "file"
        return dict(self.storage_options) if link_proto == store_proto else {}

    def content_backend(self, rec: VersionRecord) -> Backend:
        """Where a version's packs and objects live (its content_url, or this store)."""
        if not rec.content_url or rec.content_url == self.url:
            return self.backend
        if rec.content_url not in self._content_backends:
            self._content_backends[rec.content_url] = open_backend(rec.content_url, self.storage_options)
        return self._content_backends[rec.content_url]

    def delta_table(self, rec: VersionRecord) -> pa.Table:
        """A final version's own changes (its manifest, any format) as a delta table, checked
        against the manifest's hash (the cache's copy too)."""
        name = layout.leaf(rec.manifest)
        cached = self.cache.read_immutable("manifests", name)
        if cached is not None and hash_bytes(cached) != name:  # a changed cache file is never served
            log.warning("reading %s again from the store: its cached copy does not match its hash", rec.manifest)
            cached = None
        if cached is None:
            try:
                cached = self.backend.read(rec.manifest)
            except FileNotFoundError:
                raise IntegrityError(f"manifest {rec.manifest} of version {rec.id} is missing from the store") from None
            if hash_bytes(cached) != name:
                raise IntegrityError(f"manifest of version {rec.id} does not match its hash")
            self.cache.write_immutable("manifests", name, cached)
        return columns.read_manifest(cached, self.manifest_name(rec))

    def manifest_name(self, rec: VersionRecord | str | None) -> str:
        """How errors name a version's manifest (by its record or id; None: a draft's own change)."""
        if rec is None:
            return "the draft"
        if isinstance(rec, str):
            try:
                rec = self.content_record(rec)
            except DagstoreError:
                return f"manifest of version {rec}"
        return f"manifest {rec.manifest} of version {rec.id}"

    def delta(self, rec: VersionRecord) -> Delta:
        """A final version's own changes as Python entries (for code that walks them)."""
        return columns.to_delta(self.delta_table(rec))

    def state(self, version_id: str, _children: tuple[str, ...] = ()) -> State:
        """The full content of a final version (parents merged, own delta applied), cached
        locally as a memory-mapped columnar file. FormatError if its parents form a cycle or
        its paths cannot be checked out."""
        cached = self._cached_state(version_id)
        if cached is not None:
            return cached
        if version_id in _children:
            raise FormatError(f"version {_children[0]}: its parents form a cycle through {version_id}")
        rec = self.content_record(version_id)
        base = State.merge(self.state(p, (*_children, version_id)) for p in rec.parents)
        st = base.apply(self.delta_table(rec), rec.id)
        problem = st.tree_problem()
        if problem:
            raise FormatError(f"version {version_id} cannot be checked out: {problem}")
        pa.default_memory_pool().release_unused()  # what decoding and checking freed, before the cache file's buffer (peak RSS)
        self.cache_state(version_id, st)
        return st

    def _cached_state(self, version_id: str) -> State | None:
        path = self.cache.immutable_path("states", f"{version_id}.arrow")
        try:
            st = State.open(path)
        except FormatError as exc:
            log.warning("rebuilding the cached state of version %s: %s", version_id, exc)
            return None
        if st is None and os.path.exists(path):
            log.warning("rebuilding the cached state of version %s: %s was changed after it was written", version_id, path)
        return st

    def cache_state(self, version_id: str, state: State) -> None:
        """Remember the merged state of a version (computed once: it never changes)."""
        self.cache.write_sealed("states", f"{version_id}.arrow", state.write)

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

    def pack_index(self, backend: Backend, pack_ids: Iterable[str] | None = None,
                   only: Collection[str] | None = None) -> dict[str, BlobLocation]:
        """Blob locations from the indexes of these packs (all packs when None: then an
        unreadable index is skipped with a warning, its blobs are just not reused); with
        ``only``, just the locations of those blobs (one binary search per pack, no Python
        object per blob listed: a stored index is then read as columns, which are cached).
        A blob in two packs takes the later pack's location, in ``pack_ids``' order."""
        every = pack_ids is None
        pack_ids = [layout.leaf(k) for k in backend.list(layout.INDEX)] if pack_ids is None else list(pack_ids)
        out: dict[str, BlobLocation] = {}
        if not pack_ids:  # a first upload to an empty store: no sorted array of the wanted hashes for nothing
            return out
        if only is None:
            found = self._indexes(backend, pack_ids, packindex.Columns.locations, decode_header, skip_bad=every)
        else:
            wanted = sorted({h for h in only if len(h) == 32})  # 32 hex digits: a blob hash
            needles = packindex.wanted_array(wanted)
            found = self._indexes(backend, pack_ids, lambda cols: cols.lookup(wanted, needles),
                                  lambda pid, data: self._columns_of(pid, data).lookup(wanted, needles), skip_bad=every)
        for locs in found.values():
            out.update(locs)
        return out

    def pack_holders(self, backend: Backend, pack_ids: Iterable[str], keys: np.ndarray) -> tuple[set[str], list[str]]:
        """The packs of ``pack_ids`` that hold blobs of ``keys`` (sorted unique ``S16`` hashes;
        a blob in two packs counts for the later one, as in ``pack_index``) and the hashes
        none holds (hex): what finalize records, found by a binary search per pack, with no
        Python object per blob."""
        claimed = np.zeros(len(keys), dtype=bool)
        held: set[str] = set()
        if len(keys) and (pack_ids := list(pack_ids)):
            found = self._indexes(backend, pack_ids, lambda cols: cols.find(keys)[0],
                                  lambda pid, data: self._columns_of(pid, data).find(keys)[0], skip_bad=False)
            for pid in reversed(found):  # in pack_ids' order: the later pack wins
                new = found[pid][~claimed[found[pid]]]
                if len(new):
                    held.add(pid)
                    claimed[new] = True
        hx = keys[~claimed].tobytes().hex()
        return held, [hx[i : i + 32] for i in range(0, len(hx), 32)]

    def pack_columns(self, backend: Backend, pack_ids: Iterable[str]) -> list[packindex.Columns]:
        """The index of each of these packs as columns (``core.packindex``), in ``pack_ids``'
        order whatever the cache held (parts are cut alike on every host). A pack whose index
        is missing is left out (its blobs are then missing); a malformed index is a FormatError."""
        return list(self._indexes(backend, pack_ids, lambda cols: cols, self._columns_of, skip_bad=False).values())

    def _indexes(self, backend: Backend, pack_ids: Iterable[str], of_columns: Callable[[packindex.Columns], T],
                 of_index: Callable[[str, bytes], T], skip_bad: bool) -> dict[str, T]:
        """``{pack id: of_columns(its columns) or of_index(its index object)}`` in ``pack_ids``'
        order, from the first source that holds the pack's index: the columns this process
        wrote, the cache's columns (checked: ``packindex.decode``), the cache's copy of the index
        object, else the store's (read in one batch, cached once ``of_index`` accepts it). A
        pack whose index the store lacks is left out; ``of_index``'s FormatError on a stored
        index is raised, or with ``skip_bad`` logged and the pack left out. A cached index
        object it refuses is read again from the store (a damaged cache entry is never used)."""
        pack_ids = list(pack_ids)
        got: dict[str, T] = {}
        missing = []
        for pid in pack_ids:
            cols = self._written_indexes.get((backend.url, pid))
            if cols is None:
                cols = packindex.decode(pid, self.cache.read_immutable("index-cols", pid))
            if cols is not None:
                got[pid] = of_columns(cols)
                continue
            data = self.cache.read_immutable("index", pid)
            if data is not None:
                try:
                    got[pid] = of_index(pid, data)
                    continue
                except FormatError as exc:
                    log.warning("reading the index of pack %s again: its cached copy is damaged (%s)", pid, exc)
            missing.append(pid)
        for key, data in backend.read_many([layout.index_key(p) for p in missing]).items():
            pid = layout.leaf(key)
            try:
                got[pid] = of_index(pid, data)
            except FormatError as exc:
                if not skip_bad:
                    raise
                skip(key, exc)
                continue
            self.cache.write_immutable("index", pid, data)  # only once it decodes
        return {p: got[p] for p in pack_ids if p in got}

    def _columns_of(self, pid: str, data: bytes) -> packindex.Columns:
        """A stored index object's columns (``packs.index_columns``), then cached."""
        cols = index_columns(pid, data)
        self.cache.write_immutable("index-cols", pid, cols.data)
        return cols

    def remember_indexes(self, backend: Backend, indexes: dict[str, packindex.Columns]) -> None:
        """The index columns of the packs an upload just wrote to ``backend`` (finalize looks
        its blobs up in them next; only the last upload's are kept in memory), also written to
        the cache, where later processes' lookups (a child's upload) read them."""
        self._written_indexes = {(backend.url, pid): cols for pid, cols in indexes.items()}
        for pid, cols in indexes.items():
            self.cache.write_immutable("index-cols", pid, cols.data)

    def diff(self, old_id: str, new_id: str) -> Diff:
        """What changed from version ``old_id`` to version ``new_id`` (any two versions)."""
        return self.state(old_id).diff(self.state(new_id))
