"""Every server fixture of the test suite, registered once by ``pytest_plugins`` in tests/conftest.py.

Each server is real, started lazily once per session and stopped by its own PID; one that
cannot start makes its tests error, never skip. Test modules request these by name only.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from .delivery import ReceiverClient, blackhole_listener, start_kafka, start_receiver
from .files import start_asyncssh, start_ftp, start_sshd
from .process import ServerProcess, new_folder
from .sql import start_mariadb, start_postgres
from .storage import STARTERS, Server

S = TypeVar("S", Server, ServerProcess)


def _serve(start: Callable[[], S]) -> Iterator[S]:
    srv = start()                        # raises ServerStartError -> the test errors
    try:
        yield srv
    finally:
        srv.stop()


# ---------------------------------------------------------------- object stores (store_url)
@pytest.fixture(scope="session")
def s3_server() -> Iterator[Server]:
    """moto S3 server: .protocol "s3", .storage_options, .env, .new_root()."""
    yield from _serve(STARTERS["s3"])


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[Server]:
    """fake-gcs-server: .protocol "gs", .storage_options, .env, .new_root()."""
    yield from _serve(STARTERS["gcs"])


@pytest.fixture(scope="session")
def azure_server() -> Iterator[Server]:
    """Azurite blob server: .protocol "az", .storage_options, .env, .new_root()."""
    yield from _serve(STARTERS["azure"])


# ---------------------------------------------------------------- SQL and file servers (.info)
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ServerProcess]:
    """PostgreSQL (apt binaries), password auth."""
    yield from _serve(start_postgres)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[ServerProcess]:
    """MariaDB (apt mariadb-server), user `dag` with a password, database `dag`."""
    yield from _serve(start_mariadb)


@pytest.fixture(scope="session")
def sshd_session() -> Iterator[ServerProcess]:
    """OpenSSH sshd serving SFTP with key auth (its host key not yet known to the test's user)."""
    yield from _serve(start_sshd)


@pytest.fixture(scope="session")
def sftp_password_session() -> Iterator[ServerProcess]:
    """asyncssh SFTP server with password auth (chrooted; host key not yet known)."""
    yield from _serve(start_asyncssh)


def _trust(srv: ServerProcess) -> ServerProcess:
    """Add the server's host key to the test's ~/.ssh/known_hosts, as its user would."""
    ssh = Path(os.environ["HOME"]) / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    with open(ssh / "known_hosts", "a") as f:
        f.write(srv.info["known_hosts"] + "\n")
    return srv


@pytest.fixture
def sshd_server(isolated_env: Path, sshd_session: ServerProcess) -> ServerProcess:
    """The sshd, its host key in this test's ~/.ssh/known_hosts."""
    return _trust(sshd_session)


@pytest.fixture
def sftp_password_server(isolated_env: Path, sftp_password_session: ServerProcess) -> ServerProcess:
    """The asyncssh server, its host key in this test's ~/.ssh/known_hosts."""
    return _trust(sftp_password_session)


@pytest.fixture(scope="session")
def ftp_server() -> Iterator[ServerProcess]:
    """pyftpdlib FTP server with a user and password."""
    yield from _serve(start_ftp)


# ---------------------------------------------------------------- webhooks and Kafka
@pytest.fixture(scope="session")
def receiver() -> Iterator[ReceiverClient]:
    """The session's webhook receiver (use ``webhook`` for a clean one per test)."""
    folder = new_folder("receiver-bodies")
    srv, url = start_receiver(folder)
    try:
        yield ReceiverClient(url)
    finally:
        srv.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def webhook(receiver: ReceiverClient) -> Iterator[ReceiverClient]:
    """The session receiver, reset for this test (empty log, answers 200)."""
    receiver.reset()
    yield receiver
    receiver.reset()  # frees any hung handler


def _broker(rtt_ms: int) -> Iterator[str]:
    srv, bootstrap = start_kafka(rtt_ms)
    try:
        yield bootstrap
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """bootstrap.servers of a mock Kafka cluster (acknowledges at once)."""
    yield from _broker(0)


@pytest.fixture(scope="session")
def kafka_slow() -> Iterator[str]:
    """A mock cluster whose every answer takes 60 s: produce requests are never acknowledged in time."""
    yield from _broker(60_000)


@pytest.fixture
def blackhole() -> Iterator[str]:
    """host:port of a TCP listener that accepts connections and never answers."""
    with blackhole_listener() as address:
        yield address
