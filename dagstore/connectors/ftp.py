"""``ftp`` connectors: fsspec's FTP filesystem (stdlib ftplib)."""

from __future__ import annotations

from typing import Any

from fsspec.implementations.ftp import FTPFileSystem

from .files import FileConnector
from .registry import register
from ..secrets import Scrubber

TIMEOUT = 10


@register
class FtpConnector(FileConnector):
    type = "ftp"
    schemes = ("ftp",)
    required = ("host",)

    def open_fs(self, sc: Scrubber) -> Any:
        password = sc.resolve(self.spec.get("password") or "")
        sc.add(password)
        return FTPFileSystem(host=self.spec["host"], port=int(self.spec.get("port") or 21),
                             username=sc.resolve(self.spec.get("username") or "anonymous"), password=password,
                             timeout=TIMEOUT, skip_instance_cache=True)

    def close_fs(self, fs: Any) -> None:
        fs.ftp.close()
