"""Version records (the immutable description of a version) and drafts, as stored JSON."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import zstandard

from ..errors import FormatError, InvalidPathError
from .manifest import MANIFEST_FORMAT, Delta, _columns, _entries, _format_of

RECORD_FORMAT = 1
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")


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

    def to_json(self) -> bytes:
        d = asdict(self)
        if not d["annotations"]:
            del d["annotations"]  # records without annotation metadata stay as before
        d["format"] = RECORD_FORMAT
        return json.dumps(d, indent=1, sort_keys=True).encode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VersionRecord:
        if d.get("format", 0) > RECORD_FORMAT:
            raise FormatError(f"version record format {d.get('format')} is newer than this dagstore; upgrade dagstore")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("parents", "tags", "packs", "objects"):
            known[k] = tuple(known.get(k, ()))
        return cls(**known)

    @classmethod
    def from_json(cls, data: bytes) -> VersionRecord:
        try:
            return cls.from_dict(json.loads(data))
        except (ValueError, TypeError) as exc:
            raise FormatError(f"corrupt version record: {exc}") from exc

    def with_labels(self, labels: dict[str, Any]) -> VersionRecord:
        keep = {k: (tuple(v) if k == "tags" else v) for k, v in labels.items() if k in ("name", "project", "tags", "published")}
        return replace(self, **keep)


@dataclass
class Draft:
    """A mutable version under construction, persisted in the store between processes.
    ``pending`` maps dataset paths whose content is not uploaded yet to ``(local file,
    mtime_ns when hashed)``."""

    record: VersionRecord
    delta: Delta = field(default_factory=Delta)
    pending: dict[str, tuple[str, int]] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        cols = _columns(self.delta.entries)
        doc = {
            "format": _format_of(cols),
            "record": json.loads(self.record.to_json()),
            "delta": cols,
            "removed": sorted(self.delta.removed),
            "pending": self.pending,
        }
        return zstandard.ZstdCompressor(level=1).compress(json.dumps(doc, separators=(",", ":")).encode())

    @classmethod
    def from_bytes(cls, data: bytes) -> Draft:
        try:
            doc = json.loads(zstandard.ZstdDecompressor().decompress(data))
        except (zstandard.ZstdError, ValueError) as exc:
            raise FormatError(f"corrupt draft: {exc}") from exc
        if doc.get("format", 0) > MANIFEST_FORMAT:
            raise FormatError("draft written by a newer dagstore; upgrade dagstore")
        delta = Delta(entries=_entries(doc["delta"]), removed=set(doc.get("removed", [])))
        pending = {k: (v[0], int(v[1])) for k, v in doc.get("pending", {}).items()}
        return cls(VersionRecord.from_dict(doc["record"]), delta, pending)
