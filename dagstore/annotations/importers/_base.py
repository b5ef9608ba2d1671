"""What every importer shares: the protocol, the item it yields, and the import context that
resolves media files safely and applies the ``on_error`` policy."""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ...core.hashing import SMALL_FILE, hash_bytes
from ..classes import ClassList
from ..errors import AnnotationError, ImportSourceError
from ..jpeg import JpegProbe
from ..media import probe, probe_bytes
from ...core.decode import loads
from ..schema import decode


def _read_batch(paths: list[str]) -> dict[str, tuple[os.stat_result, bytes]]:
    """(stat, content) of each of ``paths`` that is a small regular file (a thread's share of a
    read-ahead; system calls only, no file object: the less Python, the less waiting for the GIL)."""
    out = {}
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # media_info reads it again and reports
        try:
            st = os.fstat(fd)
            if st.st_size < SMALL_FILE and stat.S_ISREG(st.st_mode):
                data = os.read(fd, st.st_size + 1)  # fewer bytes than asked: the end of the file
                while len(data) > st.st_size and (more := os.read(fd, 1 << 20)):
                    data += more  # it grew since the stat: read on to its end
                out[path] = (st, data)
        except OSError:
            pass
        finally:
            os.close(fd)
    return out


class ReadAhead:
    """Small files read ahead, in order, by a few threads: a cold disk serves many reads at
    once (the reads release the GIL). ``take`` hands out what was read, at most ``window``
    batches ahead of the reader."""

    def __init__(self, paths: list[str], threads: int = 8, batch: int = 64, window: int = 16):
        self._wanted = set(paths)
        self._batches = iter([paths[i : i + batch] for i in range(0, len(paths), batch)])
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dagstore-read")
        self._pending: deque[Future[dict[str, tuple[os.stat_result, bytes]]]] = deque()
        self._ready: dict[str, tuple[os.stat_result, bytes]] = {}
        for _ in range(window):
            self._submit()

    def _submit(self) -> None:
        batch = next(self._batches, None)
        if batch is not None:
            self._pending.append(self._pool.submit(_read_batch, batch))

    def take(self, path: str) -> tuple[os.stat_result, bytes] | None:
        """(stat, content) of ``path`` if it was read ahead, else None."""
        if path not in self._wanted:
            return None
        self._wanted.discard(path)
        while path not in self._ready and self._pending:
            self._ready.update(self._pending.popleft().result())
            self._submit()
        return self._ready.pop(path, None)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ImportItem:
    """One file of the import: its dataset path (relative to the import's ``dataset_path``),
    its annotation, and where its content comes from (a local file, an external URL, or bytes).
    A ``plain`` file (a table's ``table.json`` and ``data.parquet``) is stored without an
    annotation and is not an item of the report's counts. With ``text`` (the stored text of an
    annotation the importer wrote and checked directly), ``annotation`` is given only its
    split, and is decoded from the text when first read."""

    __slots__ = ("path", "_head", "_annotation", "origin", "local", "url", "data", "plain", "text")

    def __init__(self, path: str, annotation: dict[str, Any], origin: str, local: str | None = None, url: str | None = None,
                 data: bytes | None = None, plain: bool = False, text: str | None = None):
        self.path, self.origin, self.local, self.url, self.data, self.plain, self.text = path, origin, local, url, data, plain, text
        self._head = annotation
        self._annotation: dict[str, Any] | None = None if text is not None else annotation

    @property
    def annotation(self) -> dict[str, Any]:
        if self._annotation is None:
            self._annotation = decode(self.text or "{}")
        return self._annotation

    @annotation.setter
    def annotation(self, value: dict[str, Any]) -> None:
        self._annotation = value

    @property
    def split(self) -> Any:
        """The annotation's split (a text annotation is not decoded for it)."""
        return (self._head if self._annotation is None else self._annotation).get("split")

    def __repr__(self) -> str:
        return f"ImportItem({self.path!r}, origin={self.origin!r}, local={self.local!r})"


class Importer(Protocol):
    """One import format. ``read`` parses ``source`` (a local file or folder) into ``ctx``."""

    name: str
    options: tuple[str, ...]

    def read(self, source: Path, ctx: ImportContext) -> None: ...


