"""Secrets by reference, for every subsystem (connectors, export methods, exporters).

One rule for what is a secret: a name (spec key, header, option, URL query key) is
secret-looking when it contains one of ``SECRET_WORDS`` (``auth``, ``token``, ``password``,
``key``, ``sig`` …), unless it names a *path* to a credential (``key_file``, ``*_path``) or a
mechanism (``sasl_mechanism``); a URL's password is always a secret. Under a secret name
only a ``${ENV_NAME}`` reference may be stored, optionally after an auth scheme word
(``Bearer ${TOKEN}``); anything else is a literal secret, refused with ``SecretError``.

References are resolved only at the moment of use, through a ``Scrubber`` that remembers
every value it resolved so that any message built afterwards (an error, a log line, a test
result) can be cleaned of it.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .errors import DagstoreError

REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# a stored secret: only references, optionally after one auth scheme word ("Bearer ${TOKEN}")
_REFERENCE_FORM = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]* )?(?:\$\{[A-Za-z_][A-Za-z0-9_]*\})+$")
SECRET_WORDS = ("passw", "secret", "token", "key", "credential", "connection_string", "signature", "auth",
                "cookie", "session")
_SECRET_NAME = re.compile("|".join(SECRET_WORDS) + r"|^sas(?!l)|_sas(?!l)|^sig$|_sig$", re.I)
_NOT_SECRET_SUFFIXES = ("_file", "_path", "_mechanism", "_fingerprint")  # a host key fingerprint is public
# values that name a credential *mechanism*, not a credential (gcsfs token=..., etc.)
_MECHANISMS = {"anon", "google_default", "cache", "cloud", "browser", "none", "false", "true"}
HIDDEN = "***"


class SecretError(DagstoreError, ValueError):
    """A literal secret where only a ``${ENV}`` reference is allowed, or a reference to an
    environment variable that is not set or set but empty. The message never shows a secret value."""


def is_secret_name(name: str) -> bool:
    """True for spec keys, header, option or query names that carry credentials."""
    low = str(name).lower()
    return bool(_SECRET_NAME.search(low)) and not low.endswith(_NOT_SECRET_SUFFIXES)


def is_reference(value: Any) -> bool:
    """True when ``value`` is only ``${ENV}`` references (an auth scheme word may stand first)."""
    return isinstance(value, str) and bool(_REFERENCE_FORM.match(value.strip()))


def has_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(REF.search(value))


def _literal(value: Any) -> bool:
    """Whether a value under a secret name is a credential written out (not a reference, not
    empty, not a mechanism word such as ``anon``)."""
    if value is None or value == "" or isinstance(value, bool):
        return False
    return not (isinstance(value, str) and (is_reference(value) or value.lower() in _MECHANISMS))


def url_password(url: str) -> str | None:
    """The password part of a URL (``${PW}`` references are kept as written), or None."""
    netloc = urllib.parse.urlsplit(url).netloc
    if "@" not in netloc:
        return None
    userinfo = netloc.rsplit("@", 1)[0]
    if ":" not in userinfo:
        return None
    return urllib.parse.unquote(userinfo.split(":", 1)[1])


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` holding a literal secret: its password, secret-looking query values."""
    bad = []
    pw = url_password(url)
    if pw is not None and _literal(pw):
        bad.append("password")
    query = urllib.parse.urlsplit(url).query
    bad += [f"query value {k}" for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
            if is_secret_name(k) and _literal(v)]
    return bad


def literal_secrets(spec: Mapping[str, Any], where: str = "") -> list[str]:
    """Keys of ``spec`` (dotted for nested tables such as ``headers.Authorization``) that hold a
    literal secret: a secret name whose value is not a reference, or a URL with a literal
    password or secret query value."""
    bad: list[str] = []
    for key, value in spec.items():
        path = f"{where}{key}"
        if isinstance(value, Mapping):
            bad += literal_secrets(value, f"{path}.")
        elif key == "url" and isinstance(value, str):
            bad += [f"{path} ({part})" for part in url_secrets(value)]
        elif is_secret_name(key) and _literal(value):
            bad.append(path)
    return bad


def refuse_literals(spec: Mapping[str, Any], what: str = "") -> None:
    """SecretError naming every key of ``spec`` that holds a literal secret (never the value)."""
    bad = literal_secrets(spec)
    if bad:
        raise SecretError(f"{what + ': ' if what else ''}a literal secret in {', '.join(bad)} is refused; write it as \"${{ENV_NAME}}\" "
                          "and set that variable where it is used")


def redact(value: Any, key: str = "") -> Any:
    """``value`` safe to show: literal secrets under secret names and in URLs become ***;
    references are kept (they are not secrets); tables are redacted key by key."""
    if isinstance(value, Mapping):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, str) and key == "url":
        return redact_url(value) if url_secrets(value) else value
    if is_secret_name(key) and _literal(value):
        return HIDDEN
    return value


def redact_url(url: str) -> str:
    """The URL with its password and secret-looking query values shown as *** (safe to print
    or put in an error). Plain paths are returned as they are."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1:  # a plain path or a Windows drive
        return url
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", f":{HIDDEN}@")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if query:
        shown = [(k, redact(v, k)) for k, v in query]
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=urllib.parse.urlencode(shown, safe="*")))
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)) if netloc != parts.netloc else url


class Scrubber:
    """Resolves references for one operation and remembers the values, to remove them from
    any text that operation produces."""

    def __init__(self, owner: str):
        self.owner = owner
        self.values: set[str] = set()

    def resolve(self, value: Any) -> Any:
        """``value`` with every ``${NAME}`` replaced by the environment's value; dicts and
        lists are resolved recursively. SecretError when a variable is not set or is empty
        (an empty secret is a mistake, e.g. ``export TOKEN=$(cat missing-file)``)."""
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
            if not secret:
                raise SecretError(f"{self.owner}: ${{{name}}} is set but empty in the environment")
            self.add(secret)
            return secret

        return REF.sub(sub, value)

    def add(self, value: str | None) -> None:
        """Remember a secret obtained some other way (it is cleaned from messages too)."""
        if value:
            self.values.add(value)
            self.values.add(urllib.parse.quote(value, safe=""))

    def clean(self, text: str) -> str:
        """``text`` on one line, with every resolved secret and URL password shown as ***."""
        out = " ".join(str(text).split())
        for v in sorted(self.values, key=len, reverse=True):
            if len(v) >= 3:
                out = out.replace(v, HIDDEN)
        return " ".join(_redact_word(w) for w in out.split(" "))


def _redact_word(word: str) -> str:
    if "://" not in word:
        return word
    core = word.rstrip(",;:.)]'\"")
    return redact_url(core) + word[len(core):]
