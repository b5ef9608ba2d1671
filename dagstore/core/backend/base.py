"""The only module that talks to storage: a small key/value interface over a store root.

Keys are relative, '/'-separated object names ("packs/ab/abcd....pack"). Every object is
written once (``write_new``, put-if-absent) or replaced whole (``write``); a reader never
sees a partially written object. Two implementations: a plain-``os`` one for local
folders (fast path, no fsspec overhead) and one over any fsspec filesystem.
"""

from __future__ import annotations

import os
import random
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .config import redact_url
from .errors import InvalidPathError, StorageError

_CHUNK = 8 << 20
_TRANSIENT_RETRIES = 5


def check_key(key: str) -> str:
    """Refuse keys that could leave the store root."""
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in key.split("/")):
        raise InvalidPathError(f"invalid object key {key!r}")
    return key


class Spool:
    """An object written piece by piece whose key is known only when it is complete (a pack,
    named by the hash of its bytes). This default keeps the pieces in memory and uploads them
    at ``commit``; local folders stream them to a temp file instead."""

    def __init__(self, backend: Backend):
        self._backend = backend
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._chunks.append(data)

    def commit(self, key: str) -> None:
        """Make the whole object visible under ``key`` (atomically)."""
        self._backend.write_chunks(key, self._chunks)
        self._chunks = []

    def abort(self) -> None:
        self._chunks = []


