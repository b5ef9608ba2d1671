"""Verbs that write versions: create, add, remove, upload, close, publish, sync, squash."""

from __future__ import annotations

import os
from concurrent.futures import Executor

import click

from ..api import sync as sync_api
from ..api.dataset import Dataset
from ..errors import InvalidPathError
from .app import (Settings, by_ref, chunk_option, cli, emit, human_size, id_option, last_draft, local_paths, open_dataset,
                  pass_settings, plural, remember_draft, storage_option, summary, title, verb, workers_option, fanout_options)

# -- writing versions -----------------------------------------------------------------------------


@cli.command()
@click.option("--project", help="project (default: the first parent's, else 'default')")
@click.option("--name", required=True, help="dataset name")
@click.option("--version", help="version (default: the highest of this name bumped, else 1.0.0)")
@click.option("--parents", multiple=True, metavar="ID...", help="final parent versions; later ones win on the same path")
@click.option("--tags", multiple=True, metavar="TAG...", help="tags of the new version")
@click.option("--storage", "--output-uri", "storage", metavar="URL", help="where content is uploaded (default: the store)")
@click.option("--description", help="free text")
@verb
@pass_settings
def create(s: Settings, project: str | None, name: str, version: str | None, parents: tuple[str, ...],
           tags: tuple[str, ...], storage: str | None, description: str | None) -> None:
    """Create a draft version and print its id.

    Later `dagstore add` / `close` calls without --id continue this draft.
    """
    parent_ids = [by_ref(s, p).id for p in parents]
    ds = Dataset.create(name, project, dataset_tags=list(tags) or None, parent_datasets=parent_ids,
                        dataset_version=version, output_uri=storage, description=description, store=s.store())
    remember_draft(s, ds.id)
    based = f" from {', '.join(p[:12] for p in ds.parents)}" if ds.parents else ""
    emit(s, summary(ds), [f"created draft {title(ds)}{based}", f"id: {ds.id}"])


@cli.command("add-zip")
@id_option("draft id (default: the draft of the last `dagstore create`)")
@click.option("--dataset-folder", metavar="PATH", help="folder inside the dataset to add under")
@click.option("--only-images", is_flag=True, help="refuse the archive unless every file is an image (by its content)")
@click.argument("zip_path", metavar="ZIP")
@verb
@pass_settings
def add_zip(s: Settings, ref: str | None, dataset_folder: str | None, only_images: bool, zip_path: str) -> None:
    """Add a zip's files to a draft; a hostile archive (.., absolute paths, links, bombs) is refused whole."""
    ds = open_dataset(s, ref, draft=True)
    n = ds.add_zip(zip_path, dataset_path=dataset_folder, only_images=only_images)
    emit(s, {"id": ds.id, "added": n}, [f"added {plural(n, 'file')} from {zip_path}", f"id: {ds.id}"])


@cli.command()
@id_option("draft id (default: the draft of the last `dagstore create`)")
@click.option("--files", multiple=True, metavar="PATH...", help="local files or folders to add")
@click.option("--wildcard", multiple=True, metavar="GLOB...", help="only add files matching these globs")
@click.option("--links", multiple=True, metavar="URL...", help="external files or folders to register by URL (not copied)")
@click.option("--dataset-folder", metavar="PATH", help="folder inside the dataset to add under")
@click.option("--non-recursive", is_flag=True, help="do not descend into sub-folders")
@workers_option
@verb
@pass_settings
@fanout_options
def add(s: Settings, ref: str | None, files: tuple[str, ...], wildcard: tuple[str, ...], links: tuple[str, ...],
        dataset_folder: str | None, non_recursive: bool, max_workers: int | None, executor: Executor | None) -> None:
    """Add files or external links to a draft.

    Local files are hashed now and sent by `upload` or `close` (small files from what
    this command read, on a local store); --links registers remote files by URL without
    copying them.
    """
    if not files and not links:
        raise click.UsageError("give --files PATH... and/or --links URL...")
    ds = open_dataset(s, ref, draft=True)
    paths = local_paths(files)
    globs = list(wildcard) or None
    recursive = not non_recursive
    n = sum(ds.add_files(f, globs, dataset_path=dataset_folder, recursive=recursive, max_workers=max_workers,
                         show_progress=not s.quiet, executor=executor) for f in paths)
    if files:
        ds.keep_for_later_upload()  # `close` or `upload` packs what this read without reading it again
    k = sum(ds.add_external_files(u, globs, dataset_path=dataset_folder, recursive=recursive, max_workers=max_workers)
            for u in links)
    lines = [f"added or modified {plural(n, 'file')}"] if files else []
    lines += [f"linked {plural(k, 'external file')}"] if links else []
    emit(s, {"id": ds.id, "added": n, "linked": k}, [*lines, f"id: {ds.id}"])


