"""Serving the app with uvicorn, as ``dagstore ui`` does: loopback by default; any other
address only with a token. No access log (a URL may carry ``?token=``); one line per error."""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser
from typing import Any

import uvicorn

from dagstore import DagstoreError, Store

from .app import create_app

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class UIError(DagstoreError):
    """The UI cannot start as asked (e.g. a public address without a token)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise UIError(f"refusing to serve on {host} without a token: pass --token or set DAGSTORE_UI_TOKEN "
                      "(every request must then carry it)")


def serve(store: Store, host: str = "127.0.0.1", port: int = 8484, token: str | None = None, read_only: bool = False,
          previews: bool = True, open_browser: bool = False, announce: Any = print) -> None:
    """Run the UI until interrupted."""
    check_bind(host, token)
    allowed = None if token else ("127.0.0.1", "localhost", "[::1]", host)
    app = create_app(store, token=token, read_only=read_only, previews=previews, allowed_hosts=allowed)
    with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as probe:  # a clear error for a taken port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise UIError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    announce(f"dagstore ui: serving {store.url} at {url}" + (" (read-only)" if read_only else "") +
             ("" if token is None else " (token required)"))
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(app, host=host.strip("[]"), port=port, access_log=False, log_level="warning", server_header=False)
