"""Real file servers for the connector and exporter tests: OpenSSH sshd (SFTP, key auth), an
asyncssh SFTP server (password auth, run by ``asyncssh_sftp.py``) and pyftpdlib (FTP). The SSH
servers' ``info["known_hosts"]`` is their line for a user's ``~/.ssh/known_hosts``."""
from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import sys

from .process import ServerProcess, free_port, need, new_folder, start
from .sql import IS_ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def ssh_banner(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.settimeout(2)
        return s.recv(8).startswith(b"SSH-")


def start_sshd() -> ServerProcess:
    """OpenSSH sshd (key auth only, the current user); info: host, port, username, key_file,
    root (a folder served, absolute server path)."""
    sshd = need("/usr/sbin/sshd", "OpenSSH sshd (apt openssh-server)")
    keygen = need(shutil.which("ssh-keygen"), "ssh-keygen")
    base = new_folder("sshd")
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
    srv = start("sshd", [sshd, "-D", "-e", "-f", f"{base}/sshd_config"], lambda: ssh_banner(port), base)
    srv.info = {"host": "127.0.0.1", "port": port, "username": user, "key_file": f"{base}/client_key",
                "root": f"{base}/files", "known_hosts": known_hosts_line(port, f"{base}/host_key.pub")}
    return srv


def known_hosts_line(port: int, pub_file: str) -> str:
    """The server's line in a user's ~/.ssh/known_hosts (``[127.0.0.1]:PORT type key``)."""
    with open(pub_file) as f:
        kind, key = f.read().split()[:2]
    return f"[127.0.0.1]:{port} {kind} {key}"


def start_asyncssh() -> ServerProcess:
    """asyncssh SFTP server with password auth, chrooted: clients see the folder as '/';
    info: host, port, username, password, root ('/'), local (the folder on this host)."""
    base = new_folder("asftp")
    local = os.path.join(base, "root")
    os.makedirs(local)
    port, password = free_port(), secrets.token_hex(12)
    keygen = need(shutil.which("ssh-keygen"), "ssh-keygen")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", f"{base}/host_key"], check=True)
    env = {**os.environ, "ASFTP_PASSWORD": password, "ASFTP_HOST_KEY": f"{base}/host_key"}
    cmd = [sys.executable, os.path.join(HERE, "asyncssh_sftp.py"), str(port), local, "tester"]
    srv = start("asyncssh-sftp", cmd, lambda: ssh_banner(port), base, env=env)
    srv.info = {"host": "127.0.0.1", "port": port, "username": "tester", "password": password,
                "root": "/", "local": local, "known_hosts": known_hosts_line(port, f"{base}/host_key.pub")}
    return srv


def start_ftp() -> ServerProcess:
    """pyftpdlib with one user (random password, write access); info: host, port, username,
    password, root ('/'), local (the served folder)."""
    base = new_folder("ftp")
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
    srv = start("ftp", cmd, ready, base)
    srv.info = {"host": "127.0.0.1", "port": port, "username": "tester", "password": password,
                "root": "/", "local": local}
    return srv