@cli.command()
@id_option("draft id (default: the draft of the last `dagstore create`)")
@click.option("--files", multiple=True, required=True, metavar="PATH...", help="dataset paths, folders or globs to remove")
@click.option("--non-recursive", is_flag=True, help="do not remove inside sub-folders")
@verb
@pass_settings
def remove(s: Settings, ref: str | None, files: tuple[str, ...], non_recursive: bool) -> None:
    """Remove files from a draft (by dataset path, folder or glob)."""
    ds = open_dataset(s, ref, draft=True)
    n = sum(ds.remove_files(f, recursive=not non_recursive) for f in files)
    emit(s, {"id": ds.id, "removed": n}, [f"removed {plural(n, 'file')}", f"id: {ds.id}"])


def _upload(s: Settings, ds: Dataset, storage: str | None, chunk_size: int | None, max_workers: int | None,
            executor: Executor | None) -> bool:
    """Send a draft's pending content; returns whether anything was pending."""
    dirty = ds.is_dirty()
    if dirty or storage:
        ds.upload(show_progress=not s.quiet, output_url=storage, chunk_size=chunk_size, max_workers=max_workers, executor=executor)
    return dirty


@cli.command()
@id_option("draft id (default: the draft of the last `dagstore create`)")
@storage_option
@chunk_option
@workers_option
@verb
@pass_settings
@fanout_options
def upload(s: Settings, ref: str | None, storage: str | None, chunk_size: int | None, max_workers: int | None,
           executor: Executor | None) -> None:
    """Upload a draft's pending content.

    Safe to retry: content already in the store is not sent again.
    """
    ds = open_dataset(s, ref, draft=True)
    sent = _upload(s, ds, storage, chunk_size, max_workers, executor)
    emit(s, {"id": ds.id, "uploaded": sent}, ["uploaded pending content" if sent else "nothing to upload", f"id: {ds.id}"])


@cli.command()
@id_option("draft id (default: the draft of the last `dagstore create`)")
@storage_option
@chunk_option
@workers_option
@click.option("--disable-upload", is_flag=True, help="do not upload; fail if content is still pending")
@verb
@pass_settings
@fanout_options
def close(s: Settings, ref: str | None, storage: str | None, chunk_size: int | None, max_workers: int | None,
          disable_upload: bool, executor: Executor | None) -> None:
    """Upload pending content and finalize a draft.

    A final version never changes; make a child version to change it.
    """
    ds = open_dataset(s, ref, draft=True)
    if not disable_upload:
        _upload(s, ds, storage, chunk_size, max_workers, executor)
    ds.finalize()
    if last_draft(s) == ds.id:
        remember_draft(s, None)
    st = ds.record.stats
    emit(s, summary(ds), [f"closed {title(ds)}: {plural(st.get('files', 0), 'file')}, {human_size(st.get('bytes', 0))}"
                          f" (+{st.get('added', 0)} ~{st.get('modified', 0)} -{st.get('removed', 0)})",
                          f"id: {ds.id}"])


@cli.command()
@id_option("final version id")
@verb
@pass_settings
def publish(s: Settings, ref: str | None) -> None:
    """Mark a final version as published."""
    if not ref:
        raise click.UsageError("give --id")
    ds = open_dataset(s, ref)
    ds.publish()
    emit(s, summary(ds), [f"published {title(ds)}", f"id: {ds.id}"])


def _check_sync_args(folder: str, ref: str | None, project: str | None, name: str | None, version: str | None,
                     tags: tuple[str, ...], parents: tuple[str, ...]) -> None:
    """A folder to sync, and either --id (a draft) or --name (a new version) with its options."""
    if not os.path.isdir(folder):
        raise InvalidPathError(f"{folder}: not a folder")
    if ref and (project or name or version or tags or parents):
        raise click.UsageError("--id syncs into an existing draft; --project/--name/--parents/--version/--tags make a new version")
    if not name and (project or version or tags or parents):
        raise click.UsageError("--project/--parents/--version/--tags make a new version: give --name too")


