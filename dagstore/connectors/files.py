"""The shared base of file-server and object-store connectors (fsspec filesystems)."""

from __future__ import annotations

import logging
import posixpath
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from .base import BaseConnector
from .errors import ConnectorError
from ..errors import DagstoreError
from ..secrets import Scrubber


def _drop(record: logging.LogRecord) -> bool:
    return False


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Silence these loggers while an operation runs (gcsfs logs a whole traceback when it
    gives up retrying; the operation's own error says what failed, in one line)."""
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addFilter(_drop)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(_drop)


class FileConnector(BaseConnector):
    """A folder on a file server or in a bucket: ``filesystem()`` gives (fsspec fs, root)."""

    schemes: ClassVar[tuple[str, ...]] = ()
    # libraries that log a traceback for a failure this connector reports as its one-line error
    quiet_loggers: ClassVar[tuple[str, ...]] = ()

    def normalize(self) -> None:
        url = self.spec.get("url")
        if url:
            parts = urllib.parse.urlsplit(str(url))
            if parts.scheme not in self.schemes:
                raise ConnectorError(f"connector {self.name!r} ({self.type}): url must start with "
                                     f"{' or '.join(s + '://' for s in self.schemes)}")
            self.from_url(parts)
        if "port" in self.spec:
            try:
                self.spec["port"] = int(self.spec["port"])
            except (TypeError, ValueError):
                raise ConnectorError(f"connector {self.name!r}: port must be a number") from None

    def from_url(self, parts: urllib.parse.SplitResult) -> None:
        """Fill host/port/root/username from a URL (keys given explicitly win)."""
        if parts.hostname:
            self.spec.setdefault("host", parts.hostname)
        if parts.port:
            self.spec.setdefault("port", parts.port)
        if parts.username:
            self.spec.setdefault("username", urllib.parse.unquote(parts.username))
        if parts.password:
            self.spec.setdefault("password", urllib.parse.unquote(parts.password))
        if parts.path and parts.path != "/":
            self.spec.setdefault("root", parts.path)
        del self.spec["url"]

    @property
    def root(self) -> str:
        return str(self.spec.get("root") or "/")

    def where(self) -> str:
        host, port = self.spec.get("host", ""), self.spec.get("port")
        user = self.spec.get("username")
        return f"{self.schemes[0]}://{user + '@' if user else ''}{host}{':' + str(port) if port else ''}{self.root}"

    def open_fs(self, sc: Scrubber) -> Any:
        """A fresh (uncached) fsspec filesystem with the secrets resolved."""
        raise NotImplementedError

    def close_fs(self, fs: Any) -> None:
        """Close the connection of a filesystem from ``open_fs``."""

    @contextmanager
    def filesystem(self, sc: Scrubber | None = None) -> Iterator[tuple[Any, str]]:
        """(filesystem, root path) for one operation; the connection is closed afterwards."""
        sc = sc or self.scrubber()
        with _quiet(self.quiet_loggers):
            try:
                fs = self.open_fs(sc)
            except DagstoreError:  # ConnectorError, SecretError
                raise
            except Exception as exc:
                raise self.error(sc, "connect", exc) from None
            try:
                yield fs, self.root
            finally:
                try:
                    self.close_fs(fs)
                except Exception:  # closing a broken connection
                    pass

    def join(self, path: str) -> str:
        """``path`` under the root; refuses ``..`` escapes."""
        rel = posixpath.normpath("/" + str(path).lstrip("/"))
        if rel.startswith("/.."):
            raise ConnectorError(f"path {path!r} escapes the root of connector {self.name!r}")
        return posixpath.join(self.root.rstrip("/") or "/", rel.lstrip("/")) if rel != "/" else self.root

    def count_root(self, fs: Any, root: str) -> int:
        """Entries in the root (FileNotFoundError when it does not exist)."""
        return len(fs.ls(root, detail=True))

    def _test(self, sc: Scrubber) -> str:
        with self.filesystem(sc) as (fs, root):
            try:
                n = self.count_root(fs, root)
            except Exception as exc:
                raise self.error(sc, f"list {root}", exc) from None
            if self.read_only:
                return f"connector {self.name!r}: listed {root} ({n} entries; read-only, no probe written)"
            probe = posixpath.join(root, f".dagstore-probe-{uuid.uuid4().hex[:12]}")
            try:
                fs.pipe_file(probe, b"dagstore connector probe\n")
            except Exception as exc:
                raise self.error(sc, f"write a probe file in {root}", exc) from None
            try:
                fs.rm_file(probe)
            except Exception as exc:
                raise self.error(sc, f"delete the probe file {probe}", exc) from None
        return f"connector {self.name!r}: listed {root} ({n} entries), wrote and deleted a probe file"
