"""A webhook receiver for the export-method tests, run as its own process on 127.0.0.1.

    python webhook_receiver.py DIR        prints "URL=http://127.0.0.1:PORT" then serves

Every request to any path but ``/_control/...`` is recorded: its body goes to ``DIR/<n>.body``
and its method, path, headers, body size and answer to the log returned by
``GET /_control/requests``. ``POST /_control/plan`` with a JSON list sets the answers of the
next requests, one step each: an HTTP status (``500``, ``503``, ``429``...), ``"hang"`` (hold
the request until ``POST /_control/release`` or 60 s), ``"close"`` (drop the connection without
answering) or ``{"redirect": URL, "status": 307}``. An empty plan answers 200.
``POST /_control/reset`` clears the plan and the log.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
from typing import Any


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a hung handler never blocks shutdown

    def __init__(self, folder: str):
        super().__init__(("127.0.0.1", 0), Handler)
        self.folder = folder
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []
        self.plan: list[Any] = []
        self.release = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self) -> None:
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        what = self.path[len("/_control/"):]
        with srv.lock:
            if what == "requests":
                out = json.dumps(srv.log).encode()
            elif what == "plan":
                srv.plan = list(json.loads(body))
                srv.release.clear()
                out = b"{}"
            elif what == "release":
                srv.release.set()
                out = b"{}"
            elif what == "reset":
                srv.plan, srv.log = [], []
                srv.release.set()
                out = b"{}"
            else:
                self._answer(404)
                return
        self._answer(200, out)

    def _record(self) -> None:
        srv = self.server
        if self.path.startswith("/_control/"):
            self._control()
            return
        length = int(self.headers.get("Content-Length") or 0)
        with srv.lock:
            n = len(srv.log)
            step = srv.plan.pop(0) if srv.plan else 200
            entry = {"n": n, "method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                     "size": length, "answer": step, "body_file": os.path.join(srv.folder, f"{n}.body")}
            srv.log.append(entry)
        with open(entry["body_file"], "wb") as f:
            left = length
            while left:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                f.write(chunk)
                left -= len(chunk)
        if step == "hang":
            srv.release.wait(60)
            self.close_connection = True
            return
        if step == "close":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if isinstance(step, dict):
            self._answer(int(step.get("status", 307)), headers={"Location": step["redirect"]})
            return
        self._answer(int(step), b'{"ok": true}' if 200 <= int(step) < 300 else b'{"error": "planned"}')

    do_POST = do_PUT = do_GET = do_HEAD = do_OPTIONS = _record


def main() -> None:
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    srv = Receiver(folder)
    print(f"URL=http://127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