@dataclass
class ImportContext:
    """Collects the items and classes of one import; item problems raise or are skipped."""

    format: str
    media: Path | None = None
    split: str | None = None
    policy: str = "ground_truth"
    on_error: str = "raise"
    options: dict[str, Any] = field(default_factory=dict)
    items: dict[str, ImportItem] = field(default_factory=dict)
    classes: ClassList = field(default_factory=ClassList)
    skipped: list[dict[str, str]] = field(default_factory=list)
    cleanup: list[Path] = field(default_factory=list)  # temporary folders removed after the import
    guessed: dict[str, Any] = field(default_factory=dict)  # what the importer inferred from the layout (reported)
    ignored: list[dict[str, str]] = field(default_factory=list)  # what the source holds that the format does not import (reported)
    hashed: dict[str, tuple[str, int, os.stat_result]] = field(default_factory=dict)  # local path -> (hash, size, stat) of media read whole
    _real_roots: dict[Path, str] = field(default_factory=dict, repr=False)
    _listings: dict[str, dict[str, bool]] = field(default_factory=dict, repr=False)
    _ahead: ReadAhead | None = field(default=None, repr=False)
    _jpeg: JpegProbe = field(default_factory=JpegProbe, repr=False)

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise AnnotationError("on_error", "on_error", f"must be 'raise' or 'skip', not {self.on_error!r}")

    # -- problems ---------------------------------------------------------------------------

    def problem(self, where: str, field_: str, reason: str) -> None:
        """An item-level problem: raise (``on_error="raise"``) or record a skip."""
        if self.on_error == "raise":
            raise AnnotationError(where, field_, reason)
        self.skipped.append({"path": where, "reason": f"{field_}: {reason}" if field_ else reason})

    # -- classes ----------------------------------------------------------------------------

    def add_classes(self, names: list[str], coco_ids: Mapping[str, int] | None = None, colors: Mapping[str, str] | None = None) -> None:
        self.classes = self.classes.extend(names, colors=colors, coco_ids=coco_ids)

    # -- items ------------------------------------------------------------------------------

    def add(self, item: ImportItem) -> bool:
        """Add an item; a second item on the same dataset path is a problem."""
        split = self.split or item.split
        if split and not item.plain and split != item.split:
            ann = item.annotation  # (a text annotation, decoded: its text no longer holds)
            item.text = None
            ann["split"] = split
        prev = self.items.get(item.path)
        if prev is not None:
            self.problem(item.origin, "path", f"dataset path {item.path!r} is also the target of {prev.origin} (duplicate file name)")
            return False
        self.items[item.path] = item
        return True

    def resolve_media(self, root: Path, rel: str, where: str, field_: str) -> Path | None:
        """The file ``rel`` under ``root``, refusing ``..``, absolute paths and symlinks that
        leave ``root``; ``None`` (after reporting the problem) when unsafe or missing."""
        rel_n = rel.replace("\\", "/")
        parts = [p for p in rel_n.split("/") if p not in ("", ".")]
        if rel_n.startswith("/") or (len(rel_n) > 1 and rel_n[1] == ":") or ".." in parts or not parts:
            self.problem(where, field_, f"media path {rel!r} escapes the media root")
            return None
        candidate = root.joinpath(*parts)
        root_real = self._real(root)
        try:
            st = os.lstat(candidate)
        except OSError:
            self.problem(where, field_, f"media file {rel!r} not found under {root.name or root}")
            return None
        # the folder is resolved once (cached); the file itself only when it is a symlink
        real = os.path.realpath(candidate) if stat.S_ISLNK(st.st_mode) else os.path.join(self._real(candidate.parent), candidate.name)
        if not real.startswith(root_real + os.sep):
            self.problem(where, field_, f"media path {rel!r} is a symlink out of the media root")
            return None
        if not os.path.isfile(real):
            self.problem(where, field_, f"media path {rel!r} is not a regular file" if os.path.exists(real) else f"media file {rel!r} not found under {root.name or root}")
            return None
        return candidate

    def _real(self, folder: Path) -> str:
        real = self._real_roots.get(folder)
        if real is None:
            real = self._real_roots[folder] = os.path.realpath(folder)
        return real

    def listed(self, folder: str) -> dict[str, bool]:
        """``{name: is a regular file, not a symlink}`` of a folder, listed once ({} when it
        cannot be listed): importers find thousands of media files without a stat each."""
        found = self._listings.get(folder)
        if found is None:
            try:
                with os.scandir(folder) as entries:
                    found = {e.name: e.is_file(follow_symlinks=False) for e in entries}
            except OSError:
                found = {}
            self._listings[folder] = found
        return found

    def media_info(self, local: Path | str) -> dict[str, Any] | None:
        """The ``media`` object of a local file (image header / audio info). A small file is
        read whole once, probed from its bytes and hashed (kept in ``hashed``), so that the
        import does not read it again."""
        path = os.fspath(local)
        name = path[path.rfind("/") + 1 :]
        read = self._ahead.take(path) if self._ahead is not None else None
        if read is None:
            read = _read_batch([path]).get(path)
        if read is None:  # a large file (its header is enough), or not a regular one: the probe decides
            with open(path, "rb") as f:
                return probe(f, name)
        st, data = read
        self.hashed[path] = (hash_bytes(data), len(data), st)
        return probe_bytes(data, name, self._jpeg)

    @contextmanager
    def reading_ahead(self, paths: list[str]) -> Iterator[None]:
        """Within the block, ``media_info`` of these files (in this order) reads them ahead on threads."""
        self._ahead = ReadAhead(paths)
        try:
            yield
        finally:
            self._ahead.close()
            self._ahead = None


def px(value: float) -> float:
    """A pixel coordinate converted from percent or normalized units, without float noise."""
    return round(value, 6) + 0.0


def _parse(path: Path, parse: Callable[[IO[bytes]], Any], errors: tuple[type[Exception], ...], what: str) -> Any:
    """Parse a source file; a missing or malformed file is an ImportSourceError naming it."""
    try:
        with open(path, "rb") as f:
            return parse(f)
    except FileNotFoundError:
        raise ImportSourceError(str(path), "", "file not found") from None
    except errors as exc:
        raise ImportSourceError(str(path), "", f"malformed {what}: {' '.join(str(exc).split())}") from None


def load_json(path: Path) -> Any:
    return _parse(path, lambda f: loads(f.read()), (ValueError, UnicodeDecodeError), "JSON")


def load_yaml(path: Path) -> Any:
    import yaml

    return _parse(path, yaml.safe_load, (yaml.YAMLError,), "YAML")


def rel_posix(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()
