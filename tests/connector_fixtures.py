"""Session fixtures for the connector tests (a pytest plugin, registered in conftest.py).

Each yields a running server from connector_servers.py (`.info` has host, port, user names,
the random password, ...). A server that cannot start makes its tests error, never skip.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest
from connector_servers import (ServerProc, start_asyncssh, start_ftp, start_mariadb, start_postgres,
                               start_sshd)


def _serve(start: Callable[[], ServerProc]) -> Iterator[ServerProc]:
    srv = start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ServerProc]:
    """PostgreSQL (apt binaries), password auth."""
    yield from _serve(start_postgres)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[ServerProc]:
    """MariaDB (apt mariadb-server), user `dag` with a password, database `dag`."""
    yield from _serve(start_mariadb)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[ServerProc]:
    """OpenSSH sshd serving SFTP with key auth."""
    yield from _serve(start_sshd)


@pytest.fixture(scope="session")
def sftp_password_server() -> Iterator[ServerProc]:
    """asyncssh SFTP server with password auth (chrooted)."""
    yield from _serve(start_asyncssh)


@pytest.fixture(scope="session")
def ftp_server() -> Iterator[ServerProc]:
    """pyftpdlib FTP server with a user and password."""
    yield from _serve(start_ftp)
