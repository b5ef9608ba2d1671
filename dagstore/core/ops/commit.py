"""Sending a draft's content to the store and sealing it: upload, finalize, publish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import replace

from .. import fanout, fanscan, transfer
from ..columns import entries_table, stored_hashes
from ..gcpause import gc_paused
from ..folderdiff import delta_problem
from ..scan import LocalFile
from ..manifest import Entry
from .. import layout
from ...errors import ConflictError, DagstoreError, DraftError, InvalidPathError
from ..version import Version, check_content_url


def compression_level(compression: bool | int | str | None) -> int | None:
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


def pack_bytes(chunk_size: float | None) -> int | None:
    """upload(chunk_size=MB) in bytes: None -> the default; -1 -> one pack (no size limit)."""
    if chunk_size is None or chunk_size == 0:
        return None
    if chunk_size == -1:
        return 1 << 62
    if chunk_size < 0:
        raise InvalidPathError(f"chunk_size must be a size in MB, or -1 for one chunk (got {chunk_size})")
    return int(chunk_size * (1 << 20))


def _with_retries(send: Callable[[], transfer.UploadResult], retries: int) -> transfer.UploadResult:
    """``send()``, again after a dropped connection (not a full disk or a missing file), ``retries`` tries in all."""
    for _ in range(max(1, retries) - 1):
        try:
            return send()
        except OSError as exc:
            if isinstance(exc, (DagstoreError, FileNotFoundError, PermissionError)):
                raise
    return send()


def _upload_on_workers(v: Version, executor: Executor, compression: bool | int | str | None,
                       chunk_size: int | None) -> transfer.UploadResult:
    """``upload`` with ``executor``: its workers send the pending content."""
    draft = v.require_draft()
    items = [(local, e.size, mtime, e.hash) for p, (local, mtime, _ctime) in sorted(draft.pending.items())
             if (e := draft.delta.entries.get(p)) is not None and e.url is None]
    frag = fan_out(v, executor, items, compression, chunk_size)
    draft.pending.clear()
    v.save()
    return transfer.UploadResult(frag.packs, frag.objects, frag.bytes_sent, frag.blobs_sent)


@gc_paused()  # a Pending per file, no cycles: collections during the list's making only walked the draft's entries (W1: ~0.04 s)
def upload(
    v: Version,
    show_progress: bool,
    output_url: str | None,
    compression: bool | int | str | None,
    chunk_size: int | None,
    max_workers: int | None,
    retries: int,
    executor: Executor | None = None,
) -> transfer.UploadResult:
    """Send pending content to the store (or to ``output_url``); safe to retry, resends nothing
    stored. With ``executor``, the workers of that executor send it (docs/scale.md)."""
    draft = v.require_draft()
    if output_url and check_content_url(output_url) != v.record.content_url:
        if v.record.packs or v.record.objects:
            raise ConflictError("this draft already uploaded content elsewhere; output_url must stay the same")
        v.record = replace(v.record, content_url=output_url)
    if executor is not None:
        return _upload_on_workers(v, executor, compression, chunk_size)
    level = compression_level(compression)
    pack_size = pack_bytes(chunk_size)
    st = v.store
    be = st.content_backend(v.record)
    entry, new = draft.delta.entries.get, transfer.Pending  # bound once: one of each per pending file
    pending = [new(e.hash, e.size, local, mtime, ctime) for p, (local, mtime, ctime) in sorted(draft.pending.items())
               if (e := entry(p)) is not None and e.url is None]
    marked = st.gc_marks() if be is st.backend else set()
    index = st.pack_index(be, only=[p.hash for p in pending])  # the pending blobs the store holds already
    if marked:  # packs gc marked are never reused (one key per blob only when there are marks)
        index = {h: loc for h, loc in index.items() if layout.pack_key(loc.pack) not in marked}
    reused = {index[p.hash].pack for p in pending if p.hash in index} - set(v.record.packs)
    if reused:  # referenced by the draft before anything is sent: gc will not sweep them
        v.record = replace(v.record, packs=tuple(sorted({*v.record.packs, *reused})))
        v.save()
    avoid = {layout.leaf(k) for k in marked if layout.kind(k) == layout.OBJECTS}
    res = _with_retries(lambda: transfer.upload(be, index, pending, level, pack_size, max_workers, show_progress,
                                                 avoid, v.kept()), retries)
    st.remember_indexes(be, res.indexes)  # finalize needs them next
    v.record = replace(
        v.record,
        packs=tuple(sorted(set(v.record.packs) | res.packs)),
        objects=tuple(sorted(set(v.record.objects) | res.objects)),
    )
    draft.pending.clear()
    del pending, index  # before the draft is serialized: lower peak memory
    v.drop_staged()  # everything it held is in the store now
    v.save()
    return res


def _workers_store(v: Version) -> tuple[fanout.StoreRef, frozenset[str]]:
    """How workers reopen the draft's store, and what gc has marked there (never reused)."""
    st = v.store
    be = st.content_backend(v.record)
    return fanout.StoreRef(st.url, st.storage_options, v.record.content_url), frozenset(st.gc_marks() if be is st.backend else ())


