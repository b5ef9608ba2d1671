"""Version records (the immutable description of a version) and drafts, as stored JSON."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass, field, replace
from collections.abc import Sequence
from typing import Any

import zstandard

from ..errors import InvalidPathError
from .decode import check_format, decoding, expect, is_hex, is_str_list, parse_object
from .manifest import MANIFEST_FORMAT, PLAIN_FORMAT, Delta, Entry, _columns, _entries, _format_of

RECORD_FORMAT = 2  # 2: the version's manifest is columnar (format 3); dagstore before it refuses the record
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MANIFEST_KEY = re.compile(r"^manifests/[0-9a-f]{32}$")


def check_name(value: Any, what: str) -> str:
    """A dataset name or project: text that is not blank and holds no control character
    (a NUL would let ``"p\\0a"/"b"`` and ``"p"/"a\\0b"`` share a name key)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPathError(f"{what} must be a non-blank text (got {value!r})")
    if _CONTROL.search(value):
        raise InvalidPathError(f"{what} {value!r} contains a control character; use printable text")
    return value


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidPathError(f"invalid dataset_version {version!r}: use letters, digits and . _ + - (e.g. 1.0.0)")
    return version


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key: numeric parts compare as numbers (1.0.10 > 1.0.9), others as text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.+-]", version))


def bump_version(version: str) -> str:
    """1.0.0 -> 1.0.1; a non-numeric last part gets '.1' appended."""
    parts = version.split(".")
    if parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return version + ".1"


ORIGINS = ("upload", "datasource", "pipeline", "import", "zip")


def check_origin(origin: str) -> str:
    if origin not in ORIGINS:
        raise InvalidPathError(f"invalid origin {origin!r}: use one of {', '.join(ORIGINS)}")
    return origin


@dataclass(frozen=True)
class VersionRecord:
    """What a version is. For a final version this is written once and never changes; the
    mutable labels (name, project, tags, published) may be overridden by a state object."""

    id: str
    name: str
    project: str
    version: str
    parents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    created: str = ""
    finalized: str = ""
    manifest: str = ""  # object key of the delta manifest (final versions)
    packs: tuple[str, ...] = ()  # packs holding blobs of this version's delta
    objects: tuple[str, ...] = ()  # large blobs of this version's delta
    content_url: str | None = None  # where packs/objects live, when not in the registry
    stats: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    published: bool = False
    version_explicit: bool = False
    # dataset-level annotation metadata: {"classes": [{name, coco_id?}], "colors": {}, "splits": []}
    annotations: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None  # upload, datasource, pipeline, import or zip (None: not decided yet / older records)

    def to_json(self) -> bytes:
        d = asdict(self)
        if not d["annotations"]:
            del d["annotations"]  # records without annotation metadata stay as before
        d["format"] = RECORD_FORMAT
        return json.dumps(d, indent=1, sort_keys=True).encode()

    @classmethod
    def from_dict(cls, d: Any, what: str = "version record") -> VersionRecord:
        """A record from its JSON object, every known field type-checked (FormatError naming
        ``what`` otherwise); unknown fields are ignored."""
        expect(isinstance(d, dict), what, "not a JSON object")
        check_format(d, what, RECORD_FORMAT)
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k, v in known.items():
            ok, kind = _FIELDS[k]
            expect(ok(v), what, f"{k} is not {kind}")
        for k in ("parents", "tags", "packs", "objects"):
            known[k] = tuple(known.get(k, ()))
        with decoding(what):  # a required field is missing
            return cls(**known)

    @classmethod
    def from_json(cls, data: bytes, what: str = "version record") -> VersionRecord:
        return cls.from_dict(parse_object(data, what), what)

    def with_labels(self, labels: dict[str, Any]) -> VersionRecord:
        keep: dict[str, Any] = {k: (tuple(v) if k == "tags" else v) for k, v in labels.items()
                                if k in ("name", "project", "tags", "published", "description")}
        return replace(self, **keep)


def _is_id(v: Any) -> bool:
    return isinstance(v, str) and v.isalnum() and 0 < len(v) <= 64


