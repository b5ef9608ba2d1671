"""Kept content handed from one process to a later one: ``dagstore add`` reads, hashes and keeps
small files (``core.staging``); ``dagstore close`` or ``upload``, in another process, packs them
without reading them again.

The content is spooled and held in one **place** (``place``): a local store that makes unnamed
files itself, else this host's cache (``held/<store>/``: object stores, folders without unnamed
files), a folder the cache's ``reclaim_leftovers`` sweeps. ``hold`` names each spool segment that
is one of the place's unnamed files (``packs/.tmp-kept-<draft>-<uuid>``) and writes an index
beside them (``packs/.tmp-kept-<draft>.arrow``, Arrow IPC): the kept files (local path, hash, stat
when read), then each segment's blobs; the segments' names, sizes and xxh3-128 digests are in its
schema metadata. ``take`` reopens them for the draft's next add or upload (one process at a time:
a segment another holds open is left out, as it is when committed or removed since): each
segment is hashed whole again and compared with the index, so a segment changed, cut short or
gone is left out (its files are read again), and upload then goes as in one process (each kept
file's stat checked; a store's segments committed as packs as they are, the cache's read back
and packed). Both names start with ``.tmp-``: what no upload takes, the store's gc removes after
``--min-age`` (the cache: gc too, for a draft no longer in the store, and deleting the draft
removes its own; else ``HELD_AGE`` after it was held or taken); ``forget`` removes the
index after an upload. Nothing here ever fails an add or an upload: an index that cannot be
written or read only means the files are read again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from .arrays import from_numpy, numbers, strings
from .backend import Backend, FileSpool, LocalBackend
from .staging import Held, Staged

log = logging.getLogger("dagstore")

_FORMAT = 1
_META = b"dagstore.held"
_READ = 8 << 20  # bytes per read when a taken segment is hashed again
_SCHEMA = pa.schema([("path", pa.string()), ("hash", pa.string()), ("stat", pa.binary()), ("offset", pa.int64()),
                     ("length", pa.int64()), ("size", pa.int64()), ("codec", pa.uint8())])


def place(store: Backend, cache_folder: Path) -> Backend:
    """Where a draft's kept content is spooled and held: ``store`` if it is a local folder that
    makes unnamed files (a segment then becomes a pack as it is), else ``cache_folder``, this
    host's cache's folder for the store (``Cache.held_folder``: segments read back and packed)."""
    if store.is_local:
        probe = store.open_file_spool("packs")
        if probe is not None:
            probe.abort()
            return store
    return LocalBackend(cache_folder, writeback=False)


def index_key(draft_id: str) -> str:
    """Where a draft's held content is indexed."""
    return f"packs/.tmp-kept-{draft_id}.arrow"


def _segment_key(draft_id: str) -> str:
    return f"packs/.tmp-kept-{draft_id}-{uuid.uuid4().hex}"


def hold(staged: Staged, store: Backend, draft_id: str) -> int:
    """Keep ``staged``'s content for a later process; returns how many files it holds (0 on a
    store that cannot, or when the index cannot be written)."""
    if not store.is_local:
        return 0
    (paths, hashes, stats), segs = staged.hold(lambda spool: store.hold_file_spool(spool, _segment_key(draft_id)))
    if not paths:
        forget(store, draft_id)
        return 0
    meta = [{"key": seg.spool.key if seg.spool is not None else "", "size": seg.size,
             "digest": seg.hasher.hexdigest(), "blobs": len(seg.hashes)} for seg in segs]
    n, m = len(paths), sum(len(seg.hashes) for seg in segs)
    zeros = from_numpy(np.zeros(n, dtype=np.int64), pa.int64())
    kept = pa.RecordBatch.from_arrays([strings(paths), strings(hashes), _fixed_binary(stats), zeros, zeros, zeros,
                                       from_numpy(np.zeros(n, dtype=np.uint8), pa.uint8())], schema=_SCHEMA)
    ints = [from_numpy(np.concatenate([np.frombuffer(getattr(seg, c), dtype=np.int64) for seg in segs]), pa.int64())
            for c in ("offsets", "lengths", "sizes")]
    blobs = pa.RecordBatch.from_arrays([pa.nulls(m, pa.string()), strings([h for seg in segs for h in seg.hashes]),
                                        pa.nulls(m, pa.binary()), *ints,
                                        from_numpy(np.frombuffer(b"".join(seg.codecs for seg in segs), dtype=np.uint8), pa.uint8())],
                                       schema=_SCHEMA)
    schema = _SCHEMA.with_metadata({_META: json.dumps({"format": _FORMAT, "level": staged.level, "files": n, "segments": meta})})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema) as w:
        w.write_batch(kept)
        w.write_batch(blobs)
    try:
        store.write(index_key(draft_id), sink.getvalue().to_pybytes())
    except OSError as exc:
        log.info("not holding kept content for a later upload (%s): it will read the files again", exc)
        return 0
    return n


