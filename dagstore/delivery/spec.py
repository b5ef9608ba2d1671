"""Export method specs (DebiAI's): what a named destination is, parsed from its string or dict form.

Defined in three places, later wins: the config file (``[export_methods.list]``), the
environment (``DAGSTORE_EXPORT_METHOD_<name>``, the name kept whole) and the API
(``Store.export_methods.create``, stored in the store under ``export-methods/``). The switches
``[export_methods] creation / deletion`` and ``DAGSTORE_EXPORT_METHODS_CREATION_ENABLED`` /
``_DELETION_ENABLED`` (the environment wins) allow or refuse API creation and deletion.

Spec forms (the string form is also the environment's; its grammar is ``dagstore.spec_string``,
shared with connectors; ``header.<Name>=`` is an alias of ``headers.<Name>=``)::

    post, <url>[, timeout=30][, retries=4][, total_timeout=120][, headers.<Name>=<value>]
    kafka, <bootstrap servers>, <topic>[, timeout=30][, max_message_bytes=1048576][, split=true]
           [, security_protocol=…][, sasl_mechanism=…][, sasl_username=…][, sasl_password=${ENV}]
    connector, <connector name>[, path=…][, table=…][, schema=…]
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import spec_string
from ..core.store import named
from ..secrets import Scrubber, has_reference, is_secret_name, redact, redact_url, refuse_literals
from .errors import ExportMethodError

TYPES = ("post", "kafka", "connector")
_POSITIONAL = {"post": ("url",), "kafka": ("bootstrap_servers", "topic"), "connector": ("connector",)}
_NUMBERS = {"timeout": float, "total_timeout": float, "retries": int, "max_message_bytes": int}
_KAFKA_OPTIONS = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")
_KEYS = {
    "post": {"url", "headers", "timeout", "retries", "total_timeout", "origin"},
    "kafka": {"bootstrap_servers", "topic", "timeout", "max_message_bytes", "split", "origin", *_KAFKA_OPTIONS},
    "connector": {"connector", "path", "table", "schema", "origin"},
}


@dataclass(frozen=True)
class ExportMethod:
    """One destination. ``source`` is where it was defined: ``config``, ``env``, ``store``, or
    DebiAI's own ``debiai-config`` (its config.ini) / ``debiai-env`` (``DEBIAI_…`` variables)."""

    name: str
    type: str
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    bootstrap_servers: str | None = None
    topic: str | None = None
    connector: str | None = None
    path: str | None = None
    table: str | None = None
    schema: str | None = None
    timeout: float | None = None
    retries: int | None = None
    total_timeout: float | None = None
    max_message_bytes: int | None = None
    split: bool = True
    origin: str | None = None  # the payload's "origin" (default: [export_methods] origin, else "dagstore")
    options: dict[str, str] = field(default_factory=dict)
    source: str = "store"

    def spec(self) -> dict[str, Any]:
        """The dict form, as stored (secrets are references only)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("name", "source", "options")
               and v not in (None, {}) and not (k == "split" and v is True)}
        out.update(self.options)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Safe to print: the spec with URLs and literal secret values redacted."""
        return {"name": self.name, "source": self.source, **redact(self.spec())}

    @property
    def destination(self) -> str:
        """Where it sends, safe to print."""
        if self.type == "post":
            return redact_url(self.url or "")
        if self.type == "kafka":
            return f"kafka://{self.bootstrap_servers}/{self.topic}"
        where = self.table or self.path or ""
        return f"connector {self.connector}" + (f": {where}" if where else "")

    def __repr__(self) -> str:
        return f"ExportMethod({self.name!r}, {self.type!r}, {self.destination!r}, source={self.source!r})"

    # secrets are resolved at send time only, through a Scrubber that cleans every message after
    def scrubber(self) -> Scrubber:
        return Scrubber(f"export method {self.name!r}")

    def resolved_url(self, sc: Scrubber) -> str:
        return str(sc.resolve(self.url or ""))

    def resolved_headers(self, sc: Scrubber) -> dict[str, str]:
        return {h: str(sc.resolve(v)) for h, v in self.headers.items()}

    def resolved_options(self, sc: Scrubber) -> dict[str, str]:
        return {k: str(sc.resolve(v)) for k, v in self.options.items()}

    @property
    def has_credentials(self) -> bool:
        """Whether requests carry credentials (then no redirect to another host is followed)."""
        parts = urllib.parse.urlsplit(self.url or "")
        return bool(parts.username or parts.password) or any(
            is_secret_name(h) or has_reference(v) for h, v in self.headers.items())


