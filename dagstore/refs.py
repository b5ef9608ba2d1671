"""Naming versions in text: ``[project/]name[@version]`` references and id prefixes.

One place for the CLI, ``dagstore://`` paths and the API. A project may contain ``/``; the
name is the last ``/``-separated part before the ``@``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .core.records import version_key
from .core.store import Store
from .errors import DatasetNotFoundError

ID_LEN = 32
MIN_PREFIX = 4
LATEST = "latest"
_ID = re.compile(r"^[0-9a-f]{32}$")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Ref:
    """A parsed ``[project/]name[@version]``: ``project`` None when not given, ``version``
    None when not given or ``latest`` (the highest final version)."""

    project: str | None
    name: str
    version: str | None


def is_id(text: str) -> bool:
    """True for a whole version id (32 lowercase hex digits)."""
    return bool(_ID.match(text))


def is_id_prefix(text: str) -> bool:
    """True for text that may abbreviate an id (MIN_PREFIX to 31 lowercase hex digits)."""
    return MIN_PREFIX <= len(text) < ID_LEN and all(c in _HEX for c in text)


def is_named(text: str) -> bool:
    """True for text that names a version by project/name (it has a ``/`` or an ``@``)."""
    return "/" in text or "@" in text


def parse(text: str) -> Ref:
    """``[project/]name[@version]`` as a ``Ref`` (the version ``latest`` means the highest)."""
    path, _, version = text.partition("@")
    project, _, name = path.rpartition("/")
    return Ref(project or None, name, None if version in ("", LATEST) else version)


def split_path(path: str) -> tuple[str, str]:
    """A ``dagstore://`` path (protocol stripped) as ``(reference or id, path in the dataset)``:
    the reference ends at the first part holding an ``@``."""
    parts = path.split("/")
    if is_id(parts[0]):
        return parts[0], "/".join(p for p in parts[1:] if p)
    at = next((i for i, p in enumerate(parts) if "@" in p), None)
    if at is None:
        raise FileNotFoundError(f"dagstore://{path}: name a version as <project>/<name>@<version> or <id>")
    return "/".join(parts[: at + 1]), "/".join(p for p in parts[at + 1 :] if p)


def expand_id(st: Store, ref: str) -> str:
    """A full id from a unique prefix (as printed by ``dagstore log``); other text unchanged,
    except hex too short to be a prefix, which no id can be either."""
    if ref and len(ref) < MIN_PREFIX and all(c in _HEX for c in ref):
        raise DatasetNotFoundError(f"no dataset matches {ref} in {st.url} (an id prefix needs at least {MIN_PREFIX} characters)")
    if not is_id_prefix(ref):
        return ref
    ids = [r.id for r in st.records()] + [d.record.id for d in st.drafts()]
    found = sorted({i for i in ids if i.startswith(ref)})
    if not found:
        raise DatasetNotFoundError(f"no dataset id starts with {ref} in {st.url}")
    if len(found) > 1:
        raise DatasetNotFoundError(f"id prefix {ref} is ambiguous: {', '.join(found)}")
    return found[0]


def resolve_final(st: Store, ref: Ref) -> str | None:
    """The id of the final version ``ref`` names (the highest when it has no version), or None."""
    recs = st.versions_of(ref.project or "", ref.name)
    if ref.version is not None:
        recs = [r for r in recs if r.version == ref.version]
    return max(recs, key=lambda r: version_key(r.version)).id if recs else None
