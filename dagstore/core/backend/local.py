"""A local folder as a backend: plain ``os`` calls, atomic by write-to-temp + rename."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..._atomic import temp_path, write_temp
from .base import Backend, Spool, check_key


class LocalBackend(Backend):
    """A folder on a local filesystem. Atomicity by write-to-temp + rename; exclusivity by link()."""

    is_local = True

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp(self, path: Path) -> Path:
        return temp_path(path)

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
        return write_temp(path, chunks, fsync=True)

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

