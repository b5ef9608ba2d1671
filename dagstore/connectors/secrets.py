"""Secrets by reference: ``${ENV_NAME}`` values, resolved only when used, never stored.

A spec keeps its references as written; ``resolve`` replaces them with the environment's
values at the moment of use, and a ``Scrubber`` collects every resolved value so that any
message built afterwards (an error, a log line) can be cleaned of it.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Any

from ..config import redact_url
from .errors import SecretError

REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# a secret value: exactly one reference, optionally after an auth scheme word ("Bearer ${TOKEN}")
_SECRET_FORM = re.compile(r"^(?:[A-Za-z]+ )?\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "key", "credential", "connection_string",
                 "sas", "signature", "sig", "auth", "cookie", "session")
_NOT_SECRET_KEYS = {"key_file", "bootstrap_servers", "topic", "host", "port", "root", "url", "username",
                    "read_only", "endpoint_url", "region_name", "anon", "project", "account_name",
                    "sasl_mechanism", "security_protocol", "sasl_username"}
# values that name a credential *mechanism*, not a credential (gcsfs token=..., etc.)
_MECHANISMS = {"anon", "google_default", "cache", "cloud", "browser", "none", "false", "true"}


def is_secret_key(key: str) -> bool:
    k = key.lower()
    return k not in _NOT_SECRET_KEYS and any(w in k for w in _SECRET_WORDS)


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_SECRET_FORM.match(value))


def literal_secrets(spec: dict[str, Any], where: str = "") -> list[str]:
    """Keys of ``spec`` (dotted for nested dicts) that hold a literal secret: a secret-looking
    key whose value is not a ``${ENV}`` reference, or a URL carrying a literal password."""
    bad: list[str] = []
    for key, value in spec.items():
        path = f"{where}{key}"
        if isinstance(value, dict):
            bad += literal_secrets(value, f"{path}.")
        elif key == "url" and isinstance(value, str):
            pw = url_password(value)
            if pw is not None and not is_reference(pw):
                bad.append(f"{path} (password)")
        elif is_secret_key(key) and _literal(value):
            bad.append(path)
    return bad


def _literal(value: Any) -> bool:
    if value is None or value == "" or isinstance(value, bool):
        return False
    if isinstance(value, str) and (is_reference(value) or value.lower() in _MECHANISMS):
        return False
    return True


def url_password(url: str) -> str | None:
    """The password part of a URL (``${PW}`` references are kept as written), or None."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return None
    userinfo = parts.netloc.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return None
    return urllib.parse.unquote(userinfo.split(":", 1)[1])


class Scrubber:
    """Resolves references and remembers the values, to remove them from any text."""

    def __init__(self, owner: str):
        self.owner = owner
        self.values: set[str] = set()

    def resolve(self, value: Any) -> Any:
        """``value`` with every ``${NAME}`` replaced by the environment's value; dicts and
        lists are resolved recursively. SecretError when a variable is not set."""
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise SecretError(f"{self.owner}: ${{{name}}} is not set in the environment")
            secret = os.environ[name]
            if secret:
                self.values.add(secret)
                self.values.add(urllib.parse.quote(secret, safe=""))
            return secret

        return REF.sub(sub, value)

    def add(self, value: str | None) -> None:
        if value:
            self.values.add(value)

    def clean(self, text: str) -> str:
        """``text`` on one line, with every resolved secret and URL password shown as ***."""
        out = " ".join(str(text).split())
        for v in sorted(self.values, key=len, reverse=True):
            if len(v) >= 3:
                out = out.replace(v, "***")
        return " ".join(_redact_word(w) for w in out.split(" "))


def _redact_word(word: str) -> str:
    if "://" not in word:
        return word
    core = word.rstrip(",;:.)]'\"")
    return redact_url(core) + word[len(core):]
