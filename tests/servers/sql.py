"""Real SQL servers for the connector and exporter tests: PostgreSQL and MariaDB (apt binaries,
installed by `./dev test`), each with a random password. Recipes and pitfalls:
shared/infra/CONNECTORS.md."""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from typing import Any

from .process import ServerProcess, ServerStartError, free_port, need, new_folder, start

IS_ROOT = os.geteuid() == 0


def demote(user: str) -> tuple[dict[str, Any], pwd.struct_passwd | None]:
    """Popen kwargs running a child as `user` when we are root (Popen(user=) execs in place, so
    the PID held is the server's own; runuser/su wrappers swallow SIGINT)."""
    if not IS_ROOT:
        return {}, None
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        pw = pwd.getpwnam("nobody")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}, pw


def _folder(name: str, pw: pwd.struct_passwd | None) -> str:
    d = new_folder(name)
    if pw:
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def pg_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(need(found[-1] if found else None, "PostgreSQL (apt postgresql)"))


def start_postgres(auth: str = "scram-sha-256") -> ServerProcess:
    """PostgreSQL with password (scram) auth for user `postgres` (``auth="trust"``: none needed,
    for benchmarks); info: host, port, user, password, database, url (SQLAlchemy, no password)."""
    bindir = pg_bindir()
    kw, pw = demote("postgres")
    if pw:
        kw["env"] = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
    base = _folder("pg", pw)
    password = secrets.token_hex(12)
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    if pw:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    data = os.path.join(base, "data")
    init = subprocess.run([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", auth,
                           f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync", "--no-instructions"],
                          capture_output=True, text=True, **kw)
    os.unlink(pwfile)
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise ServerStartError(f"initdb failed: {init.stderr[-2000:]}")
    port = free_port()
    cmd = [f"{bindir}/postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", base,
           "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def ready() -> bool:
        return subprocess.run([f"{bindir}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0

    # SIGINT = fast shutdown; SIGTERM (smart) waits for every client to disconnect
    srv = start("postgres", cmd, ready, base, stop_signal=signal.SIGINT, **kw)
    srv.info = {"host": "127.0.0.1", "port": port, "user": "postgres", "password": password,
                "database": "postgres",
                "url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"}
    return srv


def start_mariadb() -> ServerProcess:
    """MariaDB with a user `dag` (random password) owning database `dag`; info as for PostgreSQL."""
    mariadbd = need(shutil.which("mariadbd") or "/usr/sbin/mariadbd", "MariaDB (apt mariadb-server)")
    install = need(shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db", "mariadb-install-db")
    _, pw = demote("mysql")
    base = _folder("maria", pw)
    data = os.path.join(base, "data")
    small = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"]
    user = ["--user=mysql"] if pw else []  # mariadbd drops root itself
    init = subprocess.run([install, "--no-defaults", f"--datadir={data}", *user,
                           "--auth-root-authentication-method=normal", "--skip-test-db",
                           "--skip-name-resolve", *small], capture_output=True, text=True)
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise ServerStartError(f"mariadb-install-db failed: {init.stdout[-1000:]}{init.stderr[-1000:]}")
    port = free_port()
    cmd = [mariadbd, "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
           f"--socket={base}/mysqld.sock", f"--pid-file={base}/mysqld.pid", "--skip-name-resolve",
           "--innodb-flush-log-at-trx-commit=2", *small, *user]

    def ready() -> bool:
        import pymysql
        pymysql.connect(unix_socket=f"{base}/mysqld.sock", user="root", password="", connect_timeout=1).close()
        return True

    srv = start("mariadb", cmd, ready, base)
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
