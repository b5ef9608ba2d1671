"""An fsspec filesystem for the ``dagstore://`` protocol: read files of a final version in
place, with ranged reads, from pandas, pyarrow or any fsspec user.

Paths::

    dagstore://<project>/<name>@<version>/<path in dataset>    (project may contain '/')
    dagstore://<project>/<name>@latest/<path>                  highest final version
    dagstore://<version id>/<path>

Options (``storage_options`` / ``fsspec.open`` keywords): ``store`` (a store URL or
``Store``; default ``DAGSTORE_URL``), ``store_options`` (fsspec options for the store URL),
``cache_dir``.
"""

from __future__ import annotations

import threading
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from . import refs
from .errors import DatasetNotFoundError
from .core.manifest import annotation_object, normalize_path
from .core.reader import VersionReader
from .core.store import Store


class DagstoreFileSystem(AbstractFileSystem):
    """Read-only view of the final versions of a dagstore store."""

    protocol = "dagstore"
    root_marker = ""

    def __init__(self, store: Store | str | None = None, store_options: dict[str, Any] | None = None, cache_dir: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(store, Store):
            self.store = store
        elif store is None and store_options is None and cache_dir is None:
            self.store = Store.default()
        else:
            self.store = Store(store, storage_options=store_options, cache_dir=cache_dir)
        self._readers: dict[str, VersionReader] = {}
        self._resolved: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = path[len("dagstore://") :] if path.startswith("dagstore://") else path
        return path.strip("/")

    # -- path resolution ----------------------------------------------------------------------

    def _split(self, path: str) -> tuple[VersionReader, str]:
        """(reader of the version, path inside the dataset) for a full fsspec path."""
        ref, inner = refs.split_path(self._strip_protocol(path))
        vid = ref if refs.is_id(ref) else self._resolve(ref)
        with self._lock:
            reader = self._readers.get(vid)
        if reader is None:
            try:
                reader = VersionReader(self.store, vid)
            except DatasetNotFoundError as exc:
                raise FileNotFoundError(str(exc)) from None
            with self._lock:
                self._readers[vid] = reader
        return reader, inner

    def _resolve(self, ref: str) -> str:
        if ref in self._resolved:
            return self._resolved[ref]
        parsed = refs.parse(ref)
        vid = refs.resolve_final(self.store, parsed)
        if vid is None:
            what = parsed.version or refs.LATEST
            raise FileNotFoundError(f"dagstore://{ref}: no final version {what} of {parsed.project or ''}/{parsed.name}")
        if parsed.version is not None:
            self._resolved[ref] = vid  # a final version never changes; 'latest' may
        return vid

    def _prefix(self, path: str) -> str:
        """The version part of a stripped path (everything before the path in the dataset)."""
        _reader, inner = self._split(path)
        stripped = self._strip_protocol(path)
        return stripped[: len(stripped) - len(inner)].rstrip("/")

    # -- listing ------------------------------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        reader, inner = self._split(path)
        name = self._strip_protocol(path)
        if inner in reader.state:
            e = reader.state[inner]
            info = {"name": name, "size": e.size, "type": "file", "hash": e.hash}
            if e.annotation is not None:
                info["annotation"] = annotation_object(e.annotation, inner, lambda: reader.store.manifest_name(e.origin))  # its dagstore.annotation/1
            return info
        if not inner or any(p.startswith(inner + "/") for p in reader.state):
            return {"name": name, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        reader, inner = self._split(path)
        base = self._prefix(path)
        if inner in reader.state:
            out = [self.info(path)]
            return out if detail else [o["name"] for o in out]
        lead = inner + "/" if inner else ""
        entries: dict[str, dict[str, Any]] = {}
        for p, e in reader.state.items():
            if not p.startswith(lead):
                continue
            head, sep, _tail = p[len(lead) :].partition("/")
            full = f"{base}/{lead}{head}"
            if sep:
                entries.setdefault(full, {"name": full, "size": 0, "type": "directory"})
            else:
                entries[full] = {"name": full, "size": e.size, "type": "file"}
        if not entries and inner:
            raise FileNotFoundError(path)
        out = sorted(entries.values(), key=lambda d: d["name"])
        return out if detail else [o["name"] for o in out]

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False, **kwargs: Any) -> Any:
        reader, inner = self._split(path)
        base = self._prefix(path)
        if inner in reader.state:
            one = {self._strip_protocol(path): self.info(path)}
            return one if detail else list(one)
        lead = inner + "/" if inner else ""
        found: dict[str, dict[str, Any]] = {}
        for p, e in sorted(reader.state.items()):
            if not p.startswith(lead):
                continue
            rel = p[len(lead) :]
            if maxdepth is not None and rel.count("/") >= maxdepth:
                continue
            name = f"{base}/{p}"
            found[name] = {"name": name, "size": e.size, "type": "file"}
            if withdirs:
                parts = rel.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = f"{base}/{lead}{'/'.join(parts[:i])}"
                    found.setdefault(d, {"name": d, "size": 0, "type": "directory"})
        return dict(sorted(found.items())) if detail else sorted(found)

    # -- reading ------------------------------------------------------------------------------

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        reader, inner = self._split(path)
        return reader.read(inner, start or 0, end)

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True, cache_options: dict | None = None, **kwargs: Any) -> VersionFile:
        if mode != "rb":
            raise PermissionError("dagstore:// is read-only: versions never change (create a child version to write)")
        reader, inner = self._split(path)
        reader.entry(inner)
        return VersionFile(self, reader, inner, block_size=block_size, cache_options=cache_options, **kwargs)

    def ukey(self, path: str) -> str:
        reader, inner = self._split(path)
        return reader.entry(inner).hash or reader.entry(inner).url or inner


def open_file(store: Store, version_id: str, path: str, mode: str = "rb", block_size: int | None = None) -> VersionFile:
    """A seekable read-only file object for one file of a final version, read in place with
    ranged reads (``Dataset.open``, ``describe``)."""
    f: VersionFile = DagstoreFileSystem(store=store).open(f"{version_id}/{normalize_path(path)}", mode, block_size=block_size)
    return f


class VersionFile(AbstractBufferedFile):
    """A buffered read-only file of a version; each buffer fill is one ranged read."""

    def __init__(self, fs: DagstoreFileSystem, reader: VersionReader, inner: str, block_size: int | None = None, **kwargs: Any):
        self._reader = reader
        self._inner = inner
        size = reader.entry(inner).size
        kwargs.setdefault("cache_type", "readahead")
        super().__init__(fs, inner, mode="rb", block_size=block_size or 4 << 20, size=size, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self._reader.read(self._inner, start, end)