_FIELDS: dict[str, tuple[Any, str]] = {
    "id": (_is_id, "an id"),
    "name": (lambda v: isinstance(v, str), "text"),
    "project": (lambda v: isinstance(v, str), "text"),
    "version": (lambda v: isinstance(v, str), "text"),
    "parents": (lambda v: isinstance(v, list) and all(map(_is_id, v)), "a list of ids"),
    "tags": (is_str_list, "a list of texts"),
    "description": (lambda v: isinstance(v, str), "text"),
    "created": (lambda v: isinstance(v, str), "text"),
    "finalized": (lambda v: isinstance(v, str), "text"),
    "manifest": (lambda v: v == "" or (isinstance(v, str) and bool(_MANIFEST_KEY.match(v))), "a manifest key"),
    "packs": (lambda v: isinstance(v, list) and all(map(is_hex, v)), "a list of pack ids"),
    "objects": (lambda v: isinstance(v, list) and all(map(is_hex, v)), "a list of hashes"),
    "content_url": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a URL"),
    "stats": (lambda v: isinstance(v, dict), "an object"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "published": (lambda v: isinstance(v, bool), "true or false"),
    "version_explicit": (lambda v: isinstance(v, bool), "true or false"),
    "annotations": (lambda v: isinstance(v, dict), "an object"),
    "origin": (lambda v: v is None or (isinstance(v, str) and bool(v)), "an origin name"),
}


_PIECE = 4096  # pending entries serialized at once
_PIECE_CHARS = 1 << 20  # characters encoded to UTF-8 at once
_compact = functools.partial(json.dumps, separators=(",", ":"))
_AS_THEY_ARE = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')  # what json.dumps writes unescaped


def _plain(strings: Sequence[str]) -> bool:
    """Whether ``json.dumps`` writes each of ``strings`` as itself between quotes (printable
    ASCII but '"' and '\\'): checked on them all joined, in C, not by an escape call each."""
    try:
        text = "".join(strings)
    except TypeError:  # not all text
        return False
    return text.isascii() and not text.encode().translate(None, _AS_THEY_ARE)


def _string_list(strings: Sequence[str]) -> str:
    """``_compact(list(strings))``, joined as they are when none needs an escape."""
    if strings and _plain(strings):
        return '["' + '","'.join(strings) + '"]'
    return _compact(list(strings))


def _delta_json(entries: dict[str, Entry]) -> tuple[int, str, bool]:
    """The delta's manifest columns as compact JSON (the text of ``_compact(_columns(entries))``),
    their format, and whether the text may be reused (no entry has a meta dict, which could
    change in place). Entries with only a hash and a size (a folder's files) are written as
    three columns joined in C, without a Python call per entry."""
    paths = sorted(entries)
    columns = zip(*map(entries.__getitem__, paths))  # hash, size, url, meta, annotation, origin: one at a time
    hashes, sizes = next(columns, None), next(columns, None)
    if hashes is not None and [col.count(None) for col in columns] == [len(paths)] * 4:  # no url, meta, annotation, origin
        return PLAIN_FORMAT, f'{{"paths":{_string_list(paths)},"hashes":{_string_list(hashes)},"sizes":{_compact(sizes)}}}', True
    cols = _columns(entries)
    return _format_of(cols), _compact(cols), "meta" not in cols


def _pending_text(keys: list[str], values: list[tuple[str, int, int]]) -> str:
    """``_compact(dict(zip(keys, values)))`` without its braces. When the paths need no escape
    and the times are ints (as ``add_files`` leaves them) the text is joined from the columns
    in C: a slice assignment each, not a JSON encoder call per entry."""
    try:
        local, mtimes, ctimes = zip(*values, strict=True)
    except (TypeError, ValueError):  # not all (path, mtime, ctime)
        local = mtimes = ctimes = ()
    if not (local and set(map(type, mtimes + ctimes)) == {int} and _plain(keys) and _plain(local)):
        return _compact(dict(zip(keys, values)))[1:-1]
    parts = ["", '":["', "", '",', "", ",", "", '],"'] * len(keys)  # "key":["path",mtime,ctime],"
    parts[0::8] = keys
    parts[2::8] = local
    parts[4::8] = times = list(map(str, mtimes))
    parts[6::8] = times if ctimes == mtimes else map(str, ctimes)  # a file written once: the same times
    return '"' + "".join(parts)[:-2]


def _pending_pieces(pending: dict[str, tuple[str, int, int]]) -> list[bytes]:
    """``_compact(pending)`` as UTF-8 pieces of ``_PIECE`` entries each, so that the text of
    W1's pending files is never whole in memory, as text and encoded, at once."""
    keys, values = list(pending), list(pending.values())
    return [(("{" if i == 0 else ",") + _pending_text(keys[i : i + _PIECE], values[i : i + _PIECE])
             + ("}" if i + _PIECE >= len(keys) else "")).encode() for i in range(0, max(len(keys), 1), _PIECE)]


@dataclass
class Draft:
    """A mutable version under construction, persisted in the store between processes.
    ``pending`` maps dataset paths whose content is not uploaded yet to ``(local file,
    mtime_ns, ctime_ns when hashed)`` (ctime 0: not known, a draft saved before it was kept)."""

    record: VersionRecord
    delta: Delta = field(default_factory=Delta)
    pending: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    # the delta as last written, (entries, removed, format, its JSON): a save that follows with the
    # same delta (upload's, after add_files') reuses its JSON (W1: 0.1 s); used once, then dropped
    _written: tuple[dict[str, Entry], frozenset[str], int, str] | None = field(default=None, repr=False, compare=False)
    # xxh3-128 of the draft as this process last read or wrote it (None: never stored), which a save
    # checks the store still holds: another process's save since is never overwritten unseen
    stored: str | None = field(default=None, repr=False, compare=False)

    def to_bytes(self) -> bytes:
        """The draft as stored: zstd of ``{"format", "record", "delta", "removed", "pending"}``."""
        written, self._written = self._written, None
        entries, removed = self.delta.entries, self.delta.removed
        if written is not None and written[1] == removed and written[0] == entries:  # same Entry objects: a pointer compare each
            fmt, delta = written[2], written[3]
        else:
            fmt, delta, reusable = _delta_json(entries)
            if reusable:  # entries are immutable but for their meta dicts: only those could change unseen
                self._written = (dict(entries), frozenset(removed), fmt, delta)
        head = f'{{"format":{_compact(fmt)},"record":{_compact(json.loads(self.record.to_json()))},"delta":'.encode()
        tail = [f',"removed":{_compact(sorted(removed))},"pending":'.encode(), *_pending_pieces(self.pending), b"}"]
        size = len(head) + (len(delta) if delta.isascii() else len(delta.encode())) + sum(map(len, tail))
        z = zstandard.ZstdCompressor(level=1).compressobj(size=size)  # one frame, its size in its header, as compress() writes
        out = [z.compress(head)]  # the text a piece at a time: never whole in memory (W1: 29 MB of peak)
        out += [z.compress(delta[i : i + _PIECE_CHARS].encode()) for i in range(0, len(delta), _PIECE_CHARS)]
        out += [z.compress(piece) for piece in tail]
        out.append(z.flush())
        return b"".join(out)  # the zstd of what json.dumps(doc) writes

    def take_uploads(self, other: Draft) -> bool:
        """Take in ``other`` (this draft as another process saved it since) when the two differ
        only in what each uploaded (the same delta, the same record but for packs and objects):
        then both's packs and objects are this draft's, and a path stays pending only if pending
        in both. False, nothing changed, otherwise."""
        bare = functools.partial(replace, packs=(), objects=())
        if (bare(self.record) != bare(other.record) or self.delta.removed != other.delta.removed
                or self.delta.entries != other.delta.entries):
            return False
        self.record = replace(self.record, packs=tuple(sorted({*self.record.packs, *other.record.packs})),
                              objects=tuple(sorted({*self.record.objects, *other.record.objects})))
        self.pending = {p: v for p, v in self.pending.items() if p in other.pending}
        self.stored = other.stored
        return True

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "draft") -> Draft:
        doc = parse_object(data, what, compressed=True, known_format=MANIFEST_FORMAT)
        removed, pending = doc.get("removed", []), doc.get("pending", {})
        expect(isinstance(doc.get("delta"), dict), what, "no delta")
        expect(is_str_list(removed), what, "removed is not a list of paths")
        expect(isinstance(pending, dict), what, "pending is not an object")
        with decoding(what):
            delta = Delta(entries=_entries(doc["delta"], what=what), removed=set(removed))
            pending = {k: (str(v[0]), int(v[1]), int(v[2]) if len(v) > 2 else 0) for k, v in pending.items()}
        return cls(VersionRecord.from_dict(doc.get("record"), f"{what} (its record)"), delta, pending)
