"""Where an export is written: a local folder, a ``.zip`` file, or any fsspec URL.

Every sink makes a half-written export invisible: a folder and a zip are written under a
temporary name and renamed on ``commit``; an fsspec URL gets a ``_SUCCESS`` marker last.
``abort`` removes everything written. Files are written in the order the exporter writes
them, so the same export gives the same bytes.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, NoReturn, Protocol

import fsspec

from .._atomic import replace_file, replace_folder, rmtree
from .filewriter import FileWriter
from .localtarget import LocalTarget
from ..errors import InvalidPathError, StorageError
from ..secrets import redact_url
from .view import VersionView

SUCCESS_MARKER = "_SUCCESS"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class Sink(Protocol):
    """A destination for one export's files (paths relative to the export root, '/'-separated)."""

    location: str

    def write(self, relpath: str, data: bytes) -> None: ...

    def open(self, relpath: str) -> Any:
        """A context manager giving a binary file to stream one file into."""

    def add_media(self, relpath: str, view: VersionView, path: str) -> None:
        """Put the content of the view's file ``path`` at ``relpath`` (hardlinked where possible)."""

    def commit(self) -> None: ...

    def abort(self) -> None: ...


def _check_rel(relpath: str) -> list[str]:
    parts = relpath.split("/")
    if "" in parts or "." in parts or ".." in parts or "\\" in relpath:  # also refuses "" and a leading "/"
        raise InvalidPathError(f"export path {relpath!r} escapes the export folder")
    return parts


class FolderSink:
    """A local folder, written as a sibling temporary folder and renamed into place."""

    def __init__(self, target: str, overwrite: bool = False, into: str | None = None):
        self._local: LocalTarget | None = None
        if into is None:
            self._local = LocalTarget(target, overwrite, True, True)
            self.location, self._tmp = self._local.location, self._local.tmp
            self._files = FileWriter()  # many files: made by a helper process on the other core
        else:  # a part of a fanned-out export: files go straight into ``into`` (the driver commits)
            self.location, self._tmp = into, into
            self._files = FileWriter(spawn_after=None)  # every file made before the part returns
        self._dirs: set[str] = {self._tmp}
        self._prefix = self._tmp if self._tmp.endswith("/") else self._tmp + "/"

    @property
    def staging(self) -> str:
        """The folder being written (renamed into place on ``commit``)."""
        return self._tmp

    def _dest(self, relpath: str) -> str:
        _check_rel(relpath)
        dest = self._prefix + relpath  # os.path.join(self._tmp, relpath) of a checked relative path
        folder = dest.rpartition("/")[0]
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        return dest

    def _failed(self, exc: OSError) -> NoReturn:
        """Raise ``exc``, as one line naming the target when it is about it (``LocalTarget``;
        a try/except, free when nothing fails: these are called once per file)."""
        if self._local is not None:
            self._local.reraise(exc)
        raise exc

    def write(self, relpath: str, data: bytes) -> None:
        try:
            self._files.write(self._dest(relpath), data)
        except OSError as exc:
            self._failed(exc)

    @contextmanager
    def open(self, relpath: str) -> Iterator[BinaryIO]:
        try:
            with open(self._dest(relpath), "xb") as f:
                yield f
        except OSError as exc:
            self._failed(exc)

    def add_media(self, relpath: str, view: VersionView, path: str) -> None:
        """Hardlinked from the local copy (copied from another file system, or where links are
        not allowed, and from then on)."""
        try:
            dest = self._dest(relpath)
            src = view.local_path(path)
            if src is not None:
                self._files.link(src, dest)
                return
            with view.open(path) as r, open(dest, "xb") as w:
                shutil.copyfileobj(r, w, 1 << 20)
        except OSError as exc:
            self._failed(exc)

    def commit(self) -> None:
        try:
            self._files.close()
            replace_folder(self._tmp, self.location)
        except OSError as exc:
            self._failed(exc)
        if self._local is not None:
            self._local.release()

    def abort(self) -> None:
        self._files.abort()
        if self._local is not None:
            self._local.cleanup()
        else:
            rmtree(self._tmp)


