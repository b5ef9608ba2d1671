"""Real local servers for the connector tests: PostgreSQL, MariaDB, OpenSSH sshd (SFTP, key
auth), an asyncssh SFTP server (password auth) and pyftpdlib (FTP).

Each runs as a child process on a free 127.0.0.1 port with a random password, and is stopped
by its own PID. Recipes and pitfalls: shared/infra/CONNECTORS.md. The binaries come from apt
(`postgresql`, `mariadb-server`, `openssh-server`), installed by `./dev test`; a missing
binary raises ConnectorServerError, so the tests that need it error (never skip).

    python tests/connector_servers.py asyncssh-sftp PORT ROOT USER PASSWORD   (helper process)
"""
from __future__ import annotations

import atexit
import contextlib
import getpass
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

IS_ROOT = os.geteuid() == 0
START_TIMEOUT = float(os.environ.get("DAGSTORE_TEST_SERVER_TIMEOUT", "60"))


class ConnectorServerError(RuntimeError):
    """A connector test server could not start; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProc:
    """A running server: its process, log, temp folder, and how clients reach it."""

    name: str
    proc: subprocess.Popen[bytes]
    base: str
    stop_signal: int = signal.SIGTERM
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def log_path(self) -> str:
        return os.path.join(self.base, "server.log")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Signal this server's PID (then SIGKILL after 10 s), stop its leftover per-connection
        children (sshd keeps serving open clients), remove its temp folder."""
        kids: list[str] = []
        if self.proc.poll() is None:
            kids = subprocess.run(["ps", "--ppid", str(self.proc.pid), "-o", "pid="],
                                  capture_output=True, text=True).stdout.split()
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in kids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGTERM)
        shutil.rmtree(self.base, ignore_errors=True)


def _demote(user: str) -> tuple[dict[str, Any], pwd.struct_passwd | None]:
    """Popen kwargs running a child as `user` when we are root (Popen(user=) execs in place, so
    the PID held is the server's own; runuser/su wrappers swallow SIGINT)."""
    if not IS_ROOT:
        return {}, None
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        pw = pwd.getpwnam("nobody")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}, pw


def _tempdir(prefix: str, pw: pwd.struct_passwd | None) -> str:
    # not pytest's tmp_path: /tmp/pytest-of-root is 0700, a demoted server cannot enter it
    d = tempfile.mkdtemp(prefix=f"dagstore-{prefix}-")
    if pw:
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def _run(name: str, cmd: list[str], ready: Callable[[], bool], base: str,
         stop_signal: int = signal.SIGTERM, **popen_kw: Any) -> ServerProc:
    """Start cmd, poll ready() every 50 ms; ConnectorServerError with the log tail on failure."""
    log = open(os.path.join(base, "server.log"), "ab")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                **popen_kw)
    except OSError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise ConnectorServerError(f"{name}: cannot start {cmd[0]}: {exc}") from None
    finally:
        log.close()
    srv = ServerProc(name, proc, base, stop_signal)
    atexit.register(srv.stop)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            break
        with contextlib.suppress(Exception):
            if ready():
                return srv
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    state = f"exited rc={proc.returncode}" if proc.poll() is not None else f"not ready after {START_TIMEOUT:.0f}s"
    msg = f"{name} server {state}: {' '.join(cmd)}\n--- log ---\n{srv.log_tail()}"
    srv.stop()
    sys.stderr.write(msg + "\n")
    raise ConnectorServerError(msg)


def _need(path: str | None, what: str) -> str:
    if not path or not os.path.exists(path):
        raise ConnectorServerError(f"{what} not found: run `./dev test` (it installs the apt packages)")
    return path


