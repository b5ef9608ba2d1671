"""SFTP host key verification, as ``ssh`` does it: the server's key must be in the user's
``~/.ssh/known_hosts`` (or the connector's ``known_hosts`` file), or match the connector's
``host_key_fingerprint`` (``SHA256:…``, as ``ssh-keygen -lf`` prints it). An unknown or
changed key refuses the connection with an error that says which."""

from __future__ import annotations

import os
from typing import Any

import paramiko

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class HostKeyError(paramiko.SSHException):
    """The server's host key is unknown or changed: the connection is refused."""


class VerifyHostKey(paramiko.MissingHostKeyPolicy):
    """A paramiko policy for a client that loaded no host keys: every key reaches it, and it
    accepts only a key that ``known_hosts`` lists for the host, or the given fingerprint."""

    def __init__(self, port: int, known_hosts: str | None = None, fingerprint: str | None = None):
        self.port = port
        self.path = os.path.expanduser(known_hosts or DEFAULT_KNOWN_HOSTS)
        self.fingerprint = fingerprint

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        entry = hostname  # paramiko names the host as known_hosts does: [host]:port off port 22
        host = hostname[1:].split("]:")[0] if hostname.startswith("[") else hostname
        got = f"{key.get_name()} {key.fingerprint}"
        if self.fingerprint:
            if key.fingerprint == self.fingerprint.strip():
                return
            raise HostKeyError(f"host key of {entry} does not match the connector's host_key_fingerprint "
                               f"{self.fingerprint.strip()} (the server sent {got}); refused")
        try:
            known = paramiko.HostKeys(self.path) if os.path.exists(self.path) else paramiko.HostKeys()
        except (OSError, paramiko.SSHException) as exc:
            raise HostKeyError(f"cannot read known hosts file {self.path}: {exc}") from None
        keys = known.lookup(entry) or {}
        if key.get_name() in keys and keys[key.get_name()] == key:
            return
        if keys:
            listed = ", ".join(f"{k.get_name()} {k.fingerprint}" for k in keys.values())
            raise HostKeyError(f"host key of {entry} has CHANGED: {self.path} lists {listed}, the server sent {got} "
                               "(a man-in-the-middle, or a reinstalled server); refused — if the change is expected, "
                               f"remove the old line (ssh-keygen -R '{entry}')")
        raise HostKeyError(f"host key of {entry} is unknown ({got} is not in {self.path}); refused — check it and add it "
                           f"(ssh-keyscan -p {self.port} {host} >> {self.path}), or set the "
                           "connector's known_hosts or host_key_fingerprint")