class ZipSink:
    """A ``.zip`` file streamed with the standard library: media stored, metadata deflated,
    fixed timestamps; written as a temporary sibling file and renamed into place."""

    def __init__(self, target: str, overwrite: bool = False):
        self._local = LocalTarget(target, overwrite, False, False, lambda tmp: zipfile.ZipFile(tmp, "w", allowZip64=True))
        self.location, self._tmp, self._zip = self._local.location, self._local.tmp, self._local.opened
        self._names: set[str] = set()

    def _info(self, relpath: str, size: int, compress: bool) -> zipfile.ZipInfo:
        _check_rel(relpath)
        if relpath in self._names:
            raise InvalidPathError(f"export path {relpath!r} written twice")
        self._names.add(relpath)
        info = zipfile.ZipInfo(relpath, _ZIP_DATE)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.file_size = size
        return info

    def write(self, relpath: str, data: bytes) -> None:
        with self._local.writing():
            self._zip.writestr(self._info(relpath, len(data), True), data, compresslevel=6)

    @contextmanager
    def open(self, relpath: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile() as buf:
            yield buf
            size = buf.tell()
            buf.seek(0)
            info = self._info(relpath, size, True)
            with self._local.writing(), self._zip.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as w:
                shutil.copyfileobj(buf, w, 1 << 20)

    def add_media(self, relpath: str, view: VersionView, path: str) -> None:
        src = view.local_path(path)
        with (open(src, "rb") if src else view.open(path)) as r:
            size = os.fstat(r.fileno()).st_size if src else _size(r)
            info = self._info(relpath, size, False)
            with self._local.writing(), self._zip.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as w:
                shutil.copyfileobj(r, w, 1 << 20)

    def add_local(self, relpath: str, src: str, media: bool) -> None:
        """A local file's bytes at ``relpath``: media stored, anything else deflated (as
        ``add_media`` and ``write`` store them), for a zip assembled from parts."""
        if not media:
            with open(src, "rb") as f:
                self.write(relpath, f.read())
            return
        size = os.path.getsize(src)
        with open(src, "rb") as r, self._local.writing(), self._zip.open(self._info(relpath, size, False), "w", force_zip64=size > zipfile.ZIP64_LIMIT) as w:
            shutil.copyfileobj(r, w, 1 << 20)

    def commit(self) -> None:
        with self._local.writing():
            self._zip.close()
            replace_file(self._tmp, self.location)
        self._local.release()

    def abort(self) -> None:
        try:
            self._zip.close()
        except Exception:  # noqa: BLE001 - the half-written file is removed either way
            pass
        self._local.cleanup()


def _size(f: BinaryIO) -> int:
    pos = f.tell()
    f.seek(0, io.SEEK_END)
    end = f.tell()
    f.seek(pos)
    return end


class FsspecSink:
    """Any fsspec URL (object stores included): files are written in place and ``_SUCCESS``
    last; a reader treats a prefix without ``_SUCCESS`` as absent. ``abort`` removes what was
    written."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None, overwrite: bool = False):
        self.location = redact_url(url)
        self._fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self._root = root.rstrip("/")
        self._written: list[str] = []
        try:
            existing = self._fs.exists(self._root) and bool(self._fs.ls(self._root, detail=False))
        except FileNotFoundError:
            existing = False
        except Exception as e:  # noqa: BLE001 - any backend failure becomes one clear error
            raise StorageError(f"cannot list {self.location}: {type(e).__name__}") from None
        if existing:
            if not overwrite:
                raise InvalidPathError(f"{self.location} already exists; pass overwrite=True (--overwrite on the command line) to replace it")
            self._guard(lambda: self._fs.rm(f"{self._root}/{SUCCESS_MARKER}") if self._fs.exists(f"{self._root}/{SUCCESS_MARKER}") else None)
            self._guard(lambda: self._fs.rm(self._root, recursive=True))

    def _guard(self, fn: Any) -> Any:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - backend errors carry no secrets once reduced to their type
            raise StorageError(f"writing the export to {self.location} failed: {type(e).__name__}: {_short(e)}") from None

    def _dest(self, relpath: str) -> str:
        _check_rel(relpath)
        dest = f"{self._root}/{relpath}"
        self._written.append(dest)
        return dest

    def write(self, relpath: str, data: bytes) -> None:
        dest = self._dest(relpath)
        self._guard(lambda: self._fs.pipe_file(dest, data))

    @contextmanager
    def open(self, relpath: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile() as buf:
            yield buf
            buf.seek(0)
            self.write(relpath, buf.read())

    def add_media(self, relpath: str, view: VersionView, path: str) -> None:
        dest = self._dest(relpath)
        src = view.local_path(path)
        if src:
            self._guard(lambda: self._fs.put_file(src, dest))
        else:
            with view.open(path) as r:
                data = r.read()
            self._guard(lambda: self._fs.pipe_file(dest, data))

    def commit(self) -> None:
        self._guard(lambda: self._fs.pipe_file(f"{self._root}/{SUCCESS_MARKER}", b""))

    def abort(self) -> None:
        for dest in self._written:
            try:
                self._fs.rm_file(dest)
            except Exception:  # noqa: BLE001 - best effort; without _SUCCESS the export is not visible
                pass


def _short(e: BaseException) -> str:
    return redact_url(str(e).splitlines()[0][:200]) if str(e) else ""


def open_sink(target: str | os.PathLike[str], overwrite: bool = False, storage_options: dict[str, Any] | None = None) -> Sink:
    """The sink for a target: a ``.zip`` path, a local folder, or an fsspec URL."""
    t = os.fspath(target)
    if "://" in t and not t.startswith("file://"):
        return FsspecSink(t, storage_options, overwrite)
    if t.startswith("file://"):
        t = t[len("file://"):]
    if t.lower().endswith(".zip"):
        return ZipSink(t, overwrite)
    return FolderSink(t, overwrite)
