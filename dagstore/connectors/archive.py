"""Safe extraction of zip archives (``Dataset.add_zip``).

Every entry is checked before anything is written: a name with ``..``, an absolute or drive
path, a symlink or special file, an encrypted entry, a duplicate path, a per-entry or overall
decompression ratio over ``MAX_RATIO``, or a total size over ``MAX_TOTAL`` refuses the whole
archive. Extraction then writes into a fresh folder, never following links, and checks each
entry's CRC (zipfile does) and size as it goes.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any

from ..api import origin
from ..errors import InvalidPathError

MAX_RATIO = 100.0  # uncompressed / compressed, for entries (and archives) over RATIO_MIN_SIZE
RATIO_MIN_SIZE = 1 << 20
MAX_TOTAL = 8 << 30
MAX_ENTRIES = 1_000_000
_DRIVE = re.compile(r"^[A-Za-z]:")
# image signatures (magic bytes), checked on content, not on names
_IMAGE_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\x89PNG\r\n\x1a\n"), (0, b"\xff\xd8\xff"), (0, b"GIF87a"), (0, b"GIF89a"), (0, b"BM"),
    (0, b"II*\x00"), (0, b"MM\x00*"), (8, b"WEBP"), (0, b"\x00\x00\x01\x00"), (4, b"ftypavif"), (4, b"ftypheic"),
)


class UnsafeArchiveError(InvalidPathError):
    """A zip archive was refused whole: a hostile entry, a bomb, or (``only_images``) a non-image."""


@dataclass(frozen=True)
class Limits:
    max_ratio: float
    max_total: int
    max_entries: int

    @classmethod
    def default(cls) -> Limits:
        return cls(MAX_RATIO, MAX_TOTAL, MAX_ENTRIES)


def is_image(head: bytes) -> bool:
    """Whether these first bytes (16 suffice) start an image file (PNG, JPEG, GIF, BMP, TIFF,
    WebP, ICO, AVIF/HEIC)."""
    if head[:4] == b"RIFF" and head[8:12] != b"WEBP":
        return False
    return any(head[off:off + len(sig)] == sig for off, sig in _IMAGE_MAGIC)


def _entry_path(info: zipfile.ZipInfo, archive: str) -> str:
    raw = info.filename
    name = raw.replace("\\", "/")
    if not name or name.startswith("/") or _DRIVE.match(name) or "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: entry {raw!r} has an absolute path; archive refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"{archive}: entry {raw!r} escapes the target folder ('..'); archive refused")
    return "/".join(parts)


def check_zip(path: str, only_images: bool = False, limits: Limits | None = None) -> list[tuple[zipfile.ZipInfo, str]]:
    """The archive's file entries as ``(info, safe relative path)``, or UnsafeArchiveError."""
    limits = limits or Limits.default()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchiveError(f"{path}: not a readable zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise UnsafeArchiveError(f"{path}: {len(infos)} entries, over the limit of {limits.max_entries}")
        out: list[tuple[zipfile.ZipInfo, str]] = []
        seen: set[str] = set()
        dirs: set[str] = set()
        total = packed = 0
        for info in infos:
            rel = _entry_path(info, path)
            mode = info.external_attr >> 16
            if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "a symlink" if stat.S_ISLNK(mode) else "a special file"
                raise UnsafeArchiveError(f"{path}: entry {info.filename!r} is {kind}; archive refused")
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(f"{path}: entry {info.filename!r} is encrypted; archive refused")
            if info.is_dir() or not rel:
                continue
            parents = {posixpath.join(*rel.split("/")[:k]) for k in range(1, rel.count("/") + 1)}
            if rel in seen or rel in dirs or parents & seen:
                raise UnsafeArchiveError(f"{path}: entry {info.filename!r} is a duplicate path; archive refused")
            seen.add(rel)
            dirs |= parents
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > RATIO_MIN_SIZE and ratio > limits.max_ratio:
                raise UnsafeArchiveError(f"{path}: entry {info.filename!r} expands {ratio:.0f}x (limit "
                                         f"{limits.max_ratio:.0f}x): a decompression bomb; archive refused")
            total += info.file_size
            packed += info.compress_size
            if total > limits.max_total:
                raise UnsafeArchiveError(f"{path}: more than {limits.max_total} bytes uncompressed (limit); archive refused")
            out.append((info, rel))
        if total > RATIO_MIN_SIZE and total / max(packed, 1) > limits.max_ratio:
            raise UnsafeArchiveError(f"{path}: expands {total / max(packed, 1):.0f}x overall (limit "
                                     f"{limits.max_ratio:.0f}x): a decompression bomb; archive refused")
        if only_images:
            for info, rel in out:
                with zf.open(info) as f:
                    if not is_image(f.read(16)):
                        raise UnsafeArchiveError(f"{path}: {rel} is not an image (by its content); archive refused "
                                                 "(only_images=True)")
        return out


def extract_zip(path: str, dest: str, only_images: bool = False, limits: Limits | None = None) -> list[str]:
    """Check, then extract the archive's files into the empty folder ``dest``; returns their
    relative paths. Any problem raises before or while writing; the caller removes ``dest``."""
    entries = check_zip(path, only_images, limits)
    with zipfile.ZipFile(path) as zf:
        for info, rel in entries:
            target = os.path.join(dest, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:
                            raise UnsafeArchiveError(f"{path}: entry {rel} is larger than it declares; archive refused")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError) as exc:
                if isinstance(exc, FileExistsError):
                    raise UnsafeArchiveError(f"{path}: entry {rel} is a duplicate path; archive refused") from None
                raise UnsafeArchiveError(f"{path}: entry {rel} is corrupt: {exc}; archive refused") from None
    return [rel for _i, rel in entries]


def add_zip(ds: Any, path: str, dataset_path: str | None = None, only_images: bool = False) -> int:
    """``Dataset.add_zip``: check the whole archive, extract it into a private folder, add and
    upload its files, mark the draft's origin ``zip``. Nothing is added when it is refused."""
    ds._v.require_draft()
    staging = tempfile.mkdtemp(prefix="dagstore-zip-")
    try:
        rels = extract_zip(os.fspath(path), staging, only_images)
        if not rels:
            return 0
        n = ds.add_files(staging, dataset_path=dataset_path)
        try:
            ds.upload(show_progress=False)  # the staged files are removed below
        except BaseException:
            prefix = (dataset_path or "").strip("/")
            for rel in rels:
                ds.remove_files(f"{prefix}/{rel}" if prefix else rel)
            raise
        origin.mark(ds._v, "zip")
        return int(n)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
