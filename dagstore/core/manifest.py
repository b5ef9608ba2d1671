"""Manifests: sorted file entries of a version, their merge along the DAG, diffs, and (de)serialization.

A *delta* is what one version records: entries it adds or modifies, and paths it removes.
A *state* is the full content of a version: the merge of its parents' states, in order,
with its own delta applied on top.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from itertools import repeat
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast


from ..errors import FormatError, InvalidPathError
from .decode import expect

MANIFEST_FORMAT = 2  # the newest JSON format (drafts; manifests of earlier releases); core.columns has format 3
PLAIN_FORMAT = 1  # written when no entry carries an annotation, so older readers still read it
ANNOTATED_FORMAT = 2  # manifests with the annotation column (older readers refuse them)


class Entry(NamedTuple):
    """One file of a version. ``hash`` is the xxh3-128 hex of the content; ``url`` is set for
    external links (content not stored); ``meta`` is optional user metadata; ``annotation`` is
    the file's ``dagstore.annotation/1`` object as canonical JSON text; ``origin`` is the id
    of the version that introduced this entry (filled in when states are merged)."""

    hash: str
    size: int
    url: str | None = None
    meta: dict[str, Any] | None = None
    annotation: str | None = None
    origin: str | None = None


# Stored annotation text is canonical JSON with '"' and "'" swapped: the manifest's JSON then
# needs almost no escapes for it, which makes loading a column of a million of them ~4x faster.
_QUOTE_SWAP = str.maketrans({'"': "'", "'": '"'})


def encode_annotation(annotation: Mapping[str, Any]) -> str:
    """The stored text of an annotation: canonical JSON (sorted keys, compact, UTF-8) with the
    two quote characters swapped. Equal annotations are equal strings, and a state holds one
    short string per annotated entry."""
    return json.dumps(annotation, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).translate(_QUOTE_SWAP)


def decode_annotation(text: str) -> Any:
    """The annotation object stored as ``text`` (see ``encode_annotation``)."""
    return json.loads(text.translate(_QUOTE_SWAP))


def annotation_object(text: str, path: str, where: Callable[[], str], load: Callable[[str], Any] = decode_annotation) -> dict[str, Any]:
    """The annotation of ``path`` stored as ``text`` (by ``load``: plain canonical JSON for a
    state's column); a text that does not parse or is not a JSON object is a FormatError
    naming ``where()`` (the manifest holding it: called only then). Parsed where it is used:
    a manifest's reading never parses its annotations (``verify`` does)."""
    try:
        value = load(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise FormatError(f"{where()} is corrupt (the annotation of {path!r} is not a JSON object)")
    return value


def normalize_path(path: str) -> str:
    """Canonical dataset path: relative, '/'-separated, no '.', '..' or empty parts. '/' is
    the only separator: a backslash is part of a file name, as on POSIX.

    Raises InvalidPathError for paths that would escape the dataset root.
    """
    if not isinstance(path, str) or not path or "\x00" in path:
        raise InvalidPathError(f"invalid dataset path {path!r}")
    p = path
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
    base = (dataset_path or "").lstrip("/")
    joined = posixpath.normpath(posixpath.join(base, rel)) if base else rel
    if joined == ".." or joined.startswith("../"):
        raise InvalidPathError(f"dataset path {dataset_path!r} escapes the dataset root")
    return normalize_path(joined)


def dataset_prefix(dataset_path: str | None) -> str:
    """Canonical folder prefix for ``dataset_path`` ("" for the dataset root; a leading '/'
    also means the root). Raises InvalidPathError if '..' climbs above the root."""
    base = (dataset_path or "").lstrip("/")
    if not base:
        return ""
    joined = posixpath.normpath(base)
    if joined == ".." or joined.startswith("../"):
        raise InvalidPathError(f"dataset path {dataset_path!r} escapes the dataset root")
    return "" if joined == "." else normalize_path(joined)


def match_path(path: str, pattern: str, recursive: bool = True) -> bool:
    """ClearML-style dataset path matching: an exact path, a glob (``**/`` matches any depth),
    or, when ``recursive``, a folder prefix or a bare file-name glob at any depth."""
    pat = pattern.lstrip("/")
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


def _columns(entries: Mapping[str, Entry], sort: bool = True) -> dict[str, Any]:
    """Column lists of a manifest (list comprehensions: this runs on millions of entries)."""
    paths = sorted(entries) if sort else list(entries)
    es = [entries[p] for p in paths] if sort else list(entries.values())
    cols: dict[str, Any] = {"paths": paths, "hashes": [e[0] for e in es], "sizes": [e[1] for e in es]}
    _add_sparse_columns(cols, es)
    origins = list(dict.fromkeys(e[5] for e in es))
    if origins and None not in origins:
        ix = {o: i for i, o in enumerate(origins)}
        cols["origins"] = origins
        cols["origin"] = [ix[e[5]] for e in es]
    return cols


def _add_sparse_columns(cols: dict[str, Any], es: list[Entry]) -> None:
    """urls, meta and annotations, keyed by entry index, when any entry has one."""
    urls = {str(i): e[2] for i, e in enumerate(es) if e[2] is not None}
    metas = {str(i): e[3] for i, e in enumerate(es) if e[3]}
    ann_ix = [i for i, e in enumerate(es) if e[4] is not None]
    if urls:
        cols["urls"] = urls
    if metas:
        cols["meta"] = metas
    if ann_ix:  # sparse: entry indices and their annotations' canonical JSON text
        cols["annotations"] = {"index": ann_ix, "text": [es[i][4] for i in ann_ix]}


def _format_of(cols: Mapping[str, Any]) -> int:
    """The format number a manifest with these columns is written with."""
    return ANNOTATED_FORMAT if "annotations" in cols else PLAIN_FORMAT


_new_entry = tuple.__new__


def _check_columns(doc: dict[str, Any], what: str) -> None:
    """Types of a stored manifest's columns, in C-level passes (millions of entries)."""
    cols = [doc.get(k) for k in ("paths", "hashes", "sizes")]
    expect(all(isinstance(c, list) for c in cols), what, "paths, hashes and sizes must be lists")
    paths, hashes, sizes = cast("list[list[Any]]", cols)
    expect(len(paths) == len(hashes) == len(sizes), what, "columns have different lengths")
    expect(set(map(type, hashes)) <= {str}, what, "a hash is not text")
    expect(set(map(type, sizes)) <= {int} and min(sizes, default=0) >= 0, what, "a size is not a byte count")
    urls, metas = doc.get("urls", {}), doc.get("meta", {})
    expect(isinstance(urls, dict) and set(map(type, urls.values())) <= {str}, what, "urls is not an object of URLs")
    expect(isinstance(metas, dict) and set(map(type, metas.values())) <= {dict}, what, "meta is not an object of objects")
    expect(isinstance(doc.get("removed", []), list), what, "removed is not a list")


def _entries(doc: dict[str, Any], check: bool = True, what: str = "manifest") -> dict[str, Entry]:
    if check:
        _check_columns(doc, what)
    paths, hashes, sizes = doc["paths"], doc["hashes"], doc["sizes"]
    if not (len(paths) == len(hashes) == len(sizes)):
        raise FormatError("manifest columns have different lengths")
    if check:
        _check_paths(paths)
    urls = doc.get("urls", {})
    metas = doc.get("meta", {})
    anns = doc.get("annotations")
    ann_col = _annotation_column(anns, len(paths)) if anns is not None else None
    origins = doc.get("origins")
    if origins:
        origin_col = doc["origin"]
        if len(origin_col) != len(paths):
            raise FormatError("manifest columns have different lengths")
        owners: Iterable[str | None] = map(origins.__getitem__, origin_col)
    else:
        owners = repeat(None)
    if not urls and not metas:  # the common cases, built without a Python-level loop
        rows = zip(hashes, sizes, repeat(None), repeat(None), repeat(None) if ann_col is None else ann_col, owners)
        return dict(zip(paths, map(_new_entry, repeat(Entry), rows)))
    owner_list = list(owners) if origins else [None] * len(paths)
    anns_of = ann_col or [None] * len(paths)
    return {p: Entry(h, s, urls.get(str(i)), metas.get(str(i)), anns_of[i], owner_list[i]) for i, (p, h, s) in enumerate(zip(paths, hashes, sizes))}


def _annotation_column(col: Any, n: int) -> list[str | None]:
    """The sparse annotation column ``{"index": [...], "text": [...]}`` as one value per entry."""
    if not isinstance(col, dict) or not isinstance(col.get("index"), list) or not isinstance(col.get("text"), list) or len(col["index"]) != len(col["text"]):
        raise FormatError("manifest annotations column is malformed")
    index, text = col["index"], col["text"]
    if not set(map(type, text)) <= {str}:
        raise FormatError("manifest annotations must be JSON text")
    if index and (not set(map(type, index)) <= {int} or min(index) < 0):
        raise FormatError("manifest annotations column index out of range")
    if len(index) == n and (not n or (index[0] == 0 and index[-1] == n - 1)) and index == list(range(n)):
        return text  # every entry annotated: the column is already dense
    out: list[str | None] = [None] * n
    try:
        for i, t in zip(index, text):
            out[i] = t
    except (TypeError, IndexError):
        raise FormatError("manifest annotations column index out of range") from None
    return out


def _unsafe(p: str) -> bool:
    return not p or p[0] == "/" or p[-1] == "/" or "\x00" in p or any(x in ("", ".", "..") for x in p.split("/"))


def _check_paths(paths: list[str]) -> list[str]:
    """Reject any stored path that is not canonical: absolute, with empty, '.' or '..' parts,
    or NULs (path traversal from a crafted manifest; a backslash is a plain character). A
    few substring searches over all paths joined with '/' (a million paths take about 0.1 s);
    only when one hits are the paths checked one by one, to name the culprit."""
    if not all(isinstance(p, str) for p in paths):
        raise FormatError("manifest paths must be strings")
    text = "/" + "/".join(paths) + "/"
    suspicious = ["//", "\x00"] + (["/./", "/../"] if "/." in text else [])
    if any(s in text for s in suspicious):
        bad = next((p for p in paths if _unsafe(p)), None)
        if bad is not None:
            raise FormatError(f"manifest names an unsafe path {bad!r}")
    return paths


@dataclass(frozen=True)
class Diff:
    """Paths that differ between two states, each list sorted. ``annotation_only`` lists the
    modified paths whose content is unchanged (only their annotation differs)."""

    added: list[str]
    removed: list[str]
    modified: list[str]
    annotation_only: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)


def same_content(a: Entry, b: Entry) -> bool:
    """Same bytes, link, metadata and annotation (the origin does not matter)."""
    return a is b or a[:5] == b[:5]