def ssh_banner(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.settimeout(2)
        return s.recv(8).startswith(b"SSH-")


# ---------------------------------------------------------------------------- PostgreSQL
def pg_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(_need(found[-1] if found else None, "PostgreSQL (apt postgresql)"))


def start_postgres() -> ServerProc:
    """PostgreSQL with password (scram) auth for user `postgres`; info: host, port, user,
    password, database, url (SQLAlchemy, no password)."""
    bindir = pg_bindir()
    kw, pw = _demote("postgres")
    if pw:
        kw["env"] = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
    base = _tempdir("pg", pw)
    password = secrets.token_hex(12)
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    if pw:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    data = os.path.join(base, "data")
    init = subprocess.run([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "scram-sha-256",
                           f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync", "--no-instructions"],
                          capture_output=True, text=True, **kw)
    os.unlink(pwfile)
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise ConnectorServerError(f"initdb failed: {init.stderr[-2000:]}")
    port = free_port()
    cmd = [f"{bindir}/postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", base,
           "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def ready() -> bool:
        return subprocess.run([f"{bindir}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0

    # SIGINT = fast shutdown; SIGTERM (smart) waits for every client to disconnect
    srv = _run("postgres", cmd, ready, base, stop_signal=signal.SIGINT, **kw)
    srv.info = {"host": "127.0.0.1", "port": port, "user": "postgres", "password": password,
                "database": "postgres",
                "url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"}
    return srv


# ---------------------------------------------------------------------------- MariaDB
def start_mariadb() -> ServerProc:
    """MariaDB with a user `dag` (random password) owning database `dag`; info as for PostgreSQL."""
    mariadbd = _need(shutil.which("mariadbd") or "/usr/sbin/mariadbd", "MariaDB (apt mariadb-server)")
    install = _need(shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db", "mariadb-install-db")
    _, pw = _demote("mysql")
    base = _tempdir("maria", pw)
    data = os.path.join(base, "data")
    small = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"]
    user = ["--user=mysql"] if pw else []  # mariadbd drops root itself
    init = subprocess.run([install, "--no-defaults", f"--datadir={data}", *user,
                           "--auth-root-authentication-method=normal", "--skip-test-db",
                           "--skip-name-resolve", *small], capture_output=True, text=True)
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise ConnectorServerError(f"mariadb-install-db failed: {init.stdout[-1000:]}{init.stderr[-1000:]}")
    port = free_port()
    cmd = [mariadbd, "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
           f"--socket={base}/mysqld.sock", f"--pid-file={base}/mysqld.pid", "--skip-name-resolve",
           "--innodb-flush-log-at-trx-commit=2", *small, *user]

    def ready() -> bool:
        import pymysql
        pymysql.connect(unix_socket=f"{base}/mysqld.sock", user="root", password="", connect_timeout=1).close()
        return True

    srv = _run("mariadb", cmd, ready, base)
    password = secrets.token_hex(12)
    import pymysql
    try:
        conn = pymysql.connect(unix_socket=f"{base}/mysqld.sock", user="root", password="")
        try:
            with conn.cursor() as c:
                c.execute("CREATE DATABASE dag CHARACTER SET utf8mb4")
                c.execute("CREATE USER 'dag'@'%%' IDENTIFIED BY %s", (password,))
                c.execute("GRANT ALL ON *.* TO 'dag'@'%'")
            conn.commit()
        finally:
            conn.close()
    except BaseException:
        srv.stop()
        raise
    srv.info = {"host": "127.0.0.1", "port": port, "user": "dag", "password": password, "database": "dag",
                "url": f"mysql+pymysql://dag@127.0.0.1:{port}/dag?charset=utf8mb4"}
    return srv


# ---------------------------------------------------------------------------- SFTP: OpenSSH
def start_sshd() -> ServerProc:
    """OpenSSH sshd (key auth only, the current user); info: host, port, username, key_file,
    root (a folder served, absolute server path)."""
    sshd = _need("/usr/sbin/sshd", "OpenSSH sshd (apt openssh-server)")
    keygen = _need(shutil.which("ssh-keygen"), "ssh-keygen")
    base = tempfile.mkdtemp(prefix="dagstore-sshd-")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", f"{base}/{name}"], check=True)
    shutil.copy(f"{base}/client_key.pub", f"{base}/authorized_keys")
    os.makedirs(f"{base}/files")
    user, port = getpass.getuser(), free_port()
    with open(f"{base}/sshd_config", "w") as f:
        f.write(f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {base}/host_key\nPidFile none\n"
                f"AuthorizedKeysFile {base}/authorized_keys\nAuthenticationMethods publickey\n"
                f"UsePAM no\nStrictModes no\nAllowUsers {user}\nSubsystem sftp internal-sftp\n"
                "LogLevel ERROR\n")
    if IS_ROOT:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privsep dir; sshd exits without it
    srv = _run("sshd", [sshd, "-D", "-e", "-f", f"{base}/sshd_config"], lambda: ssh_banner(port), base)
    srv.info = {"host": "127.0.0.1", "port": port, "username": user, "key_file": f"{base}/client_key",
                "root": f"{base}/files"}
    return srv


# ---------------------------------------------------------------------------- SFTP: asyncssh
def start_asyncssh() -> ServerProc:
    """asyncssh SFTP server with password auth, chrooted: clients see the folder as '/';
    info: host, port, username, password, root ('/'), local (the folder on this host)."""
    base = tempfile.mkdtemp(prefix="dagstore-asftp-")
    local = os.path.join(base, "root")
    os.makedirs(local)
    port, password = free_port(), secrets.token_hex(12)
    env = {**os.environ, "ASFTP_PASSWORD": password}
    cmd = [sys.executable, os.path.abspath(__file__), "asyncssh-sftp", str(port), local, "tester"]
    srv = _run("asyncssh-sftp", cmd, lambda: ssh_banner(port), base, env=env)
    srv.info = {"host": "127.0.0.1", "port": port, "username": "tester", "password": password,
                "root": "/", "local": local}
    return srv


def _asyncssh_main(port: str, root: str, user: str) -> None:
    import asyncio

    import asyncssh

    password = os.environ["ASFTP_PASSWORD"]

    class Server(asyncssh.SSHServer):  # type: ignore[misc]
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, pw: str) -> bool:
            return username == user and pw == password

    async def main() -> None:
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(s, stop.set)
        srv = await asyncssh.create_server(
            Server, "127.0.0.1", int(port), server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
            allow_scp=False, sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root.encode()))
        await stop.wait()
        srv.close()
        await srv.wait_closed()

    asyncio.run(main())


# ---------------------------------------------------------------------------- FTP
def start_ftp() -> ServerProc:
    """pyftpdlib with one user (random password, write access); info: host, port, username,
    password, root ('/'), local (the served folder)."""
    base = tempfile.mkdtemp(prefix="dagstore-ftp-")
    local = os.path.join(base, "home")
    os.makedirs(local)
    port, password = free_port(), secrets.token_hex(12)

    def ready() -> bool:
        import ftplib
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=1)
        ftp.quit()
        return True

    # -i 127.0.0.1 also keeps the passive data ports on loopback
    cmd = [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port), "-w", "-d", local,
           "-u", "tester", "-P", password]
    srv = _run("ftp", cmd, ready, base)
    srv.info = {"host": "127.0.0.1", "port": port, "username": "tester", "password": password,
                "root": "/", "local": local}
    return srv


if __name__ == "__main__":
    verb, *args = sys.argv[1:]
    if verb != "asyncssh-sftp":
        raise SystemExit(f"unknown helper {verb!r}")
    _asyncssh_main(*args)
