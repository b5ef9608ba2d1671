"""HTTP POST delivery: confirmed only by a 2xx answer.

Each attempt has its own timeout; connection errors, timeouts, 429 and 5xx are retried with
exponential backoff (``Retry-After`` honoured) within a total deadline; any other answer fails
at once. Every attempt of one delivery carries the same ``Idempotency-Key``. A 307/308 redirect
is followed (the body re-sent) on the same host; to another host only when the method sends no
credentials; 301/302/303 would turn the POST into a GET and are refused.
"""

from __future__ import annotations

import logging
import random
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from ..secrets import redact_url
from .errors import DeliveryError
from .payload import Payload

log = logging.getLogger(__name__)

TIMEOUT = 30.0
RETRIES = 4  # 5 attempts in all
TOTAL = 120.0
MAX_REDIRECTS = 5
_BACKOFF_BASE, _BACKOFF_CAP = 0.25, 8.0


@dataclass
class PostOutcome:
    attempts: int
    status: int


class PostError(DeliveryError):
    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urllib.parse.urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(p.scheme)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def post(url: str, body: Payload, headers: dict[str, str], *, idempotency_key: str,
         credentials: bool, timeout: float | None = None, retries: int | None = None,
         total: float | None = None, sleep: Callable[[float], None] = time.sleep) -> PostOutcome:
    """POST ``body`` (streamed from its pieces) until a 2xx answer; PostError (with the attempts made) otherwise.
    ``credentials`` says whether ``headers`` carry any (then no cross-host redirect)."""
    import requests

    timeout = timeout or TIMEOUT
    attempts_allowed = 1 + (RETRIES if retries is None else retries)
    deadline = time.monotonic() + (total or TOTAL)
    send_headers = {"Content-Type": "application/json", **headers, "Idempotency-Key": idempotency_key,
                    "Content-Length": str(len(body))}
    shown = redact_url(url)
    attempt, redirects, last = 0, 0, "no attempt made"
    with requests.Session() as session:
        while attempt < attempts_allowed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            attempt += 1
            t = min(timeout, left)
            try:
                r = session.post(url, data=body.reader(), headers=send_headers, timeout=(t, t), allow_redirects=False)
            except requests.Timeout:
                last, wait = f"no answer within {t:g} s", None
            except requests.RequestException as exc:
                last, wait = f"connection failed ({type(exc).__name__})", None
            else:
                status = r.status_code
                r.close()
                if 200 <= status < 300:
                    return PostOutcome(attempt, status)
                if status in (307, 308) and r.headers.get("Location"):
                    target = urllib.parse.urljoin(url, r.headers["Location"])
                    redirects += 1
                    if redirects > MAX_REDIRECTS:
                        raise PostError(f"POST {shown}: more than {MAX_REDIRECTS} redirects", attempt)
                    if _origin(target) != _origin(url) and credentials:
                        raise PostError(f"POST {shown} redirected ({status}) to another host "
                                        f"{redact_url(target)}; not following it with credentials", attempt)
                    log.info("POST %s redirected (%d) to %s", shown, status, redact_url(target))
                    url, shown = target, redact_url(target)
                    attempt -= 1  # a redirect is not a failed attempt
                    continue
                if status in (301, 302, 303):
                    raise PostError(f"POST {shown} answered {status} {r.reason} (a redirect that would turn the "
                                    "POST into a GET); update the method's URL", attempt)
                if status != 429 and status < 500:
                    raise PostError(f"POST {shown} answered {status} {r.reason}", attempt)
                last, wait = f"answered {status} {r.reason}", _retry_after(r.headers.get("Retry-After"))
            if attempt >= attempts_allowed:
                break
            if wait is None:
                wait = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            wait = min(wait, max(0.0, deadline - time.monotonic()))
            log.info("POST %s attempt %d: %s; retrying in %.2f s", shown, attempt, last, wait)
            sleep(wait)
    raise PostError(f"POST {shown}: {last}; gave up after {attempt} attempt{'s' * (attempt != 1)}", attempt)