def _emit_unchanged(s: Settings, folder: str, latest: Dataset | None, parents: bool, counts: dict[str, int]) -> None:
    """The result of a sync that created nothing: the folder matches the latest version (or its parents)."""
    base = f"{title(latest)} (id {latest.id})" if latest else ("its parents" if parents else "an empty dataset")
    emit(s, {"id": None, "created": False, "latest": latest.id if latest else None, **counts},
         f"no changes: {folder} matches {base}; nothing created")


@cli.command()
@id_option("draft to sync into (default, without --name: the draft of the last `dagstore create`)")
@click.option("--project", help="project of the dataset to make a new version of")
@click.option("--name", help="dataset to make a new version of (a child of its highest version)")
@click.option("--parents", multiple=True, metavar="ID...", help="with --name: parents of the new version (default: its highest version)")
@click.option("--folder", required=True, metavar="DIR", help="local folder to sync from")
@click.option("--dataset-folder", metavar="PATH", help="folder inside the dataset to sync (default: the root)")
@click.option("--version", help="version of the new version (default: the highest bumped)")
@click.option("--tags", multiple=True, metavar="TAG...", help="tags of the new version")
@click.option("--storage", "--output-uri", "storage", metavar="URL", help="upload content here instead of the store")
@chunk_option
@workers_option
@click.option("--skip-close", is_flag=True, help="leave the version a draft (not uploaded, not closed)")
@verb
@pass_settings
@fanout_options
def sync(s: Settings, ref: str | None, project: str | None, name: str | None, parents: tuple[str, ...], folder: str,
         dataset_folder: str | None, version: str | None, tags: tuple[str, ...], storage: str | None,
         chunk_size: int | None, max_workers: int | None, skip_close: bool, executor: Executor | None) -> None:
    """Make a version equal a local folder, then upload and close it.

    With --project/--name a child of the highest version (or of --parents) is created --
    and nothing is created when the folder did not change. With --id, or without --name, a
    draft (by default the one of the last `dagstore create`) is synced in place.
    Unchanged files are not re-hashed.
    """
    _check_sync_args(folder, ref, project, name, version, tags, parents)
    show = not s.quiet
    created = bool(name)
    if name:
        res = sync_api.sync_new_version(s.store(), project, name, folder, dataset_folder, version, tags, storage,
                                        not skip_close, show, chunk_size, max_workers, [by_ref(s, p).id for p in parents],
                                        executor)
    else:
        res = sync_api.sync_into(open_dataset(s, ref, draft=True), folder, dataset_folder, not skip_close, show, storage,
                                 chunk_size, max_workers, executor=executor)
    counts = {"removed": res.removed, "added": res.added, "modified": res.modified}
    ds, latest = res.dataset, res.latest
    if ds is not None and not skip_close and last_draft(s) == ds.id:
        remember_draft(s, None)  # closed: forgotten, as by `close`
    if ds is None:
        _emit_unchanged(s, folder, latest, bool(parents), counts)
        return
    if skip_close:
        ds.keep_for_later_upload()  # as `add`: `close` packs what this read without reading it again
    if skip_close and created:
        remember_draft(s, ds.id)
    done = "draft" if skip_close else "closed"
    emit(s, {**summary(ds), "created": created, **counts},
         [f"{done} {title(ds)}: {res.added} added, {res.modified} modified, {res.removed} removed", f"id: {ds.id}"])


@cli.command()
@click.option("--name", required=True, help="name of the squashed dataset")
@click.option("--ids", multiple=True, required=True, metavar="ID...", help="versions to squash, applied in order")
@storage_option
@verb
@pass_settings
def squash(s: Settings, name: str, ids: tuple[str, ...], storage: str | None) -> None:
    """Squash versions into one final version without parents."""
    full = [by_ref(s, i).id for i in ids]
    ds = Dataset.squash(name, dataset_ids=full, output_url=storage, store=s.store())
    emit(s, summary(ds), [f"squashed {plural(len(full), 'version')} into {title(ds)}", f"id: {ds.id}"])