def _fixed_binary(values: list[bytes]) -> pa.Array:
    """Byte strings of one length as an Arrow binary array, built from buffers (``arrays.strings``)."""
    offsets = np.arange(len(values) + 1, dtype=np.int32) * (len(values[0]) if values else 0)
    return pa.Array.from_buffers(pa.binary(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))])


def take(store: Backend, draft_id: str, staged: Staged) -> int:
    """Start ``staged`` (new) from what ``hold`` left for this draft; returns how many files it
    takes over (0 when nothing usable is held)."""
    if not store.is_local:
        return 0
    try:
        data = store.read(index_key(draft_id))
    except OSError:
        return 0
    try:
        table, meta = _index(data, draft_id)
    except (pa.ArrowException, ValueError, KeyError, TypeError) as exc:
        log.warning("draft %s: its held content's index is not readable (%s); upload reads the files again", draft_id, exc)
        return 0
    if meta["level"] != staged.level:
        return 0
    n = meta["files"]
    at = n
    segments = []
    for seg in meta["segments"]:
        k, at = at, at + seg["blobs"]
        spool = _reopened(store, seg)
        if spool is None:
            continue
        part = table.slice(k, seg["blobs"])
        offsets, lengths, sizes = (numbers(part[c]).astype("<i8").tobytes() for c in ("offset", "length", "size"))
        segments.append(Held(spool[0], spool[1], seg["size"], part["hash"].to_pylist(), offsets, lengths, sizes,
                             numbers(part["codec"]).tobytes()))
    if not segments:
        return 0
    files = table.slice(0, n)
    staged.take_over((files["path"].to_pylist(), files["hash"].to_pylist(), files["stat"].to_pylist()), segments)
    return n


def forget(store: Backend, draft_id: str) -> None:
    """Remove a draft's index of held content (its segments are committed or removed by their owner)."""
    if store.is_local:
        store.delete([index_key(draft_id)])


def _index(data: bytes, draft_id: str) -> tuple[pa.Table, dict[str, Any]]:
    """The index's table and metadata, checked: ValueError (or an Arrow error) when it is not one."""
    reader = pa.ipc.open_file(pa.BufferReader(data))
    table = reader.read_all()
    if not table.schema.equals(_SCHEMA):
        raise ValueError("its columns are not those of a held index")
    meta = json.loads((reader.schema.metadata or {})[_META])
    key = re.compile(rf"^packs/\.tmp-kept-{re.escape(draft_id)}-[0-9a-f]{{32}}$")
    segs = meta.get("segments")
    if meta.get("format") != _FORMAT or not isinstance(segs, list) or not _count(meta.get("files")) \
            or not (meta.get("level") is None or _count(meta["level"])):
        raise ValueError("its format, file count or compression level is not one this version writes")
    if not all(isinstance(s, dict) and isinstance(s.get("key"), str) and key.match(s["key"]) for s in segs):
        raise ValueError("a segment is named outside the store's held files")
    if not all(_count(s.get("size")) and _count(s.get("blobs")) and isinstance(s.get("digest"), str) for s in segs):
        raise ValueError("a segment's size, blob count or digest is missing or not valid")
    if meta["files"] + sum(s["blobs"] for s in segs) != table.num_rows:
        raise ValueError("its row count is not its files plus its segments' blobs")
    return table, meta


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _reopened(store: Backend, seg: dict[str, Any]) -> tuple[FileSpool, Any] | None:
    """A held segment, open, with the hasher of its bytes: None if it is gone or not what
    ``hold`` wrote (size, digest)."""
    spool = store.open_held_spool(seg["key"])
    if spool is None:
        return None
    hasher = xxhash.xxh3_128()
    at = 0
    try:
        while chunk := os.pread(spool.fd, _READ, at):
            hasher.update(chunk)
            at += len(chunk)
    except OSError:
        at = -1
    if at != seg["size"] or hasher.hexdigest() != seg["digest"]:
        log.warning("held content %s changed since it was held: its files are read again", seg["key"])
        spool.abort()
        return None
    return spool, hasher