@dataclass(frozen=True)
class TestResult:
    """The outcome of ``test()``: ``ok`` and one line saying what was checked or what failed."""

    __test__ = False  # not a pytest class
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok


def check_name(name: str) -> str:
    """The one name rule of named records (``core.store.named``), with this package's error."""
    return named.check_name(name, "export method", ExportMethodError)


def parse_spec(name: str, spec: str | dict[str, Any], source: str = "store") -> ExportMethod:
    """An ExportMethod from the string form (``"post, http://…"``) or the dict form."""
    what = f"export method {name!r}"
    if isinstance(spec, str):
        data = _parse_string(what, spec)
    elif isinstance(spec, dict):
        data = dict(spec)
    else:
        raise ExportMethodError(f"{what}: the spec must be a string or a dict, not {type(spec).__name__}")
    kind = str(data.pop("type", "")).strip().lower()
    if kind not in TYPES:
        raise ExportMethodError(f"{what}: unknown type {kind!r}; use one of {', '.join(TYPES)}")
    unknown = set(data) - _KEYS[kind]
    if unknown:
        raise ExportMethodError(f"{what}: unknown key(s) {', '.join(sorted(unknown))} for type {kind}")
    _numbers(what, data)
    if "split" in data:
        data["split"] = _bool(what, "split", data["split"])
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ExportMethodError(f"{what}: headers must map names to strings")
    data["headers"] = dict(headers)
    options = {k: str(data.pop(k)) for k in _KAFKA_OPTIONS if data.get(k) is not None}
    _where(what, kind, data)
    return ExportMethod(name=check_name(name), type=kind, options=options, source=source,
                        **{k: v for k, v in data.items() if v is not None})


def _numbers(what: str, data: dict[str, Any]) -> None:
    for k, conv in _NUMBERS.items():
        if k in data and data[k] is not None:
            try:
                data[k] = conv(data[k])
            except (TypeError, ValueError):
                raise ExportMethodError(f"{what}: {k} must be a number, not {data[k]!r}") from None
            if data[k] < 0 or (k != "retries" and data[k] == 0):
                raise ExportMethodError(f"{what}: {k} must be positive")


def _where(what: str, kind: str, data: dict[str, Any]) -> None:
    """Check (and normalize) where the method sends: url, bootstrap servers + topic, connector."""
    if kind == "post":
        url = data.get("url")
        if not url or not isinstance(url, str):
            raise ExportMethodError(f"{what}: post needs a URL: \"post, https://host/path\"")
        if not re.match(r"^https?://[^/]", url):
            raise ExportMethodError(f"{what}: {redact_url(url)} is not an http(s) URL")
    elif kind == "kafka":
        if not data.get("bootstrap_servers"):
            raise ExportMethodError(f"{what}: kafka needs bootstrap servers and a topic: \"kafka, host:9092, topic\"")
        if not data.get("topic"):
            raise ExportMethodError(f"{what}: kafka needs a topic: \"kafka, {data['bootstrap_servers']}, topic\"")
        data["bootstrap_servers"] = ",".join(s for s in re.split(r"[\s;,]+", str(data["bootstrap_servers"])) if s)
    elif not data.get("connector"):
        raise ExportMethodError(f"{what}: connector needs a connector name: \"connector, NAME[, path=…][, table=…]\"")


def _parse_string(what: str, spec: str) -> dict[str, Any]:
    """The dict form of a spec string (the grammar of ``dagstore.spec_string``)."""
    try:
        parsed = spec_string.parse(spec)
    except spec_string.SpecStringError as exc:
        raise ExportMethodError(f"{what}: {exc}") from None
    if parsed.type not in TYPES:
        raise ExportMethodError(f"{what}: unknown type {parsed.type!r}; use one of {', '.join(TYPES)}")
    names = _POSITIONAL[parsed.type]
    if len(parsed.positional) > len(names):
        raise ExportMethodError(f"{what}: {parsed.type} takes {len(names)} value(s) before its options; "
                                "options are key=value")
    return {"type": parsed.type, **dict(zip(names, parsed.positional)), **parsed.options}


def _bool(what: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ExportMethodError(f"{what}: {key} must be true or false, not {value!r}")


def check_secrets(method: ExportMethod) -> None:
    """Refuse a method that holds a literal secret (only ``${ENV}`` references may be stored)."""
    refuse_literals({"url": method.url or "", "headers": method.headers, **method.options},
                    f"export method {method.name!r}")
