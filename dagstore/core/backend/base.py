"""The backend interface: a small key/value store over a store root.

Keys are relative, '/'-separated object names ("packs/ab/abcd....pack"). Every object is
written once (``write_new``, put-if-absent) or replaced whole (``write``); a reader never
sees a partially written object. Implementations: ``local`` (plain ``os``, the fast path
for folders) and ``fsspec`` (any fsspec filesystem); only backend modules talk to storage.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from ...errors import InvalidPathError


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

    def write_many(self, pieces: Sequence[bytes | memoryview]) -> None:
        """Append ``pieces`` in order (one chunk here; one system call on local folders)."""
        self._chunks.append(b"".join(pieces))

    def commit(self, key: str) -> None:
        """Make the whole object visible under ``key`` (atomically)."""
        self._backend.write_chunks(key, self._chunks)
        self._chunks = []

    def abort(self) -> None:
        self._chunks = []


class FileSpool(Spool):
    """A spool that is an open, still unnamed file of the store's own file system (``fd``):
    its owner appends to it with ``os.write`` and reads it back by position before ``commit``
    names it or ``abort`` drops it; a process that dies first leaves nothing behind."""

    fd: int
    key = ""  # its name, once held (``Backend.hold_file_spool``)

    def release(self) -> None:
        """Close it, leaving its name if it is held (``abort`` removes that too)."""
        self.abort()


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

    def replace_if(self, key: str, data: bytes, unchanged: Callable[[bytes | None], bool]) -> bool:
        """Write ``data`` to ``key`` (create or replace) only if ``unchanged(what it holds)`` (None:
        absent); else False, nothing written. Here the check and the write are two requests: a
        write by another process between them is not seen (docs/architecture.md, Concurrency).
        Local folders, S3, GCS and Azure make it one compare and swap (their own ``replace_if``)."""
        try:
            current: bytes | None = self.read(key)
        except FileNotFoundError:
            current = None
        if not unchanged(current):
            return False
        if current is None:
            return self.write_new(key, data)
        self.write(key, data)
        return True

    def read_range(self, key: str, start: int, end: int) -> bytes:
        return self.read_ranges([(key, start, end)])[0]

    def local_path(self, key: str) -> str | None:
        """The object's path on this host's file system, which another process may read; None
        on an object store."""
        return None

    def open_spool(self, prefix: str) -> Spool:
        """A new object under ``prefix`` to write piece by piece and name at the end."""
        return Spool(self)

    def open_file_spool(self, prefix: str) -> FileSpool | None:
        """A ``FileSpool`` for a new object under ``prefix``; None where the store cannot make
        one (object stores; file systems without unnamed files): then keep the bytes elsewhere."""
        return None

    def hold_file_spool(self, spool: FileSpool, key: str) -> FileSpool | None:
        """Name ``spool`` (from ``open_file_spool``) ``key``, a temp name gc (in the cache's folder:
        ``Cache.reclaim_leftovers``) sweeps, so that a later process may take it over
        (``open_held_spool``); the returned spool replaces it (one held already is returned as it
        is, under its name). None where the store cannot (then ``spool`` is unchanged)."""
        return None

    def open_held_spool(self, key: str) -> FileSpool | None:
        """The spool ``hold_file_spool`` named ``key``, open for more writes and its ``commit``
        (its age reset, so gc leaves it for ``--min-age``); None if it is not there, or another
        process has it open (one taker at a time)."""
        return None

    def list_temp(self, prefix: str) -> builtins.list[str]:
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

