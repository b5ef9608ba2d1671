"""Exports fanned out over an Executor: workers write contiguous slices of the sorted item
list, the driver merges what several parts wrote and commits once (docs/scale.md).

A part writes the files of its own items (media, label files, XML) straight into the
export's staging folder, and the files every part may write (lists, class files, COCO's
JSON: ``FormatWriter.merged``) into a private folder; the driver merges those in part order
(``FormatWriter.merge``), writes ``export.json`` and commits the sink. A ``.zip`` is
assembled from the parts' folders in the order a single process writes it, so the bytes are
the same. Until the commit nothing is visible; the parts' folders are removed either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .._atomic import HeldTemp, rmtree
from ..core import fanout
from .base import ExportContext, FormatWriter
from .filters import selector
from .formats import get_format_writer
from .sinks import FolderSink, Sink, ZipSink
from .view import Item, LocalView, VersionView


PartItems = Callable[[], Iterable[Item]]


@dataclass(frozen=True)
class PartViews:
    """How a worker sees the version: the store to reopen and a module-level function
    ``open(store, version_id, paths) -> (view of every item, the items at paths)``
    (picklable by reference)."""

    store: fanout.StoreRef
    open: Callable[[Any, str, Sequence[str]], tuple[LocalView, PartItems]]


@dataclass(frozen=True)
class PartTask:
    """One worker's slice of the selected items (their paths, given by the driver: the part
    walks no other item's annotation), and where it writes."""

    views: PartViews
    version_id: str
    format: str
    options: dict[str, Any]
    filters: dict[str, Any]
    include_media: bool
    paths: tuple[str, ...]
    shared: str | None  # the staging folder (folder targets), or None: everything goes to ``own``
    own: str


@dataclass
class PartContext(ExportContext):
    """A part's context: its writing pass yields only its own items; a first pass
    (``final=False``) still sees every item, so names and class ids agree across parts."""

    own_items: PartItems = tuple

    def items(self, final: bool = True) -> Iterator[Item]:
        if not final:
            yield from super().items(final=False)
            return
        for item in self.own_items():
            sel = self.select(item)
            if sel is not None:
                yield sel
                self.tick(1)


