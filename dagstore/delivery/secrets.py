"""Secrets in export-method specs: only ``${ENV}`` references are stored; they are resolved
when a delivery is sent and never written, logged or shown."""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Any

from ..config import redact_url
from .errors import SecretError

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_NAME = re.compile(r"auth|cookie|token|secret|passw|key|signature|sig$|session|credential", re.I)
_SCHEME_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")  # "Bearer", "Basic", "Token"


def is_secret_name(name: str) -> bool:
    """True for header, option or query names that carry credentials."""
    return bool(_SECRET_NAME.search(name))


def is_reference(value: str) -> bool:
    """True when the value's secret part is only ``${ENV}`` references (an auth scheme word
    such as ``Bearer`` may stand before them)."""
    if not _REF.search(value):
        return False
    rest = _REF.sub("", value).strip()
    return rest == "" or bool(_SCHEME_WORD.match(rest))


def check_value(what: str, name: str, value: Any) -> None:
    """Refuse a literal secret under a secret-looking name (the message never shows the value)."""
    if isinstance(value, str) and value and is_secret_name(name) and not is_reference(value):
        raise SecretError(f"{what}: {name} holds a literal secret; give it as a ${{ENV_NAME}} reference")


def check_url(what: str, url: str) -> None:
    """Refuse a URL with a literal password or secret-looking query value."""
    parts = urllib.parse.urlsplit(url)
    if parts.password and not is_reference(parts.password):
        raise SecretError(f"{what}: {redact_url(url)} holds a literal password; use a ${{ENV_NAME}} reference")
    for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if is_secret_name(k) and v and not is_reference(v):
            raise SecretError(f"{what}: the query value {k} of {redact_url(url)} is a literal secret; "
                              "use a ${ENV_NAME} reference")


def resolve(what: str, value: str) -> str:
    """``value`` with every ``${NAME}`` replaced by the environment variable (at send time)."""
    def one(m: re.Match[str]) -> str:
        got = os.environ.get(m.group(1))
        if got is None:
            raise SecretError(f"{what}: environment variable {m.group(1)} is not set")
        return got
    return _REF.sub(one, value)


def has_reference(value: str) -> bool:
    return bool(_REF.search(value))


def redact_value(name: str, value: Any) -> Any:
    """A value safe to show: references are kept (they are not secrets), literals under
    secret-looking names become '***'."""
    if isinstance(value, str) and is_secret_name(name) and not is_reference(value):
        return "***"
    return value
