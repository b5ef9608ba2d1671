"""``http`` connectors: a base URL and optional headers (secret values as ``${ENV}``)."""

from __future__ import annotations

import urllib.parse

from ._extras import need
from .base import BaseConnector
from .errors import ConnectorError
from .registry import register
from ..secrets import Scrubber

TIMEOUT = 10


@register
class HttpConnector(BaseConnector):
    type = "http"
    required = ("url",)

    def normalize(self) -> None:
        parts = urllib.parse.urlsplit(str(self.spec.get("url", "")))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConnectorError(f"connector {self.name!r} (http): url must be an http:// or https:// URL")
        if not isinstance(self.spec.get("headers", {}), dict):
            raise ConnectorError(f"connector {self.name!r} (http): headers must be a table of header values")

    @property
    def url(self) -> str:
        return str(self.spec["url"])

    def headers(self, sc: Scrubber) -> dict[str, str]:
        """The headers with their references resolved (remembered by ``sc`` for cleaning)."""
        out = {str(k): str(sc.resolve(v)) for k, v in self.spec.get("headers", {}).items()}
        for v in out.values():
            for word in v.split():
                sc.add(word if len(word) > 8 else None)
        return out

    def _test(self, sc: Scrubber) -> str:
        requests = need("requests", "http")
        headers = self.headers(sc)
        try:
            r = requests.head(self.url, headers=headers, timeout=TIMEOUT, allow_redirects=True)
            if r.status_code in (405, 501):
                r = requests.options(self.url, headers=headers, timeout=TIMEOUT)
        except Exception as exc:
            raise self.error(sc, "HEAD", exc) from None
        if r.status_code in (401, 403) or r.status_code >= 500:
            raise self.error(sc, "HEAD", f"server answered {r.status_code} {r.reason}")
        return f"connector {self.name!r}: {self.url} answered {r.status_code}"
