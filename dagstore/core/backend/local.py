"""A local folder as a backend: plain ``os`` calls, atomic by write-to-temp + rename."""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from ..._atomic import atomic_write, replace_file, temp_path, write_temp
from ...errors import DagstoreError, InvalidPathError, StorageError
from .base import Backend, FileSpool, Spool, check_key

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_TMPFILE = getattr(os, "O_TMPFILE", 0) if os.path.isdir("/proc/self/fd") else 0
_CHUNK = 8 << 20  # a large object is copied, and its writeback started, this many bytes at a time
_SYNC_FILE_RANGE_WRITE = 2  # start writeback of the range's dirty pages, do not wait (linux/fs.h)
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
if _LIBC is not None:
    _LIBC.sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


class LocalBackend(Backend):
    """A folder on a local filesystem. Atomicity by write-to-temp + rename; exclusivity by link()."""

    is_local = True

    def __init__(self, root: str | os.PathLike[str], writeback: bool = True):
        self.root = Path(root).expanduser().absolute()
        self.writeback = writeback  # spool writes start their writeback (False: a cache folder's, never committed)
        self.url = str(self.root)
        for p in (self.root, *self.root.parents):  # the nearest existing path must be a folder
            if p.exists():
                if not p.is_dir():
                    raise InvalidPathError(f"store {self.url}: {p} is a file, not a folder")
                break

    @contextlib.contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        """A failed write (a full disk, a read-only folder...) is one StorageError saying which
        object and that nothing was published (a version appears only with its record)."""
        try:
            yield
        except DagstoreError:
            raise
        except OSError as exc:
            why = exc.strerror or str(exc)
            hint = "free space, then retry" if exc.errno in _FULL else "fix that, then retry"
            raise StorageError(f"{self.url}: cannot write {key}: {why}; nothing was published ({hint})") from exc

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> str:
        return str(self._path(key))

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

    def write(self, key: str, data: bytes) -> None:
        self.write_chunks(key, (data,))

    def open_spool(self, prefix: str) -> Spool:
        with self._writing(f"{prefix}/"):
            return _FileSpool(self, temp_path(self._path(f"{prefix}/x")))

    def open_file_spool(self, prefix: str) -> FileSpool | None:
        if not _TMPFILE:  # unnamed files and /proc/self/fd (to name one): Linux only
            return None
        folder = self._path(f"{prefix}/x").parent
        try:  # O_APPEND: the owner's writes and the pack trailer's always go to the end
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder, _TMPFILE | os.O_RDWR | os.O_APPEND | os.O_CLOEXEC, 0o666)
        except OSError:  # no unnamed files here (NFS, FUSE...) or a read-only store
            return None
        return _UnnamedSpool(self, fd)

    def hold_file_spool(self, spool: FileSpool, key: str) -> FileSpool | None:
        if isinstance(spool, _HeldSpool):  # held already (taken over): under its name, not a second one
            return spool
        if not isinstance(spool, _UnnamedSpool) or spool.fd < 0:
            return None
        path = self._path(key)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # as commit names a spool: the file gets the name, not /proc's link
            os.link(f"/proc/self/fd/{spool.fd}", path.name, dst_dir_fd=folder)
        except OSError:
            return None
        finally:
            os.close(folder)
        held = _HeldSpool(self, spool.fd, key)
        spool.fd = -1  # its descriptor is the held spool's now
        return held

    def open_held_spool(self, key: str) -> FileSpool | None:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:  # one taker at a time (a pack's trailer is appended to the file), and still under its name
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not _names(path, fd):
                raise OSError("not a regular file, or committed by another taker")
            os.utime(fd)  # taken now: gc's --min-age counts from here
        except OSError:
            os.close(fd)
            return None
        return _HeldSpool(self, fd, key)

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        with self._writing(key):
            atomic_write(path, chunks, fsync=True)

    def write_new(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        with self._writing(key):
            tmp = write_temp(path, (data,), fsync=True)
            try:
                os.link(tmp, path)  # atomic and exclusive: fails if path exists
                return True
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)

    def replace_if(self, key: str, data: bytes, unchanged: Callable[[bytes | None], bool]) -> bool:
        """Compare and swap: the file ``key`` names is locked (flock) while it is read, checked and
        replaced by a rename, so that two writers never both see it unchanged. One replaced
        while this waited for its lock is read again under its new name."""
        path = self._path(key)
        while True:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except FileNotFoundError:
                return unchanged(None) and self.write_new(key, data)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed, after the rename
                if _names(path, fd):
                    with open(fd, "rb", closefd=False) as f:  # read at its size: no 8 MB buffer (_contents)
                        current = f.read()
                    if not unchanged(current):
                        return False
                    self.write(key, data)
                    return True
            finally:
                os.close(fd)

    def put_file(self, local_path: str, key: str, callback: Callable[[int], None] | None = None) -> None:
        path = self._path(key)
        with self._writing(key):
            tmp = temp_path(path)
            try:
                _copy_durable(local_path, tmp)  # durable before it is named (docs/format.md, rule 2)
                replace_file(tmp, path)
            except OSError as exc:
                if exc.errno not in _FULL and exc.filename == local_path:  # the source, not the store
                    raise InvalidPathError(f"{local_path}: cannot read: {exc.strerror}") from None
                raise
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

    def list_temp(self, prefix: str) -> builtins.list[str]:
        return self._walk(prefix, temp=True)

    def delete(self, keys: Iterable[str]) -> None:
        for k in keys:
            self._path(k).unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")



