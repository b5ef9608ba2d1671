"""moto's S3 server with S3's atomic conditional writes: ``python moto_atomic.py -H HOST -p PORT``.

moto checks ``If-None-Match: *`` and then writes, on a thread per request, without a lock, so
two writers racing for one key can both be told they created it. Real S3 (and GCS, Azure) make
the check and the write one step; the store's put-if-absent claims rely on that. Requests that
carry a condition are therefore served one at a time here; everything else stays concurrent.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_CONDITIONAL = threading.Lock()


class AtomicConditions:
    """WSGI middleware: a request with ``If-None-Match`` / ``If-Match`` runs under one lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ:
            with _CONDITIONAL:
                return list(self.app(environ, start_response))  # the whole response inside the lock
        return self.app(environ, start_response)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, required=True)
    args = p.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does: its URLs name the port
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, AtomicConditions(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
