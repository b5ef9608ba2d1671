"""Manifests: sorted file entries of a version, their merge along the DAG, diffs, and (de)serialization.

A *delta* is what one version records: entries it adds or modifies, and paths it removes.
A *state* is the full content of a version: the merge of its parents' states, in order,
with its own delta applied on top.
"""

from __future__ import annotations

import fnmatch
import gc
import json
import posixpath
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from operator import add, itemgetter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import zstandard

from ..errors import FormatError, InvalidPathError

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
        with _gc_paused():
            return cls(entries=_entries(doc), removed=set(_check_paths(list(doc.get("removed", [])))))


def _columns(entries: Mapping[str, Entry], sort: bool = True) -> dict[str, Any]:
    """Column lists of a manifest (list comprehensions: this runs on millions of entries)."""
    paths = sorted(entries) if sort else list(entries)
    es = [entries[p] for p in paths] if sort else list(entries.values())
    cols: dict[str, Any] = {"paths": paths, "hashes": [e[0] for e in es], "sizes": [e[1] for e in es]}
    urls = {str(i): e[2] for i, e in enumerate(es) if e[2] is not None}
    metas = {str(i): e[3] for i, e in enumerate(es) if e[3]}
    if urls:
        cols["urls"] = urls
    if metas:
        cols["meta"] = metas
    origins = list(dict.fromkeys(e[4] for e in es))
    if origins and None not in origins:
        ix = {o: i for i, o in enumerate(origins)}
        cols["origins"] = origins
        cols["origin"] = [ix[e[4]] for e in es]
    return cols


_new_entry = tuple.__new__


def _entries(doc: dict[str, Any], check: bool = True) -> dict[str, Entry]:
    paths, hashes, sizes = doc["paths"], doc["hashes"], doc["sizes"]
    if not (len(paths) == len(hashes) == len(sizes)):
        raise FormatError("manifest columns have different lengths")
    if check:
        _check_paths(paths)
    urls = doc.get("urls", {})
    metas = doc.get("meta", {})
    origins = doc.get("origins")
    if origins:
        origin_col = doc["origin"]
        if len(origin_col) != len(paths):
            raise FormatError("manifest columns have different lengths")
        owners: Iterable[str | None] = map(origins.__getitem__, origin_col)
    else:
        owners = repeat(None)
    if not urls and not metas:  # the common case, built without a Python-level loop
        rows = zip(hashes, sizes, repeat(None), repeat(None), owners)
        return dict(zip(paths, map(_new_entry, repeat(Entry), rows)))
    owner_list = list(owners) if origins else [None] * len(paths)
    return {p: Entry(h, s, urls.get(str(i)), metas.get(str(i)), owner_list[i]) for i, (p, h, s) in enumerate(zip(paths, hashes, sizes))}


def _unsafe(p: str) -> bool:
    return not p or p[0] == "/" or p[-1] == "/" or "\\" in p or "\x00" in p or any(x in ("", ".", "..") for x in p.split("/"))


def _check_paths(paths: list[str]) -> list[str]:
    """Reject any stored path that is not canonical: absolute, with empty, '.' or '..' parts,
    backslashes or NULs (path traversal from a crafted manifest). A few substring searches
    over all paths joined with '/' (a million paths take about 0.1 s); only when one hits are
    the paths checked one by one, to name the culprit."""
    if not all(isinstance(p, str) for p in paths):
        raise FormatError("manifest paths must be strings")
    text = "/" + "/".join(paths) + "/"
    suspicious = ["//", "\\", "\x00"] + (["/./", "/../"] if "/." in text else [])
    if any(s in text for s in suspicious):
        bad = next((p for p in paths if _unsafe(p)), None)
        if bad is not None:
            raise FormatError(f"manifest names an unsafe path {bad!r}")
    return paths


def _dump(doc: dict[str, Any]) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(doc, separators=(",", ":")).encode())


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building millions of tuples triggers many useless GC passes (they form no cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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
    """Serialize a merged state (with origins), e.g. for the local cache (unsorted: fast)."""
    return _dump({"format": MANIFEST_FORMAT, "kind": "state", **_columns(state, sort=False)})


def state_from_bytes(data: bytes) -> dict[str, Entry]:
    """Load a merged state written by ``state_to_bytes``. States are derived locally from
    deltas that were validated when read from the store, so paths are not checked again."""
    with _gc_paused():
        return _entries(_load(data, "state"), check=False)


def apply_delta(base: dict[str, Entry], delta: Delta, origin: str) -> dict[str, Entry]:
    """Apply a version's delta on top of ``base`` in place, stamping new entries with ``origin``
    (C-level iteration: deltas may hold millions of entries)."""
    for p in delta.removed:
        base.pop(p, None)
    content = map(itemgetter(0, 1, 2, 3), delta.entries.values())
    base.update(zip(delta.entries.keys(), map(_new_entry, repeat(Entry), map(add, content, repeat((origin,))))))
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
    """Same bytes, link and metadata (the origin does not matter)."""
    return a is b or a[:4] == b[:4]


def diff_states(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> Diff:
    """What changed from ``old`` to ``new``."""
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    get = old.get
    modified = sorted(p for p, e in new.items() if (o := get(p)) is not None and o is not e and o[:4] != e[:4])
    return Diff(added, removed, modified)


def delta_between(base: Mapping[str, Entry], target: Mapping[str, Entry]) -> Delta:
    """The delta that turns ``base`` into ``target``."""
    d = diff_states(base, target)
    return Delta(entries={p: target[p]._replace(origin=None) for p in (*d.added, *d.modified)}, removed=set(d.removed))
