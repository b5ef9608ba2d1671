"""Verbs that write a version out: export (and export jobs), download, snapshot."""

from __future__ import annotations

import json
import time
from concurrent.futures import Executor
from typing import Any

import click

from ..core.progress import progress_bar
from ..export import ExportReport, download_dataset
from ..export.jobs import ExportJob, get_export, list_exports
from ..export.snapshots import Snapshot, get_snapshot, list_snapshots
from .app import Settings, by_ref, cli, emit, fanout_options, pass_settings, plural, table, verb
from .args import filter_args, option_args


def _target(out: str | None, zip_path: str | None) -> str:
    if bool(out) == bool(zip_path):
        raise click.UsageError("give one of --out DIR or --zip FILE")
    if zip_path and not zip_path.lower().endswith(".zip"):
        raise click.UsageError("--zip needs a path ending in .zip")
    return str(out or zip_path)


def _report_lines(rep: ExportReport) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(rep.counts.items()))
    lines = [f"exported {plural(rep.total, 'item')} as {rep.format} to {rep.path} ({counts})"]
    if rep.skipped:
        lines.append(f"{plural(len(rep.skipped), 'item')} or regions skipped (see export.json), first: "
                     f"{rep.skipped[0]['path']}: {rep.skipped[0]['reason']}")
    return lines


def selection_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("--format", "-f", "fmt", required=True, metavar="FORMAT", help="export format (COCO, YOLO_ULTRALYTICS, VOC, CSV, ...)"),
        click.option("--split", "splits", multiple=True, metavar="SPLIT", help="only these splits (repeatable)"),
        click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="labels=a,b  wildcard=*.jpg  tasks=annotated|reviewed  predictions=none ..."),
        click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="format option, e.g. obb=true, default_split=train"),
        click.option("--no-media", is_flag=True, help="annotations only, no media files"),
    ]):
        fn = opt(fn)
    return fn


class _ExportGroup(click.Group):
    """``dagstore export --format F ...`` exports; ``dagstore export create|status|download|list`` manage jobs."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The direct export's options (the hidden ``run`` verb) beside the job verbs."""
        run = self.commands["run"]
        rows = [rec for p in run.get_params(ctx) if (rec := p.get_help_record(ctx)) is not None]
        with formatter.section("Export options (dagstore export [ID|project/name] --format F (--out DIR | --zip FILE))"):
            formatter.write_dl(rows)
        self.format_commands(ctx, formatter)


@cli.group("export", cls=_ExportGroup)
def export_group() -> None:
    """Export a version in a format (--out DIR or --zip FILE), or run export jobs in the store.

    \b
    dagstore export vision/pets --format YOLO_ULTRALYTICS --zip pets.zip --split train
    dagstore export create vision/pets --format COCO      (a job; prints its id)
    dagstore export status JOB | download JOB DEST | list
    """


@export_group.command("run", hidden=True)
@click.argument("ref", required=False, metavar="[ID|project/name]")
@click.option("--id", "ref_opt", metavar="ID", help="dataset id (or project/name[@version])")
@selection_options
@click.option("--out", metavar="DIR", help="write a folder")
@click.option("--zip", "zip_path", metavar="FILE", help="write a .zip")
@click.option("--overwrite", is_flag=True, help="replace an existing target")
@verb
@pass_settings
@fanout_options
def export_run(s: Settings, ref: str | None, ref_opt: str | None, fmt: str, splits: tuple[str, ...], filters: tuple[str, ...],
               options: tuple[str, ...], no_media: bool, out: str | None, zip_path: str | None, overwrite: bool,
               executor: Executor | None) -> None:
    target = _target(out, zip_path)
    ds = _dataset(s, ref or ref_opt)
    bar = progress_bar(0, f"export {fmt}", enabled=not s.quiet, unit="item")
    try:
        rep = ds.export(fmt, target, filters=filter_args(filters, splits), include_media=not no_media, overwrite=overwrite,
                        progress=bar, executor=executor, **option_args(options))
    finally:
        bar.close()
    emit(s, {**rep.to_dict(), "path": rep.path}, _report_lines(rep))


def _dataset(s: Settings, ref: str | None) -> Any:
    if not ref:
        raise click.UsageError("give the version: an id, or project/name[@version]")
    return by_ref(s, ref)


def _job_lines(job: ExportJob) -> list[str]:
    done, total = job.progress
    line = f"{job.id}  {job.format}  {job.status}  {done}/{total}"
    return [line] + ([f"error: {job.error}"] if job.error else [])


@export_group.command("create")
@click.argument("ref", required=False, metavar="[ID|project/name]")
@click.option("--id", "ref_opt", metavar="ID", help="dataset id (or project/name[@version])")
@selection_options
@click.option("--wait", is_flag=True, help="wait for the job to finish (with a progress bar)")
@verb
@pass_settings
def export_create(s: Settings, ref: str | None, ref_opt: str | None, fmt: str, splits: tuple[str, ...], filters: tuple[str, ...],
                  options: tuple[str, ...], no_media: bool, wait: bool) -> None:
    """Start an export job in the store; prints the job id at once (poll with `export status`)."""
    ds = _dataset(s, ref or ref_opt)
    job = ds.create_export(fmt, filters=filter_args(filters, splits), include_media=not no_media, **option_args(options))
    if wait:
        _wait(s, job)
    emit(s, job.to_dict(), job.id if not wait else _job_lines(job))