def _copy_durable(src: str, dst: Path) -> None:
    """Copy the file ``src`` into the new file ``dst`` and fsync it."""
    with open(src, "rb", buffering=0) as fin, open(dst, "wb", buffering=0) as fout:
        if not _kernel_copy(fin.fileno(), fout.fileno()):
            shutil.copyfileobj(fin, fout, _CHUNK)
        os.fsync(fout.fileno())


def _kernel_copy(src: int, dst: int) -> bool:
    """Copy by the kernel (``sendfile``: no user-space buffer, no GIL) a chunk at a time, starting
    each chunk's writeback as soon as it is copied (``sync_file_range``), so the disk writes while
    the copy goes on and the fsync that follows waits for the last chunks only, not for the whole
    file. False, nothing copied, off Linux or where the kernel refuses the first chunk (a full
    store is raised)."""
    if _LIBC is None:
        return False
    done = 0
    try:
        while n := os.sendfile(dst, src, None, _CHUNK):
            _LIBC.sync_file_range(dst, done, n, _SYNC_FILE_RANGE_WRITE)  # advisory: the fsync decides
            done += n
    except OSError as exc:
        if done or exc.errno in _FULL:  # as shutil: any other refusal of the first chunk falls back (EPERM of a sandbox...)
            raise
        return False
    return True


class _FileSpool(Spool):
    """Streams pieces to a temp file beside their final place (no memory held); ``commit``
    fsyncs and renames it."""

    def __init__(self, backend: LocalBackend, tmp: Path):
        self._backend_local = backend
        self._tmp_path = tmp
        self._file = open(tmp, "wb", buffering=1 << 20)

    def write(self, data: bytes) -> None:
        with self._backend_local._writing("a new pack"):
            self._file.write(data)

    def write_many(self, pieces: Sequence[bytes | memoryview]) -> None:
        """Each piece through the file's 1 MiB buffer: no joined copy of a batch (for W3's
        5,000 files that copy, 14 MiB at a time, doubled the cost of writing its packs)."""
        with self._backend_local._writing("a new pack"):
            for piece in pieces:
                self._file.write(piece)

    def commit(self, key: str) -> None:
        with self._backend_local._writing(key):
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            path = self._backend_local._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(self._tmp_path, path)

    def abort(self) -> None:
        """Drop the temp file, even when closing it fails (a full disk fails the last flush)."""
        try:
            self._file.close()
        except OSError:
            pass
        finally:
            self._tmp_path.unlink(missing_ok=True)


class _UnnamedSpool(FileSpool):
    """An ``O_TMPFILE`` file in the store: ``commit`` fsyncs it and links it under a ``.tmp-``
    name, then renames that into place (as ``_FileSpool``: a crash between the two leaves a
    ``.tmp-`` file that gc sweeps); until then it has no name at all. Each write starts its own
    writeback (``sync_file_range``, as ``_kernel_copy``): a spool filled by ``add_files`` is
    mostly on the disk by the time upload's fsync asks for it."""

    def __init__(self, backend: LocalBackend, fd: int):
        self._backend_local = backend
        self.fd = fd
        self._size = 0

    def write(self, data: bytes) -> None:
        self.write_many((data,))

    def write_many(self, pieces: Sequence[bytes | memoryview]) -> None:
        start = self._size
        with self._backend_local._writing("a new pack"):
            for piece in pieces:
                view = memoryview(piece)
                while view:
                    n = os.write(self.fd, view)
                    view = view[n:]
                    self._size += n
        if _LIBC is not None and self._size > start and self._backend_local.writeback:
            _LIBC.sync_file_range(self.fd, start, self._size - start, _SYNC_FILE_RANGE_WRITE)  # advisory: commit's fsync decides

    def commit(self, key: str) -> None:
        path = self._backend_local._path(key)
        with self._backend_local._writing(key):
            os.fsync(self.fd)
            tmp = temp_path(path)
            folder = os.open(tmp.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:  # a folder descriptor makes this linkat(..., AT_SYMLINK_FOLLOW): the file, not /proc's link, gets the name
                os.link(f"/proc/self/fd/{self.fd}", tmp.name, dst_dir_fd=folder)
            finally:
                os.close(folder)
            replace_file(tmp, path)
        self.abort()  # named now: the descriptor is no longer needed

    def abort(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


class _HeldSpool(_UnnamedSpool):
    """One of the store's unnamed spool files given a ``.tmp-`` name (``hold_file_spool``), so
    that another process can take it over (``open_held_spool``): ``commit`` renames it into
    place; ``abort`` removes the name. If gc removed the name meanwhile (or another file is
    under it), ``commit`` writes the bytes the descriptor still holds under the key."""

    def __init__(self, backend: LocalBackend, fd: int, key: str):
        super().__init__(backend, fd)
        self._size = os.fstat(fd).st_size
        self.key, self.path = key, backend._path(key)

    def commit(self, key: str) -> None:
        path = self._backend_local._path(key)
        with self._backend_local._writing(key):
            os.fsync(self.fd)
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # swept since it was taken: written from the descriptor below
                os.rename(self.path, path)
            if not _names(path, self.fd):  # gone, or another file put under its name (a symlink...): never that one
                replace_file(write_temp(path, _contents(self.fd), fsync=True), path)
        self.fd, fd = -1, self.fd
        os.close(fd)

    def release(self) -> None:
        super().abort()

    def abort(self) -> None:
        super().abort()
        self.path.unlink(missing_ok=True)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` (not followed) is the file open as ``fd``."""
    try:
        return os.path.samestat(os.lstat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def _contents(fd: int) -> Iterator[bytes]:
    """The whole file open as ``fd``, from its start, a chunk at a time."""
    at = 0
    while chunk := os.pread(fd, _CHUNK, at):
        yield chunk
        at += len(chunk)
