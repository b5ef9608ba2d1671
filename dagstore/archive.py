"""The one zip guard: every archive dagstore unpacks (``add_zip``, annotation imports,
export downloads) is checked whole here before anything is written.

Refused, with one line naming the entry: a name with ``..``, an absolute or drive path, a NUL
byte, a symlink or other special file, an encrypted entry, a duplicate path (or a file that is
also a folder), an entry or archive expanding more than ``MAX_RATIO`` times (a decompression
bomb), more than ``MAX_TOTAL`` bytes or ``MAX_ENTRIES`` entries in all. Extraction then writes
only regular files into an empty folder, never following links, and checks each entry's CRC
(zipfile does) and declared size as it goes; the caller removes the folder on error.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass

from .errors import FormatError, InvalidPathError

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
    """A zip archive refused whole: a hostile entry, a bomb, or (``only_images``) a non-image.
    ``archive`` is the archive's path, ``reason`` the line without it."""

    def __init__(self, archive: str, reason: str):
        self.archive, self.reason = archive, reason
        super().__init__(f"{archive}: {reason}")


class UnreadableArchiveError(UnsafeArchiveError, FormatError):
    """The file is not a zip archive (or its directory is corrupt)."""


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


def _refuse(archive: str, info: zipfile.ZipInfo, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(archive, f"entry {info.filename!r} {why}; archive refused")


def _entry_path(info: zipfile.ZipInfo, archive: str) -> str:
    """The entry's safe relative path ('/'-separated; '' for the root folder)."""
    name = info.filename.replace("\\", "/")
    if not name or name.startswith("/") or _DRIVE.match(name) or "\x00" in name:
        raise _refuse(archive, info, "has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, info, "escapes the target folder ('..')")
    return "/".join(parts)


def _check_kind(info: zipfile.ZipInfo, archive: str) -> None:
    mode = info.external_attr >> 16
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refuse(archive, info, "is a symlink" if stat.S_ISLNK(mode) else "is a special file")
    if info.flag_bits & 0x1:
        raise _refuse(archive, info, "is encrypted")


class _Tally:
    """Duplicate paths and running sizes over an archive's entries."""

    def __init__(self, archive: str, limits: Limits):
        self.archive, self.limits = archive, limits
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.total = self.packed = 0

    def add(self, info: zipfile.ZipInfo, rel: str) -> None:
        parents = {posixpath.join(*rel.split("/")[:k]) for k in range(1, rel.count("/") + 1)}
        if rel in self.files or rel in self.dirs or parents & self.files:
            raise _refuse(self.archive, info, "is a duplicate path")
        self.files.add(rel)
        self.dirs |= parents
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_MIN_SIZE and ratio > self.limits.max_ratio:
            raise _refuse(self.archive, info, f"expands {ratio:.0f}x (limit {self.limits.max_ratio:.0f}x): "
                                              "a decompression bomb")
        self.total += info.file_size
        self.packed += info.compress_size
        if self.total > self.limits.max_total:
            raise UnsafeArchiveError(self.archive, f"more than {self.limits.max_total} bytes uncompressed "
                                                   "(limit); archive refused")

    def finish(self) -> None:
        ratio = self.total / max(self.packed, 1)
        if self.total > RATIO_MIN_SIZE and ratio > self.limits.max_ratio:
            raise UnsafeArchiveError(self.archive, f"expands {ratio:.0f}x overall (limit {self.limits.max_ratio:.0f}x): "
                                                   "a decompression bomb; archive refused")


def open_zip(path: str) -> zipfile.ZipFile:
    """The archive opened for reading, or UnreadableArchiveError."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableArchiveError(path, f"not a readable zip archive: {' '.join(str(exc).split())}") from None


def check_entries(zf: zipfile.ZipFile, path: str, only_images: bool = False,
                  limits: Limits | None = None) -> list[tuple[zipfile.ZipInfo, str]]:
    """The open archive's file entries as ``(info, safe relative path)``, or UnsafeArchiveError."""
    limits = limits or Limits.default()
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise UnsafeArchiveError(path, f"{len(infos)} entries, over the limit of {limits.max_entries}; archive refused")
    tally = _Tally(path, limits)
    out: list[tuple[zipfile.ZipInfo, str]] = []
    for info in infos:
        rel = _entry_path(info, path)
        _check_kind(info, path)
        if info.is_dir() or not rel:
            continue
        tally.add(info, rel)
        out.append((info, rel))
    tally.finish()
    if only_images:
        for info, rel in out:
            with zf.open(info) as f:
                if not is_image(f.read(16)):
                    raise UnsafeArchiveError(path, f"{rel} is not an image (by its content); archive refused "
                                                   "(only_images=True)")
    return out


def extract_zip(path: str, dest: str, only_images: bool = False, limits: Limits | None = None) -> list[str]:
    """Check the whole archive, then extract its files into the empty folder ``dest``; returns
    their relative paths. Any problem raises before or while writing; the caller removes ``dest``."""
    with open_zip(path) as zf:
        entries = check_entries(zf, path, only_images, limits)
        for info, rel in entries:
            _extract_one(zf, info, path, os.path.join(dest, *rel.split("/")))
    return [rel for _i, rel in entries]


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    written = 0
    try:
        with zf.open(info) as src, open(target, "xb") as out:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > info.file_size:
                    raise _refuse(path, info, "is larger than it declares")
                out.write(chunk)
    except FileExistsError:
        raise _refuse(path, info, "is a duplicate path") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(path, info, f"is corrupt: {' '.join(str(exc).split())}") from None
