"""``sftp`` connectors: fsspec's SFTP filesystem (paramiko), password or key file; the
server's host key is verified (``hostkeys.py``)."""

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
    extra_keys = frozenset({"known_hosts", "host_key_fingerprint"})

    def open_fs(self, sc: Scrubber) -> Any:
        need("paramiko", "sftp")
        # the class itself: installing `sshfs` re-points fsspec's "sftp" name to another implementation
        from fsspec.implementations.sftp import SFTPFileSystem

        from .hostkeys import VerifyHostKey

        port = int(self.spec.get("port") or 22)
        policy = VerifyHostKey(port, self.spec.get("known_hosts"), self.spec.get("host_key_fingerprint"))
        kw: dict[str, Any] = {"look_for_keys": False, "allow_agent": False, "timeout": TIMEOUT,
                              "banner_timeout": TIMEOUT, "auth_timeout": TIMEOUT, "host_key_policy": policy}
        if self.spec.get("password"):
            kw["password"] = sc.resolve(self.spec["password"])
            sc.add(kw["password"])
        if self.spec.get("key_file"):
            kw["key_filename"] = sc.resolve(self.spec["key_file"])
        return SFTPFileSystem(host=self.spec["host"], port=port,
                              username=sc.resolve(self.spec.get("username") or ""), skip_instance_cache=True, **kw)

    def close_fs(self, fs: Any) -> None:
        fs.client.close()
