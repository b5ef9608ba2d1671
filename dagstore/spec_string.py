"""The one spec-string grammar, shared by connectors (``DAGSTORE_CONNECTOR_<NAME>``) and
export methods (``DAGSTORE_EXPORT_METHOD_<name>``, ``[export_methods.list]``, the CLI)::

    <type>, <value>[, <value>...][, key=value...]

Items are separated by commas and stripped; empty items are ignored. The positional values
come first (a URL, ``host:port``, bootstrap servers, a topic, a connector name); the first
item of the form ``key=value`` starts the options, and every item after it must be one. A
dotted key fills a table: ``headers.Authorization=Bearer ${TOKEN}``,
``storage_options.endpoint_url=http://…``. ``header.<Name>=`` is accepted as an alias of
``headers.<Name>=`` (the export methods' earlier spelling). Values are kept as strings; a
value may contain ``=`` but not ``,``. A later option wins over an earlier one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import DagstoreError

# key or table.key, then '=' (a URL never matches: ':' comes before any '=')
_OPTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_.\-]+))?\s*=(.*)$", re.S)
TABLE_ALIASES = {"header": "headers"}


class SpecStringError(DagstoreError, ValueError):
    """A spec string that does not follow the grammar (the message never repeats its values)."""


@dataclass(frozen=True)
class SpecString:
    """A parsed spec string: the type (lower case), the positional values, the options
    (strings, or tables of strings for dotted keys)."""

    type: str
    positional: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def is_option(item: str) -> bool:
    """Whether ``item`` is a ``key=value`` option (not a positional value such as a URL)."""
    return bool(_OPTION.match(item.strip()))


def key_value(item: str) -> tuple[str, str]:
    """``"key=value"`` (a key as in spec strings, dotted or not) -> (key, value stripped); the
    one reading of every ``KEY=VALUE`` argument (``--filter``, ``--option``). SpecStringError
    otherwise."""
    m = _OPTION.match(item.strip())
    if m is None:
        raise SpecStringError(f"expected KEY=VALUE, not {item!r}")
    key = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
    return key, m.group(3).strip()


def parse(text: str) -> SpecString:
    """``"<type>, <value>...[, key=value...]"`` -> SpecString, or SpecStringError."""
    items = [p.strip() for p in str(text).split(",")]
    kind = items[0].lower()
    if not kind or is_option(kind):
        raise SpecStringError("the spec starts with its type: '<type>, <value>[, key=value...]'")
    positional: list[str] = []
    options: dict[str, Any] = {}
    for n, item in enumerate(items[1:], start=2):
        if not item:
            continue
        m = _OPTION.match(item)
        if m is None:
            if options:
                raise SpecStringError(f"item {n} is not key=value: options are key=value and come after the values")
            positional.append(item)
            continue
        key, sub, value = m.group(1), m.group(2), m.group(3).strip()
        if sub is None:
            options[key] = value
            continue
        table = options.setdefault(TABLE_ALIASES.get(key, key), {})
        if not isinstance(table, dict):
            raise SpecStringError(f"item {n}: {key} is both a value and a table")
        table[sub] = value
    return SpecString(kind, positional, options)