class Backend(ABC):
    """A store root on some storage. All methods take keys relative to the root."""

    url: str
    is_local: bool = False

    @abstractmethod
    def read(self, key: str) -> bytes:
        """Whole object; ``FileNotFoundError`` if absent."""

    @abstractmethod
    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        """Bytes ``[start, end)`` of each ``(key, start, end)``, fetched concurrently where possible."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Create or atomically replace an object."""

    @abstractmethod
    def write_new(self, key: str, data: bytes) -> bool:
        """Put-if-absent: create the object and return True, or return False if it exists."""

    @abstractmethod
    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        """Create or replace an object from a stream of chunks; invisible until complete."""

    @abstractmethod
    def put_file(self, local_path: str, key: str, callback: Callable[[int], None] | None = None) -> None:
        """Upload a local file (streamed, never whole in memory); invisible until complete."""

    @abstractmethod
    def get_file(self, key: str, local_path: str, callback: Callable[[int], None] | None = None) -> None:
        """Download an object to a local path (streamed)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def mtime(self, key: str) -> float:
        """Last-modified time, seconds since the epoch."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys under ``prefix`` (recursive; "" for the whole root), relative to the root."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove objects; absent ones are ignored."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A seekable read-only file object (ranged reads on object stores)."""

    def read_range(self, key: str, start: int, end: int) -> bytes:
        return self.read_ranges([(key, start, end)])[0]

    def open_spool(self, prefix: str) -> Spool:
        """A new object under ``prefix`` to write piece by piece and name at the end."""
        return Spool(self)

    def list_temp(self, prefix: str) -> list[str]:
        """Keys of temp files that interrupted writes left under ``prefix`` (none on object
        stores, where an unfinished upload never becomes an object)."""
        return []

    def read_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Whole objects by key; absent keys are left out."""
        out = {}
        for k in keys:
            try:
                out[k] = self.read(k)
            except FileNotFoundError:
                pass
        return out


class LocalBackend(Backend):
    """A folder on a local filesystem. Atomicity by write-to-temp + rename; exclusivity by link()."""

    is_local = True

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.parent / f".tmp-{uuid.uuid4().hex}"

    def read(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        out = []
        for key, start, end in ranges:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                out.append(f.read(end - start))
        return out

    def _write_tmp(self, path: Path, chunks: Iterable[bytes]) -> Path:
        tmp = self._tmp(path)
        try:
            with open(tmp, "wb") as f:
                for c in chunks:
                    f.write(c)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def write(self, key: str, data: bytes) -> None:
        self.write_chunks(key, (data,))

    def open_spool(self, prefix: str) -> Spool:
        return _FileSpool(self, self._tmp(self._path(f"{prefix}/x")))

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        os.replace(self._write_tmp(path, chunks), path)

    def write_new(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        tmp = self._write_tmp(path, (data,))
        try:
            os.link(tmp, path)  # atomic and exclusive: fails if path exists
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, local_path: str, key: str, callback: Callable[[int], None] | None = None) -> None:
        path = self._path(key)
        tmp = self._tmp(path)
        try:
            shutil.copyfile(local_path, tmp)  # copy_file_range/sendfile where the kernel has it
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        if callback:
            callback(os.path.getsize(path))

    def get_file(self, key: str, local_path: str, callback: Callable[[int], None] | None = None) -> None:
        shutil.copyfile(self._path(key), local_path)
        if callback:
            callback(os.path.getsize(local_path))

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def mtime(self, key: str) -> float:
        return self._path(key).stat().st_mtime

    def _walk(self, prefix: str, temp: bool) -> list[str]:
        """Keys under ``prefix``: finished objects, or (``temp``) leftovers of interrupted writes."""
        base = self._path(prefix) if prefix else self.root
        out: list[str] = []
        if not base.is_dir():
            return out
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            lead = "" if rel == "." else rel + "/"
            out.extend(f"{lead}{f}" for f in files if f.startswith(".tmp-") == temp)
        return sorted(out)

    def list(self, prefix: str) -> list[str]:
        return self._walk(prefix, temp=False)

    def list_temp(self, prefix: str) -> list[str]:
        return self._walk(prefix, temp=True)

    def delete(self, keys: Iterable[str]) -> None:
        for k in keys:
            self._path(k).unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")


class _FileSpool(Spool):
    """Streams pieces to a temp file beside their final place (no memory held); ``commit``
    fsyncs and renames it."""

    def __init__(self, backend: LocalBackend, tmp: Path):
        self._backend_local = backend
        self._tmp_path = tmp
        self._file = open(tmp, "wb", buffering=1 << 20)

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self, key: str) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        path = self._backend_local._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp_path, path)

    def abort(self) -> None:
        self._file.close()
        self._tmp_path.unlink(missing_ok=True)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, TimeoutError, ConnectionError)) and not isinstance(
        exc, (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)
    )


class FsspecBackend(Backend):
    """Any fsspec filesystem (s3, gs, az/abfs, ...). Put-if-absent uses ``pipe_file(mode="create")``,
    which s3fs sends as ``If-None-Match: *``, gcsfs as ``ifGenerationMatch=0`` and adlfs as an
    upload with ``overwrite=False``; each raises ``FileExistsError`` when the object exists."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        import fsspec

        self.url = redact_url(url)
        # Other hosts write to the same store: a cached listing would hide their objects.
        opts = {**(storage_options or {}), "use_listings_cache": False, "skip_instance_cache": True}
        self.fs, root = fsspec.core.url_to_fs(url, **opts)
        self.root = root.rstrip("/")
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def _retry(self, fn: Callable[[], Any]) -> Any:
        for attempt in range(_TRANSIENT_RETRIES):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - filtered just below
                if not _transient(exc) or attempt == _TRANSIENT_RETRIES - 1:
                    if _transient(exc):
                        raise StorageError(f"{self.url}: {type(exc).__name__} after retries") from exc
                    raise
                time.sleep(min(8.0, 0.2 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def read(self, key: str) -> bytes:
        return self._retry(lambda: self.fs.cat_file(self._path(key)))

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        # An empty range is answered locally: S3 returns the whole object for it, Azure refuses it.
        wanted = [(i, r) for i, r in enumerate(ranges) if r[2] > r[1]]
        out = [b""] * len(ranges)
        if wanted:
            paths = [self._path(k) for _, (k, _, _) in wanted]
            got = self._retry(
                lambda: self.fs.cat_ranges(paths, [s for _, (_, s, _) in wanted], [e for _, (_, _, e) in wanted], on_error="raise")
            )
            for (i, _), data in zip(wanted, got):
                out[i] = data
        return out

    def read_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        paths = {self._path(k): k for k in keys}
        got = self._retry(lambda: self.fs.cat(list(paths), on_error="return"))
        out = {}
        for p, v in got.items():
            if isinstance(v, FileNotFoundError):
                continue
            if isinstance(v, BaseException):
                raise v
            out[paths.get(p) or paths[self.fs._strip_protocol(p)]] = v  # fsspec may return either form
        return out

    def write(self, key: str, data: bytes) -> None:
        self._retry(lambda: self.fs.pipe_file(self._path(key), data))

    def write_new(self, key: str, data: bytes) -> bool:
        try:
            self._retry(lambda: self.fs.pipe_file(self._path(key), data, mode="create"))
            return True
        except FileExistsError:
            return False

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        with self.fs.open(self._path(key), "wb") as f:  # multipart: invisible until close
            for c in chunks:
                f.write(c)

    def put_file(self, local_path: str, key: str, callback: Callable[[int], None] | None = None) -> None:
        self._retry(lambda: self.fs.put_file(local_path, self._path(key), callback=_byte_callback(callback)))

    def get_file(self, key: str, local_path: str, callback: Callable[[int], None] | None = None) -> None:
        self._retry(lambda: self.fs.get_file(self._path(key), local_path, callback=_byte_callback(callback)))

    def exists(self, key: str) -> bool:
        path = self._path(key)
        self.fs.invalidate_cache(path)
        try:
            self.fs.info(path)
            return True
        except FileNotFoundError:
            return False

    def size(self, key: str) -> int:
        return int(self._retry(lambda: self.fs.info(self._path(key)))["size"])

    def mtime(self, key: str) -> float:
        info = self._retry(lambda: self.fs.info(self._path(key)))
        for field in ("LastModified", "last_modified", "updated", "mtime", "created"):
            v = info.get(field)
            if v is None:
                continue
            if isinstance(v, (int, float)):
                return float(v)
            if isinstance(v, str):
                from datetime import datetime

                return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            return v.timestamp()
        return 0.0

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        self.fs.invalidate_cache(base)
        try:
            found = self._retry(lambda: self.fs.find(base, withdirs=False))
        except FileNotFoundError:
            return []
        n = len(self.root) + 1
        return sorted(self.fs._strip_protocol(p)[n:] for p in found)

    def delete(self, keys: Iterable[str]) -> None:
        paths = [self._path(k) for k in keys]
        if paths:
            try:
                self._retry(lambda: self.fs.rm(paths))
            except FileNotFoundError:
                pass

    def open(self, key: str) -> BinaryIO:
        return self.fs.open(self._path(key), "rb")

    def ensure_root(self) -> None:
        """Create the bucket/container if it is missing (object stores need it to exist)."""
        bucket = self.root.split("/", 1)[0]
        try:
            if not self.fs.exists(bucket):
                self.fs.mkdir(bucket)
        except FileExistsError:
            pass


def _byte_callback(advance: Callable[[int], None] | None) -> Any:
    """An fsspec Callback that forwards byte increments to ``advance`` and ignores per-file sizes,
    so one overall progress bar can span many transfers."""
    from fsspec.callbacks import Callback

    class _Forward(Callback):
        def set_size(self, size: int | None) -> None:
            pass

        def call(self, *args: Any, **kwargs: Any) -> None:
            if advance and self.value > self._sent:
                advance(self.value - self._sent)
            self._sent = self.value

    cb = _Forward()
    cb._sent = 0
    return cb


def open_backend(url: str, storage_options: dict[str, Any] | None = None) -> Backend:
    """The backend for a store URL: a local path / ``file://`` URL, or any fsspec URL."""
    if "://" not in url or url.startswith("file://"):
        path = url[len("file://"):] if url.startswith("file://") else url
        if not path:
            raise InvalidPathError("empty store path")
        return LocalBackend(path)
    try:
        return FsspecBackend(url, storage_options)
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}.get(scheme, "all")
        raise StorageError(f"{scheme}:// stores need an extra package: pip install 'dagstore[{extra}]'") from exc
    except ValueError as exc:
        raise InvalidPathError(f"unsupported store URL {redact_url(url)!r}: {exc}") from exc
