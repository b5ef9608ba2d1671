"""Any fsspec filesystem as a backend (s3, gs, az/abfs, ...).

Every call that talks to the network goes through ``retry.retry_call`` (transient errors are
retried with backoff); ``open`` returns a lazy file whose reads fsspec itself retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, BinaryIO

import fsspec
from fsspec.callbacks import Callback

from ...secrets import redact_url
from . import conditional
from .base import Backend, check_key
from .retry import retry_call


class FsspecBackend(Backend):
    """Any fsspec filesystem (s3, gs, az/abfs, ...). Put-if-absent uses ``pipe_file(mode="create")``,
    which s3fs sends as ``If-None-Match: *``, gcsfs as ``ifGenerationMatch=0`` and adlfs as an
    upload with ``overwrite=False``; each raises ``FileExistsError`` when the object exists."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = redact_url(url)
        # Other hosts write to the same store: a cached listing would hide their objects.
        opts = {**(storage_options or {}), "use_listings_cache": False, "skip_instance_cache": True}
        self.fs, root = fsspec.core.url_to_fs(url, **opts)
        self.root = root.rstrip("/")
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self._conditional = True  # False once the store refused a conditional write (``replace_if``)

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def _retry(self, fn: Callable[[], Any]) -> Any:
        return retry_call(fn, self.url)

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

    def replace_if(self, key: str, data: bytes, unchanged: Callable[[bytes | None], bool]) -> bool:
        """Compare and swap on S3, GCS and Azure: the object is read with its version token and
        replaced only if it still holds that version (``conditional``), so a write by another
        process or host since the read makes this return False, nothing written. An absent key
        is created with put-if-absent. Other filesystems, and an S3-compatible server that does
        not implement ``If-Match`` on PUT (warned once, remembered): ``Backend.replace_if`` (two steps)."""
        steps = conditional.versioned(self.fs) if self._conditional else None
        if steps is None:
            return super().replace_if(key, data, unchanged)
        path = self._path(key)
        try:
            current, token = self._retry(lambda: conditional.run(self.fs, steps.read, path))
        except FileNotFoundError:
            return unchanged(None) and self.write_new(key, data)
        if not unchanged(current):
            return False
        try:
            return bool(self._retry(lambda: conditional.run(self.fs, steps.write, path, data, token)))
        except conditional.Unsupported:
            self._conditional = False
            conditional.two_steps(self.url)
            return super().replace_if(key, data, unchanged)

    def write_chunks(self, key: str, chunks: Iterable[bytes]) -> None:
        pieces = list(chunks)  # kept, so that a retry can send them again (a pack commit)

        def send() -> None:
            with self.fs.open(self._path(key), "wb") as f:  # multipart: invisible until close
                for c in pieces:
                    f.write(c)

        self._retry(send)

    def put_file(self, local_path: str, key: str, callback: Callable[[int], None] | None = None) -> None:
        self._retry(lambda: self.fs.put_file(local_path, self._path(key), callback=_byte_callback(callback)))

    def get_file(self, key: str, local_path: str, callback: Callable[[int], None] | None = None) -> None:
        self._retry(lambda: self.fs.get_file(self._path(key), local_path, callback=_byte_callback(callback)))

    def exists(self, key: str) -> bool:
        path = self._path(key)
        self.fs.invalidate_cache(path)
        try:
            self._retry(lambda: self.fs.info(path))
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
            if not self._retry(lambda: self.fs.exists(bucket)):
                self._retry(lambda: self.fs.mkdir(bucket))
        except FileExistsError:
            pass


def _byte_callback(advance: Callable[[int], None] | None) -> Any:
    """An fsspec Callback that forwards byte increments to ``advance`` and ignores per-file sizes,
    so one overall progress bar can span many transfers."""
    class _Forward(Callback):
        _sent = 0

        def set_size(self, size: int | None) -> None:
            pass

        def call(self, *args: Any, **kwargs: Any) -> None:
            if advance and self.value > self._sent:
                advance(self.value - self._sent)
            self._sent = self.value

    return _Forward()

