"""An asyncssh SFTP server with password auth, chrooted to ROOT (a helper process of files.py).

    python asyncssh_sftp.py PORT ROOT USER        (the password in $ASFTP_PASSWORD, the host key file in $ASFTP_HOST_KEY)
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys


def main(port: str, root: str, user: str) -> None:
    import asyncssh

    password = os.environ["ASFTP_PASSWORD"]

    class Server(asyncssh.SSHServer):  # type: ignore[misc]
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, pw: str) -> bool:
            return username == user and pw == password

    async def serve() -> None:
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(s, stop.set)
        srv = await asyncssh.create_server(
            Server, "127.0.0.1", int(port), server_host_keys=[asyncssh.read_private_key(os.environ["ASFTP_HOST_KEY"])],
            allow_scp=False, sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root.encode()))
        await stop.wait()
        srv.close()
        await srv.wait_closed()

    asyncio.run(serve())


if __name__ == "__main__":
    main(*sys.argv[1:])
