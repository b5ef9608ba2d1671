"""Manifests: sorted file entries of a version, their merge along the DAG, diffs, and (de)serialization.

A *delta* is what one version records: entries it adds or modifies, and paths it removes.
A *state* is the full content of a version: the merge of its parents' states, in order,
with its own delta applied on top.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import zstandard

from .errors import FormatError, InvalidPathError

MANIFEST_FORMAT = 1


class Entry(NamedTuple):
    """One file of a version. ``hash`` is the xxh3-128 hex of the content; ``url`` is set for
    external links (content not stored); ``meta`` is optional user metadata; ``origin`` is the
    id of the version that introduced this content (filled in when states are merged)."""

    hash: str
    size: int
    url: str | None = None
    meta: dict[str, Any] | None = None
    origin: str | None = None


def normalize_path(path: str) -> str:
    """Canonical dataset path: relative, '/'-separated, no '.', '..' or empty parts.

    Raises InvalidPathError for paths that would escape the dataset root.
    """
    if not isinstance(path, str) or not path or "\x00" in path:
        raise InvalidPathError(f"invalid dataset path {path!r}")
    p = path.replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":"):
        raise InvalidPathError(f"dataset path {path!r} is absolute")
    parts: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidPathError(f"dataset path {path!r} escapes the dataset root")
        parts.append(part)
    if not parts:
        raise InvalidPathError(f"invalid dataset path {path!r}")
    return "/".join(parts)


def join_dataset_path(dataset_path: str | None, rel: str) -> str:
    """``dataset_path / rel`` as a canonical dataset path. A leading '/' in ``dataset_path``
    means the dataset root (as in ClearML); '..' may not climb above the root."""
    base = (dataset_path or "").replace("\\", "/").lstrip("/")
    joined = posixpath.normpath(posixpath.join(base, rel)) if base else rel
    if joined == ".." or joined.startswith("../"):
        raise InvalidPathError(f"dataset path {dataset_path!r} escapes the dataset root")
    return normalize_path(joined)


def dataset_prefix(dataset_path: str | None) -> str:
    """Canonical folder prefix for ``dataset_path`` ("" for the dataset root; a leading '/'
    also means the root). Raises InvalidPathError if '..' climbs above the root."""
    base = (dataset_path or "").replace("\\", "/").lstrip("/")
    if not base:
        return ""
    joined = posixpath.normpath(base)
    if joined == ".." or joined.startswith("../"):
        raise InvalidPathError(f"dataset path {dataset_path!r} escapes the dataset root")
    return "" if joined == "." else normalize_path(joined)


def match_path(path: str, pattern: str, recursive: bool = True) -> bool:
    """ClearML-style dataset path matching: an exact path, a glob (``**/`` matches any depth),
    or, when ``recursive``, a folder prefix or a bare file-name glob at any depth."""
    pat = pattern.replace("\\", "/").lstrip("/")
    if pat in ("", "*", "**", "**/*") and recursive:
        return True
    if path == pat or path.startswith(pat.rstrip("/") + "/") and recursive:
        return True
    if fnmatch.fnmatchcase(path, pat):
        return recursive or path.count("/") == pat.count("/")
    if pat.startswith("**/") and fnmatch.fnmatchcase(path, pat[3:]):
        return True
    return "/" not in pat and recursive and fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pat)


@dataclass
class Delta:
    """What one version changes relative to the merge of its parents."""

    entries: dict[str, Entry] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    def to_bytes(self) -> bytes:
        return _dump({"format": MANIFEST_FORMAT, "kind": "delta", **_columns(self.entries), "removed": sorted(self.removed)})

    @classmethod
    def from_bytes(cls, data: bytes) -> Delta:
        doc = _load(data, "delta")
        return cls(entries=_entries(doc), removed=set(_check_paths(doc.get("removed", []))))


def _columns(entries: Mapping[str, Entry]) -> dict[str, Any]:
    paths = sorted(entries)
    cols: dict[str, Any] = {"paths": paths, "hashes": [], "sizes": []}
    urls: dict[str, str] = {}
    metas: dict[str, Any] = {}
    origins: list[str] = []
    origin_ix: dict[str, int] = {}
    origin_col: list[int] = []
    for i, p in enumerate(paths):
        e = entries[p]
        cols["hashes"].append(e.hash)
        cols["sizes"].append(e.size)
        if e.url is not None:
            urls[str(i)] = e.url
        if e.meta:
            metas[str(i)] = e.meta
        if e.origin is not None:
            if e.origin not in origin_ix:
                origin_ix[e.origin] = len(origins)
                origins.append(e.origin)
            origin_col.append(origin_ix[e.origin])
    if urls:
        cols["urls"] = urls
    if metas:
        cols["meta"] = metas
    if origins and len(origin_col) == len(paths):
        cols["origins"] = origins
        cols["origin"] = origin_col
    return cols


def _entries(doc: dict[str, Any]) -> dict[str, Entry]:
    paths, hashes, sizes = doc["paths"], doc["hashes"], doc["sizes"]
    if not (len(paths) == len(hashes) == len(sizes)):
        raise FormatError("manifest columns have different lengths")
    _check_paths(paths)
    urls = doc.get("urls", {})
    metas = doc.get("meta", {})
    origins = doc.get("origins")
    origin_col = doc.get("origin")
    if not urls and not metas:
        if origins:
            return {p: Entry(h, s, None, None, origins[o]) for p, h, s, o in zip(paths, hashes, sizes, origin_col)}
        return {p: Entry(h, s) for p, h, s in zip(paths, hashes, sizes)}
    out = {}
    for i, (p, h, s) in enumerate(zip(paths, hashes, sizes)):
        k = str(i)
        out[p] = Entry(h, s, urls.get(k), metas.get(k), origins[origin_col[i]] if origins else None)
    return out


def _check_paths(paths: Iterable[str]) -> Iterable[str]:
    """Reject any stored path that is not canonical (path traversal from a crafted manifest)."""
    for p in paths:
        if not isinstance(p, str) or p.startswith("/") or "\\" in p or "\x00" in p or ".." in p.split("/") or "" in p.split("/") or "." in p.split("/"):
            raise FormatError(f"manifest names an unsafe path {p!r}")
    return paths


def _dump(doc: dict[str, Any]) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(doc, separators=(",", ":")).encode())


def _load(data: bytes, kind: str) -> dict[str, Any]:
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data))
    except (zstandard.ZstdError, ValueError) as exc:
        raise FormatError(f"corrupt manifest: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != kind:
        raise FormatError("not a dagstore manifest")
    if doc.get("format", 0) > MANIFEST_FORMAT:
        raise FormatError(f"manifest format {doc.get('format')} is newer than this dagstore (knows {MANIFEST_FORMAT}); upgrade dagstore")
    return doc


def state_to_bytes(state: Mapping[str, Entry]) -> bytes:
    """Serialize a merged state (with origins), e.g. for the local cache."""
    return _dump({"format": MANIFEST_FORMAT, "kind": "state", **_columns(state)})


def state_from_bytes(data: bytes) -> dict[str, Entry]:
    return _entries(_load(data, "state"))


def apply_delta(base: dict[str, Entry], delta: Delta, origin: str) -> dict[str, Entry]:
    """Apply a version's delta on top of ``base`` in place, stamping new entries with ``origin``."""
    for p in delta.removed:
        base.pop(p, None)
    for p, e in delta.entries.items():
        base[p] = e._replace(origin=origin)
    return base


def merge_states(states: Iterable[Mapping[str, Entry]]) -> dict[str, Entry]:
    """Merge parent states in list order: a later parent wins on the same path."""
    out: dict[str, Entry] = {}
    for s in states:
        out.update(s)
    return out


@dataclass(frozen=True)
class Diff:
    """Paths that differ between two states, each list sorted."""

    added: list[str]
    removed: list[str]
    modified: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


def same_content(a: Entry, b: Entry) -> bool:
    return a.hash == b.hash and a.size == b.size and a.url == b.url and a.meta == b.meta


def diff_states(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> Diff:
    """What changed from ``old`` to ``new``."""
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in old if p not in new)
    modified = sorted(p for p, e in new.items() if p in old and not same_content(old[p], e))
    return Diff(added, removed, modified)


def delta_between(base: Mapping[str, Entry], target: Mapping[str, Entry]) -> Delta:
    """The delta that turns ``base`` into ``target``."""
    d = diff_states(base, target)
    return Delta(entries={p: target[p]._replace(origin=None) for p in (*d.added, *d.modified)}, removed=set(d.removed))
