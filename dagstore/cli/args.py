"""``KEY=VALUE`` arguments of every verb: ``--option`` pairs and ``--filter`` export filters,
each read one way (the grammar of ``dagstore.spec_string``, the filters of ``dagstore.export.filters``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click

from ..errors import DagstoreError
from ..export.filters import parse_filters
from ..spec_string import SpecStringError, key_value


def key_values(pairs: Iterable[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments (``--option``) as a dict, read by the one grammar of
    ``dagstore.spec_string`` (a later key wins); a usage error otherwise."""
    out = {}
    for pair in pairs:
        try:
            key, value = key_value(pair)
        except SpecStringError:
            raise click.UsageError(f"{what} takes KEY=VALUE, not {pair!r}") from None
        out[key] = value
    return out


def option_args(pairs: Iterable[str]) -> dict[str, Any]:
    """``--option obb=true`` → ``{"obb": True}``: JSON values (``true``, ``3``, ``[1, 2]``), else text;
    the one reading of format and importer options."""
    out: dict[str, Any] = {}
    for key, value in key_values(pairs, "--option").items():
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def filter_args(pairs: Sequence[str], splits: Sequence[str] = ()) -> dict[str, Any]:
    """``--filter KEY=VALUE`` arguments as export filters, read the same way by every verb
    (``export``, ``export create``, ``snapshot create``, ``select``): ``labels=a,b`` is two labels."""
    try:
        return parse_filters(pairs, splits)
    except DagstoreError as exc:
        raise click.UsageError(f"--filter: {exc}") from None
