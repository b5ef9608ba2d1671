"""The local cache: content blobs, immutable metadata, materialized versions, locks, leases, eviction.

Layout under the cache root (``DAGSTORE_CACHE_DIR``, default: the platform cache dir)::

    blobs/ab/<hash>        read-only content files, one per hash
    meta/<kind>/<name>     immutable store metadata (manifests, merged states, pack indexes)
    versions/<key>/        materialized, read-only folders: hardlinks into blobs/
    leases/<key>           a shared flock held by every live process using versions/<key>
    locks/<key>.lock       cross-process build locks
    statcache.sqlite       (device, inode, size, mtime_ns, ctime_ns) -> hash of local files

A folder appears in ``versions/`` only by an atomic rename of a complete build, so its
existence means it is complete. Eviction takes the exclusive flock of a folder's lease file
without blocking; a live user's shared lock makes it skip that folder.

``Cache`` is assembled from layers, each a module: ``locks`` (build locks, leases),
``blobs`` (content and metadata files), ``eviction``, ``versions`` (materialize).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import platformdirs

from ... import config
from ...errors import DagstoreError
from ..scan import StatCache
from .locks import DEFAULT_LOCK_TIMEOUT
from .versions import BlobSink, Tree, Versions

DEFAULT_MAX_BYTES = 100 << 30


def parse_size(text: str) -> int:
    """'200GB', '512M', '1.5TiB' or a plain byte count, as bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("ib").rstrip("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def _max_size(value: str | int) -> int:
    try:
        n = parse_size(str(value))
    except ValueError:
        n = -1
    if n < 0:
        raise DagstoreError(f"cache_max_size {value!r} (DAGSTORE_CACHE_MAX_SIZE or the config file) is not a size; use e.g. 200GB, 512MB or a byte count")
    return n


class Cache(Versions):
    """A local cache directory, safe to share between processes on one host."""

    def __init__(self, root: str | os.PathLike[str] | None = None, max_bytes: int | None = None):
        self.root = Path(root or config.setting("cache_dir") or platformdirs.user_cache_dir("dagstore")).expanduser().absolute()
        env_max = config.setting("cache_max_size")
        self.max_bytes = max_bytes if max_bytes is not None else (_max_size(env_max) if env_max else DEFAULT_MAX_BYTES)
        self._statcache: StatCache | None = None
        self._blobs = str(self.root / "blobs")
        self._added = 0
        self._size_lock = threading.Lock()
        self._meta_warned = set()


__all__ = ["Cache", "BlobSink", "Tree", "parse_size", "DEFAULT_LOCK_TIMEOUT", "DEFAULT_MAX_BYTES"]
