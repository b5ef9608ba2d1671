"""moto's S3 server with S3's atomic conditional writes: ``python moto_atomic.py -H HOST -p PORT``.

moto checks ``If-None-Match: *`` and then writes, on a thread per request, without a lock, so
two writers racing for one key can both be told they created it. Real S3 (and GCS, Azure) make
the check and the write one step; the store's put-if-absent claims rely on that. Requests that
carry a condition are therefore served one at a time here; everything else stays concurrent.

Opt-in, by bucket name, an S3-compatible server without ``If-Match`` on PUT: a PUT carrying it
to a bucket named ``NO_IF_MATCH_501``... is answered 501 NotImplemented, to one named
``NO_IF_MATCH_400``... 400 InvalidArgument naming the header, as such servers answer; nothing is
written. Every other request, and every other bucket, is served as above.
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
NO_IF_MATCH_501 = "noifmatch501"
NO_IF_MATCH_400 = "noifmatch400"
_REFUSALS = {
    NO_IF_MATCH_501: ("501 Not Implemented", "<Code>NotImplemented</Code><Message>A header you provided implies "
                      "functionality that is not implemented</Message><Header>If-Match</Header>"),
    NO_IF_MATCH_400: ("400 Bad Request", "<Code>InvalidArgument</Code><Message>Unsupported header 'If-Match' received "
                      "for this API call.</Message><ArgumentName>If-Match</ArgumentName>"),
}


class AtomicConditions:
    """WSGI middleware: a request with ``If-None-Match`` / ``If-Match`` runs under one lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = _refusal(environ)
        if refusal is not None:
            length = environ.get("CONTENT_LENGTH")
            environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()  # the body, unread by moto
            status, error = refusal
            body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{error}<RequestId>0</RequestId></Error>'.encode()
            start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
            return [body]
        if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ:
            with _CONDITIONAL:
                return list(self.app(environ, start_response))  # the whole response inside the lock
        return self.app(environ, start_response)


def _refusal(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(status, error XML) for a PUT with ``If-Match`` to a bucket opted in to refusing it."""
    if environ.get("REQUEST_METHOD") != "PUT" or "HTTP_IF_MATCH" not in environ:
        return None
    bucket = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
    return next((v for k, v in _REFUSALS.items() if bucket.startswith(k)), None)


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
