"""Run one export: a view, a format, a target → the files and ``export.json``, atomically."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fsspec.callbacks import Callback, NoOpCallback

from . import parallel

from .base import COMMON_OPTIONS, ExportContext, FormatWriter, ExportFormat
from .errors import ExportError
from .filters import normalize_filters, selector
from .formats import get_format_writer
from .report import REPORT_NAME, ExportReport
from .sinks import Sink, open_sink
from .view import VersionView

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("dagstore")
    except PackageNotFoundError:
        return "unknown"


def resolve_options(export_format: str | ExportFormat | None, options: Mapping[str, Any]) -> tuple[FormatWriter, dict[str, Any]]:
    """The exporter and its effective options (defaults filled in); unknown options are refused."""
    exporter = get_format_writer(export_format)
    known = {**COMMON_OPTIONS, **exporter.options}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ExportError(f"{exporter.name} takes no option {unknown[0]!r}; its options: {', '.join(sorted(known))}")
    return exporter, {k: options.get(k, v) for k, v in sorted(known.items())}


def export_to_sink(
    view: VersionView,
    export_format: str | ExportFormat | None,
    sink_factory: Any,
    splits: Sequence[str] | str | None = None,
    filters: Mapping[str, Any] | None = None,
    include_media: bool = True,
    progress: Callback | None = None,
    executor: Executor | None = None,
    part_views: parallel.PartViews | None = None,
    **options: Any,
) -> ExportReport:
    """Export the selection of ``view`` into the sink ``sink_factory()`` makes (called only
    once the selection is known to be non-empty); commits it, or aborts it on any error. With
    ``executor`` (and ``part_views``: how workers see the version) slices run on workers."""
    exporter, opts = resolve_options(export_format, options)
    flt = normalize_filters(filters, splits)
    select = selector(flt, str(opts.get("default_split") or "train"))
    known = getattr(view, "count", lambda: None)()
    selects_all = not any(k in flt for k in ("splits", "labels", "wildcard")) and flt["tasks"] == "all"
    total = known if known is not None and selects_all else sum(1 for it in view.items() if select(it) is not None)
    if total == 0:
        raise ExportError(f"the selection of version {view.version_id} is empty ({_describe(flt)}); nothing to export")
    cb = progress or NoOpCallback()
    cb.set_size(total)
    sink: Sink = sink_factory()
    try:
        ctx = ExportContext(view, sink, opts, bool(include_media) and exporter.carries_media, select, cb.relative_update,
                            light="labels" not in flt and flt["tasks"] == "all")
        if executor is not None and part_views is not None and parallel.can_fan_out(exporter, sink):
            parallel.export_parts(executor, part_views, view.version_id, exporter, opts, flt, ctx.include_media, total, sink, ctx)
        else:
            exporter.export(ctx)
        if not ctx.counts:
            first = ctx.skipped[0]["reason"] if ctx.skipped else "no item has data this format holds"
            raise ExportError(f"nothing of version {view.version_id} is expressible in {exporter.name}: {len(ctx.skipped)} skipped (first: {first})")
        report = ExportReport(
            path=sink.location, format=exporter.name, version_id=view.version_id, counts=dict(ctx.counts),
            skipped=ctx.skipped, options={**opts, "include_media": bool(include_media)}, filters=flt,
            class_map=exporter.class_map(view.classes), info=ctx.info, dagstore_version=_version(),
        )
        sink.write(REPORT_NAME, report.to_bytes())
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    log.info("exported %d items of %s as %s to %s (%d skipped)", report.total, view.version_id, exporter.name, sink.location, len(report.skipped))
    return report


def export_view(
    view: VersionView,
    export_format: str | ExportFormat | None,
    target: str | os.PathLike[str],
    splits: Sequence[str] | str | None = None,
    filters: Mapping[str, Any] | None = None,
    include_media: bool = True,
    overwrite: bool = False,
    storage_options: dict[str, Any] | None = None,
    progress: Callback | None = None,
    executor: Executor | None = None,
    part_views: parallel.PartViews | None = None,
    **options: Any,
) -> ExportReport:
    """Export the selection of ``view`` to ``target``: a local folder, a ``.zip`` path, or an fsspec URL."""
    resolve_options(export_format, options)
    return export_to_sink(view, export_format, lambda: open_sink(target, overwrite, storage_options),
                          splits, filters, include_media, progress, executor, part_views, **options)


def _describe(flt: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in flt.items() if k in ("splits", "labels", "wildcard") or (k == "tasks" and v != "all")]
    return ", ".join(parts) or "no filters"