def _gain(v: Version, frag: fanout.Fragment) -> fanout.Fragment:
    """The draft's record gains the packs and objects the workers wrote; the store remembers
    the locations in the packs they wrote (finalize reads no index back)."""
    v.store.remember_indexes(v.store.content_backend(v.record), frag.indexes)
    v.record = replace(v.record, packs=tuple(sorted(set(v.record.packs) | frag.packs)),
                       objects=tuple(sorted(set(v.record.objects) | frag.objects)))
    return frag


def fan_out(v: Version, executor: Executor, items: Sequence[tuple[str, int, int, str]],
            compression: bool | int | str | None = None, chunk_size: float | None = None) -> fanout.Fragment:
    """Hash (where no hash is given) and upload ``(local path, size, mtime_ns, hash)`` items on
    the executor's workers; the draft's record gains the packs and objects they wrote."""
    ref, marked = _workers_store(v)
    return _gain(v, fanout.ingest_all(executor, ref, items, compression_level(compression), pack_bytes(chunk_size), marked))


def fan_out_folder(v: Version, executor: Executor, root: str, rel: str, wildcard: Sequence[str] | None, recursive: bool,
                   dataset_prefix: str) -> fanout.Fragment:
    """A folder scanned, hashed and uploaded by the executor's workers (``core.fanscan``); its
    fragment's table lists the files at their dataset paths."""
    ref, marked = _workers_store(v)
    return _gain(v, fanscan.ingest_folder(executor, ref, root, rel, wildcard, recursive, dataset_prefix,
                                          compression_level(None), None, marked))


def send_files(v: Version, executor: Executor, files: Sequence[LocalFile]) -> dict[str, tuple[str, int]]:
    """``{path: (hash, size)}`` of local files hashed and uploaded by the executor's workers
    (a hash the stat cache knows is not recomputed; new ones are remembered)."""
    cache = v.store.cache.statcache
    known = cache.lookup(files)
    frag = fan_out(v, executor, [(f.path, f.size, f.mtime_ns, known.get(f.path, "")) for f in files])
    out = {f.path: hs for f, hs in zip(files, frag.hashes)}
    cache.store((f, out[f.path][0]) for f in files if f.path not in known and out[f.path][1] == f.size)
    return out


@gc_paused()  # entries_table's tuples per file, no cycles: a full collection during it walked the draft's 50,000 entries (W1: ~0.05 s)
def finalize(v: Version) -> None:
    """Seal the version (all content must be uploaded): afterwards it never changes."""
    draft = v.require_draft()
    st = v.store
    be = st.content_backend(v.record)
    parents = v.parents_state().pick(draft.delta.entries)
    delta = entries_table(draft.delta.entries, draft.delta.removed)  # made once: the state, the manifest, the check
    # content a parent already has at the same path (an annotation-only change) is stored
    same = [p for p, e in parents.items() if _in_parent(e, draft.delta.entries[p])]
    packs, absent = st.pack_holders(be, v.record.packs, stored_hashes(delta, same))
    objects = set(absent)
    missing = objects - set(v.record.objects)
    if missing:
        raise DraftError(f"dataset {v.id}: content of {len(missing)} files is not in the store; call upload()")
    state = v.parents_state().apply(delta, v.id)
    # never publish a version that cannot be checked out (one parent: only its new paths can clash)
    problem = (delta_problem(v.parents_state(), draft.delta.entries, draft.delta.removed) if len(v.record.parents) == 1
               else state.tree_problem())
    if problem:
        raise InvalidPathError(f"dataset {v.id} cannot be finalized: {problem}")
    base = v.parents_state()
    if len(base):
        d = base.diff(state)
        added, modified, removed = len(d.added), len(d.modified), len(d.removed)
    else:  # no parent entry (a first version): every path is added (no diff's lists of every path made)
        added, modified, removed = len(state), 0, 0
    stats = {"files": len(state), "bytes": state.total_size(), "added": added, "modified": modified, "removed": removed}
    draft.record = replace(v.record, packs=tuple(sorted(packs)), objects=tuple(sorted(objects)), stats=stats,
                           origin=v.record.origin or "upload")
    v.record = st.finalize(draft, delta)
    st.cache_state(v.id, state)  # children and readers start from it
    v.draft = None
    v.state = None


def _in_parent(parent: Entry | None, entry: Entry) -> bool:
    return parent is not None and parent.url is None and parent.hash == entry.hash


def publish(v: Version) -> None:
    """Mark a final version as published."""
    v.require_final("publish()")
    v.record = v.store.set_labels(v.id, published=True)


def send_blobs(v: Version, blobs: Sequence[tuple[str, bytes]]) -> transfer.UploadResult:
    """Send in-memory content ``(hash, bytes)`` to the draft's store now, packed (nothing left
    pending, no local file written): its entries are staged with no local file. The draft's
    record gains the packs and objects, so a later ``upload`` must keep the same output_url."""
    v.require_draft()
    st = v.store
    be = st.content_backend(v.record)
    marked = st.gc_marks() if be is st.backend else set()
    index = {h: loc for h, loc in st.pack_index(be).items() if layout.pack_key(loc.pack) not in marked}
    avoid = {layout.leaf(k) for k in marked if layout.kind(k) == layout.OBJECTS}
    res = transfer.send_blobs(be, index, blobs, compression_level(None), None, avoid)
    v.record = replace(v.record, packs=tuple(sorted(set(v.record.packs) | res.packs)),
                       objects=tuple(sorted(set(v.record.objects) | res.objects)))
    return res
