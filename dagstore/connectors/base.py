"""The Connector protocol, its shared base class and ``TestResult``.

A connector is a name, a type and a spec (where + credentials by ``${ENV}`` reference). The
spec is kept exactly as written; secrets are resolved only inside an operation, through a
``Scrubber`` that cleans every message that operation produces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..core.store import named
from .errors import ConnectorError
from ..errors import DagstoreError
from ..secrets import Scrubber, redact

SPEC_KEYS = frozenset({"url", "host", "port", "root", "username", "password", "key_file", "bootstrap_servers",
                       "topic", "headers", "storage_options", "read_only"})


@dataclass(frozen=True)
class TestResult:
    """What ``test()`` found: ``ok``, and one line saying what worked or what failed."""

    __test__ = False  # not a pytest test class

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok


@runtime_checkable
class Connector(Protocol):
    """A named connection. ``spec`` holds references, never resolved secrets."""

    type: ClassVar[str]
    name: str
    spec: dict[str, Any]
    source: str  # "config", "env" or "store"

    def test(self) -> TestResult: ...

    def where(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def check_name(name: str, what: str = "connector") -> str:
    return named.check_name(name, what, ConnectorError)


def exc_line(exc: BaseException) -> str:
    """A one-line description of an exception (a driver's own error inside SQLAlchemy's)."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    text = re.sub(r"\s*\(Background on this error at: \S+\)", "", text)
    if isinstance(inner, (OSError, TimeoutError)) and type(inner).__name__ not in text:
        text = f"{type(inner).__name__}: {text}"
    return text


class BaseConnector:
    """Shared behaviour: spec validation, redacted repr, test() that never raises."""

    type: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    extra_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, spec: dict[str, Any], source: str = "store"):
        self.name = check_name(name)
        self.source = source
        unknown = sorted(set(spec) - SPEC_KEYS - self.extra_keys)
        if unknown:
            raise ConnectorError(f"connector {name!r} ({self.type}): unknown key(s) {', '.join(unknown)}")
        self.spec = {k: v for k, v in spec.items() if v is not None}
        self.normalize()
        missing = [k for k in self.required if self.spec.get(k) in (None, "")]
        if missing:
            raise ConnectorError(f"connector {name!r} ({self.type}) needs {', '.join(missing)}")

    def normalize(self) -> None:
        """Fill derived keys (e.g. host/port/root from a URL); override per type."""

    @property
    def read_only(self) -> bool:
        return _truthy(self.spec.get("read_only", False))

    def scrubber(self) -> Scrubber:
        return Scrubber(f"connector {self.name!r}")

    def where(self) -> str:
        """Where this connector points, safe to print."""
        return str(redact(self.spec).get("url") or self.spec.get("host") or "")

    def to_dict(self) -> dict[str, Any]:
        """name, type, source and the spec, safe to print and to store."""
        return {"name": self.name, "type": self.type, "source": self.source, **redact(self.spec)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.where()!r})"

    def error(self, sc: Scrubber, doing: str, exc: BaseException | str) -> ConnectorError:
        """A ConnectorError naming this connector, where it points and what failed, cleaned."""
        what = exc if isinstance(exc, str) else exc_line(exc)
        where = self.where()
        return ConnectorError(sc.clean(f"connector {self.name!r} ({self.type}{', ' + where if where else ''}): {doing}: {what}"))

    def test(self) -> TestResult:
        """Check the connection; never raises for a failing connection."""
        sc = self.scrubber()
        try:
            return TestResult(True, sc.clean(self._test(sc)))
        except DagstoreError as exc:  # ConnectorError, SecretError: already one clear line
            return TestResult(False, sc.clean(str(exc)))
        except Exception as exc:  # any driver error is a failed test, not a crash
            return TestResult(False, str(self.error(sc, "test failed", exc)))

    def _test(self, sc: Scrubber) -> str:
        raise NotImplementedError


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
