"""Getting content out of a final version: cached read-only folders, writable copies,
reads in place, and checking a local copy against the manifest."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..._atomic import new_folder
from .. import align, fetchplan, transfer
from ..fetchprocs import Pool
from ..gcpause import gc_paused
from .. import columns as cols
from ..cache import BlobSink, Tree
from ..fetchplan import BlobNames, Wanted, Where
from ..hashing import hash_bytes, hash_file
from ..reader import VersionReader
from ..manifest import Entry, match_path, normalize_path
from ...errors import DagstoreError, InvalidPathError
from ..state import State
from ..version import Version, as_list


def selection_key(v: Version, part: int | None, num_parts: int | None, files: str | Sequence[str] | None) -> str:
    """The cache key of the requested subset (validated), computed without reading the state."""
    key = v.id
    pats = as_list(files)
    if pats:
        key += "-f" + hash_bytes("\x00".join(sorted(pats)).encode())[:16]
    if num_parts is not None or part is not None:
        if num_parts is None or part is None or not (isinstance(num_parts, int) and isinstance(part, int)) or num_parts < 1 or not 0 <= part < num_parts:
            raise InvalidPathError(f"part must be in [0, num_parts) and num_parts >= 1 (got part={part}, num_parts={num_parts})")
        key += f"-p{part}of{num_parts}"
    return key


def part_bounds(units: Sequence[str], part: int, num_parts: int) -> tuple[int, int]:
    """``[start, end)`` of part ``part`` of the sorted paths whose content is read from
    ``units`` (a pack id, or one large object or link each): the equal-count cut points
    ``k * n // num_parts``, each moved to the nearest boundary between two units (the earlier
    on a tie) when that is at most half a part away and leaves no part empty. So parts read
    disjoint packs, and differ in size by at most about one part's half (docs/scale.md)."""
    n = len(units)
    slack = n // (2 * num_parts)
    cuts = [0]
    for k in range(1, num_parts):
        ideal = k * n // num_parts
        lo = hi = ideal
        while 0 < lo < n and units[lo - 1] == units[lo]:
            lo -= 1
        while 0 < hi < n and units[hi - 1] == units[hi]:
            hi += 1
        cut = lo if ideal - lo <= hi - ideal else hi
        cuts.append(cut if cuts[-1] < cut < n and abs(cut - ideal) <= slack else max(ideal, cuts[-1]))
    cuts.append(n)
    return cuts[part], cuts[part + 1]


def _rows(v: Version, part: int | None, num_parts: int | None, files: str | Sequence[str] | None, where: Callable[[], Where]) -> np.ndarray | None:
    """The rows of the version's state matching ``files``, then of those shard ``part`` of
    ``num_parts`` (deterministic, cut at pack boundaries: see ``part_bounds``); None: every row."""
    state = v.current()
    pats = as_list(files)
    if not pats and (num_parts is None or part is None or num_parts <= 1):
        return None
    rows: np.ndarray = np.arange(len(state))
    if pats:
        paths = state.column("path").to_pylist()
        rows = rows[[i for i, p in enumerate(paths) if any(match_path(p, pat) for pat in pats)]]
    if num_parts is not None and part is not None and num_parts > 1:
        units = _units(state, where())  # of the matching rows only when a subset was asked for
        start, end = part_bounds([units[i] for i in rows.tolist()] if pats else units, part, num_parts)
        rows = rows[start:end]
    return rows


def _units(state: State, where: Where) -> list[str]:
    """What each row's content is read from: its pack, else the large object or the link."""
    hashes = state.column("hash")
    at = where.find(hashes).tolist()
    hexes = cols.hashes_to_hex(hashes)
    urls = state.column("url").to_pylist()
    return [where.packs[where.pack[a]] if a >= 0 else f"{h}:{u or ''}" for a, h, u in zip(at, hexes, urls)]


def local_copy(
    v: Version,
    use_soft_links: bool | None,
    part: int | None,
    num_parts: int | None,
    max_workers: int | None,
    files: str | Sequence[str] | None,
    show_progress: bool,
) -> str:
    """A cached, read-only, complete folder of the version (or of a shard / a subset).
    Fetches only missing content; a warm call does no per-file work."""
    v.require_final("get_local_copy()")
    key = selection_key(v, part, num_parts, files)
    if use_soft_links:
        key += "-s"
    cache = v.store.cache
    done = cache.cached_version(key)
    if done:
        return done
    known: dict[str, Any] = {}
    rows = _rows(v, part, num_parts, files, lambda: _where(v, known))
    return _build(v, key, rows, bool(use_soft_links), max_workers, show_progress, known)


def subset_copy(v: Version, paths: Sequence[str], show_progress: bool = False, locations: dict[str, Any] | None = None) -> str:
    """A cached read-only folder of exactly ``paths`` of a final version (an export worker's
    slice); keyed ``-f`` + the hash of the paths (prefixed, so never a ``files=`` pattern key).
    ``locations``: where the version's blobs are, filled on first use and kept by the caller
    for its next slices (the pack indexes are then read once)."""
    v.require_final("get_local_copy()")
    key = v.id + "-f" + hash_bytes(("\x01" + "\x00".join(sorted(paths))).encode())[:16]
    done = v.store.cache.cached_version(key)
    if done:
        return done
    found, pos = align.insertion(v.current().column("path"), cols.strings(sorted(set(paths))))
    return _build(v, key, pos[found], False, None, show_progress, locations)


def _where(v: Version, known: dict[str, Any]) -> Where:
    """Where the version's blobs are (read once per ``known``)."""
    if "where" not in known:
        known["where"] = Where.of(v.store, v.store.chain(v.id))
    return known["where"]


