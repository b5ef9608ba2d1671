"""``sftp`` connectors: fsspec's SFTP filesystem (paramiko), password or key file."""

from __future__ import annotations

from typing import Any

from ._extras import need
from .files import FileConnector
from .registry import register
from ..secrets import Scrubber

TIMEOUT = 10


@register
class SftpConnector(FileConnector):
    type = "sftp"
    schemes = ("sftp", "ssh")
    required = ("host",)

    def open_fs(self, sc: Scrubber) -> Any:
        need("paramiko", "sftp")
        # the class itself: installing `sshfs` re-points fsspec's "sftp" name to another implementation
        from fsspec.implementations.sftp import SFTPFileSystem

        kw: dict[str, Any] = {"look_for_keys": False, "allow_agent": False, "timeout": TIMEOUT,
                              "banner_timeout": TIMEOUT, "auth_timeout": TIMEOUT}
        if self.spec.get("password"):
            kw["password"] = sc.resolve(self.spec["password"])
            sc.add(kw["password"])
        if self.spec.get("key_file"):
            kw["key_filename"] = sc.resolve(self.spec["key_file"])
        return SFTPFileSystem(host=self.spec["host"], port=int(self.spec.get("port") or 22),
                              username=sc.resolve(self.spec.get("username") or ""), skip_instance_cache=True, **kw)

    def close_fs(self, fs: Any) -> None:
        fs.client.close()