def _wait(s: Settings, job: ExportJob) -> None:
    bar = progress_bar(0, f"export job {job.id[:8]}", enabled=not s.quiet, unit="item")
    shown = 0
    try:
        while job.refresh().status not in ("completed", "failed"):
            done, total = job.progress
            if total:
                bar.set_size(total)
                bar.relative_update(done - shown)
                shown = done
            time.sleep(0.5)
    finally:
        bar.close()


@export_group.command("status")
@click.argument("job_id", metavar="JOB")
@click.option("--wait", is_flag=True, help="wait until the job is completed or failed")
@verb
@pass_settings
def export_status(s: Settings, job_id: str, wait: bool) -> None:
    """Status and progress of an export job."""
    job = get_export(s.store(), job_id)
    if wait:
        _wait(s, job)
    emit(s, job.to_dict(), _job_lines(job))


@export_group.command("download")
@click.argument("job_id", metavar="JOB")
@click.argument("dest", metavar="DEST")
@click.option("--overwrite", is_flag=True, help="replace an existing DEST")
@verb
@pass_settings
def export_download(s: Settings, job_id: str, dest: str, overwrite: bool) -> None:
    """Download a completed job: DEST ending in .zip gets the zip, else a folder (extracted)."""
    path = get_export(s.store(), job_id).download(dest, overwrite=overwrite)
    emit(s, {"id": job_id, "path": path}, f"downloaded export {job_id} to {path}")


@export_group.command("list")
@click.option("--dataset", "ref", metavar="ID|project/name", help="only the jobs of this version")
@verb
@pass_settings
def export_list(s: Settings, ref: str | None) -> None:
    """Export jobs in the store, oldest first."""
    jobs = list_exports(s.store(), dataset_id=by_ref(s, ref).id if ref else None)
    rows = [[j.id, j.dataset_id[:12], j.format, j.status, "%d/%d" % j.progress, j.created] for j in jobs]
    emit(s, [j.to_dict() for j in jobs], table(["JOB", "DATASET", "FORMAT", "STATUS", "PROGRESS", "CREATED"], rows) if rows else "no export jobs")


@cli.command("download")
@click.argument("ref", metavar="ID|project/name")
@click.option("--version", "version", metavar="V", help="version id or version string (default: the latest)")
@click.option("--split", "split", default="", metavar="SPLIT", help="one split (default: all)")
@click.option("--format", "-f", "fmt", metavar="FORMAT", help="export format (default: the native layout)")
@click.option("--to", "folder", default="data", show_default=True, metavar="DIR", help="folder to extract into")
@click.option("--zip-file", default="dataset.zip", show_default=True, metavar="FILE", help="the zip to write")
@click.option("--keep-zip", is_flag=True, help="keep the zip after extracting it")
@click.option("--overwrite", is_flag=True, help="replace an existing zip or folder")
@verb
@pass_settings
def download(s: Settings, ref: str, version: str | None, split: str, fmt: str | None, folder: str, zip_file: str,
             keep_zip: bool, overwrite: bool) -> None:
    """SeeMe's download_dataset: export to a zip, extract it safely, print the folder."""
    path = download_dataset(ref, version, split, folder, zip_file, not keep_zip, fmt, store=s.store(), overwrite=overwrite)
    emit(s, {"path": path}, path)


@cli.group("snapshot")
def snapshot_group() -> None:
    """Named, stored selections of a final version (export them later, in any format)."""


def _snap_doc(snap: Snapshot) -> dict[str, Any]:
    return snap.to_dict()


@snapshot_group.command("create")
@click.argument("ref", required=False, metavar="[ID|project/name]")
@click.option("--id", "ref_opt", metavar="ID", help="dataset id (or project/name[@version])")
@click.option("--name", help="snapshot name (default: PROJECT-NAME-at-YYYY-MM-DD-HH-MM, UTC)")
@click.option("--split", "splits", multiple=True, metavar="SPLIT", help="only these splits (repeatable)")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="as for `dagstore export`")
@verb
@pass_settings
def snapshot_create(s: Settings, ref: str | None, ref_opt: str | None, name: str | None, splits: tuple[str, ...], filters: tuple[str, ...]) -> None:
    """Store a snapshot of a final version."""
    snap = _dataset(s, ref or ref_opt).create_snapshot(name=name, filters=filter_args(filters, splits))
    emit(s, _snap_doc(snap), f"snapshot {snap.name} of {snap.dataset_id}")


@snapshot_group.command("list")
@verb
@pass_settings
def snapshot_list(s: Settings) -> None:
    """Snapshots in the store, oldest first."""
    snaps = list_snapshots(s.store())
    rows = [[x.name, x.dataset_id[:12], x.created, json.dumps(x.filters)] for x in snaps]
    emit(s, [_snap_doc(x) for x in snaps], table(["NAME", "DATASET", "CREATED", "FILTERS"], rows) if rows else "no snapshots")


@snapshot_group.command("export")
@click.argument("name")
@click.option("--format", "-f", "fmt", required=True, metavar="FORMAT", help="export format")
@click.option("--out", metavar="DIR", help="write a folder")
@click.option("--zip", "zip_path", metavar="FILE", help="write a .zip")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="format option")
@click.option("--no-media", is_flag=True, help="annotations only")
@click.option("--overwrite", is_flag=True, help="replace an existing target")
@verb
@pass_settings
def snapshot_export(s: Settings, name: str, fmt: str, out: str | None, zip_path: str | None, options: tuple[str, ...],
                    no_media: bool, overwrite: bool) -> None:
    """Export a snapshot (always the same items)."""
    rep = get_snapshot(s.store(), name).export(fmt, _target(out, zip_path), include_media=not no_media, overwrite=overwrite, **option_args(options))
    emit(s, {**rep.to_dict(), "path": rep.path}, _report_lines(rep))
