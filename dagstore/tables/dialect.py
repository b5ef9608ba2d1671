"""The dialect of a delimited text file, detected from its first lines or given: the field
separator (``,`` ``;`` tab ``|``) and the decimal mark (``.`` or ``,``), so that a European
export such as ``Paris;12,5;0,2;wet`` reads as four columns with two numbers."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from ..errors import FormatError

SEPARATORS = (",", ";", "\t", "|")
DECIMALS = (".", ",")
SNIFF_BYTES = 64 << 10
_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+$")
_POINT_NUMBER = re.compile(r"^[+-]?\d*\.\d+$")


@dataclass(frozen=True)
class Dialect:
    """``separator`` between fields, ``decimal`` mark of numbers, and whether they were
    ``guessed`` (reported) or given."""

    separator: str = ","
    decimal: str = "."
    guessed: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"separator": self.separator, "decimal": self.decimal, "guessed": self.guessed}


def _check(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is None:
        return None
    value = {"tab": "\t", "\\t": "\t"}.get(value, value)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise FormatError(f"{what} {value!r} is not one of {shown}")
    return value


def _rows(text: str, sep: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO(text), delimiter=sep) if r]


def _separator(text: str, default: str) -> str:
    """The candidate that splits every line into the same number (> 1) of fields, the most
    fields winning; ``default`` when none does."""
    best, best_n = default, 1
    for sep in SEPARATORS:
        widths = {len(r) for r in _rows(text, sep)}
        if len(widths) == 1 and (n := widths.pop()) > best_n:
            best, best_n = sep, n
    return best


def _decimal(text: str, sep: str) -> str:
    """``,`` when fields look like ``12,5`` and none like ``12.5`` (only possible when the
    separator is not a comma), else ``.``."""
    if sep == ",":
        return "."
    fields = [f.strip() for r in _rows(text, sep) for f in r]
    comma = any(_COMMA_NUMBER.match(f) for f in fields)
    point = any(_POINT_NUMBER.match(f) for f in fields)
    return "," if comma and not point else "."


def sniff(head: bytes, default_separator: str = ",", separator: str | None = None, decimal: str | None = None) -> Dialect:
    """The dialect of a file starting with ``head`` (its first ``SNIFF_BYTES``); a given
    ``separator`` or ``decimal`` wins over the guess."""
    sep = _check(separator, SEPARATORS, "separator")
    dec = _check(decimal, DECIMALS, "decimal mark")
    if sep is not None and dec is not None:
        return _valid(Dialect(sep, dec))
    text = head.decode("utf-8", errors="replace")
    if len(head) >= SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]  # a partial last line would look inconsistent
    sep = sep or _separator(text, default_separator)
    return _valid(Dialect(sep, dec or _decimal(text, sep), guessed=True))


def _valid(d: Dialect) -> Dialect:
    if d.separator == d.decimal:
        raise FormatError(f"the separator and the decimal mark cannot both be {d.separator!r}")
    return d