@dataclass
class PartResult:
    """What a part wrote into its own folder (in order, media or not) and its report lines."""

    order: list[tuple[str, bool]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # the part's own time


class PartSink:
    """A part's sink: its items' files into the shared staging folder, merged files (and, for
    a zip, everything) into its own folder, remembering their order."""

    def __init__(self, shared: str | None, own: str, merged: Callable[[str], bool]):
        self.location = own
        self._shared = FolderSink("", into=shared) if shared else None
        self._own = FolderSink("", into=own)
        self._merged = merged
        self.order: list[tuple[str, bool]] = []

    def _pick(self, relpath: str) -> FolderSink:
        return self._shared if self._shared is not None and not self._merged(relpath) else self._own

    def _done(self, relpath: str, media: bool) -> None:
        """A file is complete: in the order a zip sink would have added it."""
        if self._pick(relpath) is self._own:
            self.order.append((relpath, media))

    def write(self, relpath: str, data: bytes) -> None:
        self._pick(relpath).write(relpath, data)
        self._done(relpath, False)

    @contextmanager
    def open(self, relpath: str) -> Iterator[BinaryIO]:
        with self._pick(relpath).open(relpath) as f:
            yield f
        self._done(relpath, False)

    def add_media(self, relpath: str, view: VersionView, path: str) -> None:
        self._pick(relpath).add_media(relpath, view, path)
        self._done(relpath, True)

    def commit(self) -> None:
        """Nothing: the driver commits the whole export."""

    def abort(self) -> None:
        """Nothing: the driver removes the parts' folders."""


def export_part(task: PartTask) -> PartResult:
    """Worker side: open the version, fetch only this slice's content, write the slice."""
    t0 = time.perf_counter()
    st, _be = fanout.open_store(task.views.store)
    exporter = get_format_writer(task.format)
    select = selector(task.filters, str(task.options.get("default_split") or "train"))
    view, own = task.views.open(st, task.version_id, task.paths)
    sink = PartSink(task.shared, task.own, exporter.merged)
    ctx = PartContext(view, sink, dict(task.options), task.include_media, select, own_items=own)
    exporter.export(ctx)
    return PartResult(sink.order, dict(ctx.counts), ctx.skipped, ctx.info, time.perf_counter() - t0)


def merged_order(orders: Sequence[Sequence[str]]) -> list[str]:
    """The merged files in one order consistent with every part's (they are all written after
    the items, in the same code order), ties by name: a single process's order."""
    after: dict[str, set[str]] = {}
    before: dict[str, int] = {}
    for seq in orders:
        for name in seq:
            after.setdefault(name, set())
            before.setdefault(name, 0)
        for a, b in zip(seq, seq[1:]):
            if b not in after[a]:
                after[a].add(b)
                before[b] += 1
    out: list[str] = []
    ready = sorted(n for n, k in before.items() if k == 0)
    while ready:
        n = ready.pop(0)
        out.append(n)
        for m in after[n]:
            before[m] -= 1
            if before[m] == 0:
                ready.append(m)
        ready.sort()
    return out


def can_fan_out(exporter: FormatWriter, sink: Sink) -> bool:
    """Formats that merge their parts, into a local folder or zip (other targets run here)."""
    return bool(getattr(exporter, "parallel", False)) and isinstance(sink, (FolderSink, ZipSink))


def export_parts(executor: Executor, views: PartViews, version_id: str, exporter: FormatWriter, options: Mapping[str, Any],
                 filters: Mapping[str, Any], include_media: bool, total: int, sink: Sink, ctx: ExportContext) -> None:
    """Driver side: run the slices on ``executor``, merge into ``sink`` and fill ``ctx``'s
    counts, skipped items and info (the caller writes ``export.json`` and commits)."""
    paths = selected(ctx, total)
    slices = fanout.slices(total, executor)
    shared = sink.staging if isinstance(sink, FolderSink) else None
    held: list[HeldTemp] = []  # one folder per slice beside the target, removed after a kill -9 too
    try:
        for _ in slices:
            held.append(HeldTemp(sink.location, folder=True))
        owns = [str(h.path) for h in held]
        tasks = [PartTask(views, version_id, exporter.name, dict(options), dict(filters), include_media, tuple(paths[a:b]), shared, own)
                 for (a, b), own in zip(slices, owns)]
        results = fanout.run(executor, export_part, tasks, "the export")
        if isinstance(sink, ZipSink):
            for own, res in zip(owns, results):
                for rel, media in res.order:
                    if not exporter.merged(rel):
                        sink.add_local(rel, os.path.join(own, *rel.split("/")), media)
        for rel in merged_order([[r for r, _m in res.order if exporter.merged(r)] for res in results]):
            datas = [_read(os.path.join(own, *rel.split("/"))) for own in owns if os.path.exists(os.path.join(own, *rel.split("/")))]
            sink.write(rel, exporter.merge(rel, datas))
        for res in results:
            for k, n in res.counts.items():
                ctx.counts[k] += n
            ctx.skipped.extend(res.skipped)
            ctx.info.update(res.info)
        ctx.tick(total)
    finally:
        for h in held:
            rmtree(h.path)
            h.release()


def selected(ctx: ExportContext, total: int) -> list[str]:
    """The paths of the selected items, once, in the driver: every path when all ``total``
    are selected (no annotation is read), else those the selection keeps."""
    count = getattr(ctx.view, "count", lambda: None)()
    state, entries = getattr(ctx.view, "state", None), getattr(ctx.view, "entries", None)
    if count == total and state is not None:
        return list(state.paths())
    if count == total and entries is not None:
        return sorted(entries)
    return [it.path for it in ctx.items(final=False)]


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