def _build(v: Version, key: str, rows: np.ndarray | None, soft: bool, max_workers: int | None, show_progress: bool,
           known: dict[str, Any] | None = None) -> str:
    """Materialize ``rows`` of the version's state (None: all) as ``versions/<key>``, fetching
    what the blob cache lacks. Planned on the state's columns: no ``Entry`` per file; the cyclic
    collector paused (lists of a string per file, no cycles: a full collection walked them all)."""
    with gc_paused():
        return _build_paused(v, key, rows, soft, max_workers, show_progress, known)


def _build_paused(v: Version, key: str, rows: np.ndarray | None, soft: bool, max_workers: int | None, show_progress: bool,
                  known: dict[str, Any] | None) -> str:
    state = v.current()
    path, hashes, size, urls = (state.column(c) if rows is None else state.column(c).take(align.ints(rows)) for c in ("path", "hash", "size", "url"))
    store = v.store
    pool = Pool.start() if fetchplan.use_workers(store.backend, len(path), soft, max_workers) else None  # they start while this plans
    try:
        known = {} if known is None else known
        if pool is not None:  # a large local copy: its pack indexes read before the lists of every file are made
            _early_where(v, known)
        pa.default_memory_pool().release_unused()  # what the state's build and the indexes freed: Arrow's allocator keeps it otherwise
        once = urls.null_count == len(urls) and _each_once(hashes)
        sizes = cols.numbers(size).astype(np.int64)
        url_list: list[str | None] = [None] * len(path) if urls.null_count == len(urls) else urls.to_pylist()
        links = {i: transfer.blob_name(Entry("", int(sizes[i]), url_list[i])) for i in np.flatnonzero(cols.bits(urls.is_valid())).tolist()}
        names = BlobNames(hashes, links)  # each made when asked: no string per file
        tree = Tree(cols.one_array(path), names, sizes, once)

        def fetch(missing: np.ndarray, sink: BlobSink) -> None:
            rows = missing.tolist()
            picked = hashes.take(align.ints(missing))
            at = {int(k): links[r] for k, r in enumerate(rows) if r in links} if links else None
            wanted = Wanted(BlobNames(picked, at), picked, sizes[missing], [url_list[i] for i in rows])
            fetchplan.fetch(sink, wanted, _where(v, known), max_workers, show_progress, store.link_options, pool)

        return store.cache.materialize(key, tree, fetch, soft, show_progress=show_progress)
    finally:
        if pool is not None:
            pool.close()


def _each_once(hashes: pa.Array | pa.ChunkedArray) -> bool:
    """Whether no two of these 16-byte hashes (none null) are the same: a sorted copy by numpy
    (Arrow's hash-based count kept ~9 MB of W1's 50,000 hashes at the copy's peak)."""
    arr = cols.one_array(hashes)
    if len(arr) < 2:
        return True
    digests = np.sort(np.frombuffer(arr.buffers()[1], dtype="S16", count=len(arr), offset=arr.offset * 16))
    return not bool((digests[1:] == digests[:-1]).any())


def _early_where(v: Version, known: dict[str, Any]) -> None:
    """Read where the blobs are before the plan's lists of every file are made, so that those
    reuse the memory the reading freed (peak RSS). A failure here is left to the fetch, which
    reads them again only if some blob is missing from the cache (as it would without this)."""
    try:
        _where(v, known)
    except (DagstoreError, OSError):
        known.pop("where", None)


def check_copy_target(target: str, overwrite: bool) -> None:
    """Refuse a target that is a symlink, a file, or a non-empty folder without ``overwrite``."""
    if os.path.islink(target):
        raise InvalidPathError(f"{target} is a symbolic link; give the real folder")
    if os.path.exists(target) and not os.path.isdir(target):
        raise InvalidPathError(f"{target} exists and is not a folder")
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise InvalidPathError(f"{target} is not empty; pass overwrite=True (--overwrite on the command line) to replace its content")


def copy_tree(src: str, target: str) -> str:
    """Copy ``src`` into ``target`` as writable real files, replacing it in one rename."""
    with new_folder(target) as tmp:
        try:
            shutil.copytree(src, tmp, copy_function=shutil.copyfile, dirs_exist_ok=True)
        except shutil.Error as exc:  # per-file failures, e.g. a name the target cannot hold
            _src, dst, why = exc.args[0][0]
            raise InvalidPathError(f"{os.path.relpath(dst, tmp)}: cannot be written in {target}: {why}") from None
        for dirpath, _dirs, _fnames in os.walk(tmp):
            os.chmod(dirpath, 0o755)
    return target


def read_bytes(v: Version, path: str, start: int | None, end: int | None) -> bytes:
    """Bytes ``[start, end)`` of one file of a final version, read in place."""
    v.require_final("read_bytes()")
    if v.reader is None:
        v.reader = VersionReader(v.store, v.id)
    return v.reader.read(normalize_path(path), start or 0, end)


def forget_copy(v: Version, bad: Iterable[str]) -> None:
    """The cached copy was found changed: drop it and its changed blobs, so that the next
    get_local_copy rebuilds it from the store."""
    state = v.current()
    v.store.cache.discard(v.id, {transfer.blob_name(state[p]) for p in bad if p in state})


def verify_copy(v: Version, root: str, skip_hash: bool) -> list[str]:
    """Paths whose file under ``root`` is missing, of the wrong size, or (unless ``skip_hash``)
    of the wrong content."""
    bad = []
    for p, e in sorted(v.current().items()):
        f = os.path.join(root, *p.split("/"))
        try:
            size = os.path.getsize(f)
        except OSError:
            bad.append(p)
            continue
        if size != e.size or (not skip_hash and e.url is None and hash_file(f)[0] != e.hash):
            bad.append(p)
    return bad
