"""Verbs that read versions: get, list, compare, diff, search, verify."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from .. import refs
from .._atomic import replace_file, temp_path
from ..api.dataset import Dataset
from ..core.manifest import Diff, match_path
from ..errors import InvalidPathError
from .app import (CheckFailed, Settings, by_ref, cli, diff_doc, diff_lines, emit, human_size, id_option, name_options,
                  open_dataset, pass_settings, plural, table, title, verb, workers_option)

# -- reading versions --------------------------------------------------------------------------


def _symlink(target: str, link: str, overwrite: bool) -> None:
    """Point ``link`` at ``target``; replaces an existing symlink or file only with --overwrite."""
    p = Path(link)
    if p.is_symlink() or p.exists():
        if not overwrite:
            raise InvalidPathError(f"{link} already exists; pass --overwrite to replace it")
        if p.is_dir() and not p.is_symlink():
            raise InvalidPathError(f"{link} is a folder; remove it first")
    tmp = temp_path(p)
    os.symlink(target, tmp, target_is_directory=True)
    replace_file(tmp, p)


@cli.command()
@id_option()
@name_options
@click.option("--copy", "copy_to", metavar="DIR", help="make a writable copy in DIR instead of using the cache")
@click.option("--link", metavar="PATH", help="also create a symlink PATH to the cached folder")
@click.option("--part", type=click.IntRange(min=0), help="shard number, with --num-parts")
@click.option("--num-parts", type=click.IntRange(min=1), help="split the files into this many deterministic shards")
@click.option("--files", multiple=True, metavar="GLOB...", help="only these dataset paths, folders or globs")
@click.option("--overwrite", is_flag=True, help="replace a non-empty --copy folder or an existing --link")
@workers_option
@verb
@pass_settings
def get(s: Settings, ref: str | None, project: str | None, name: str | None, version: str | None, copy_to: str | None,
        link: str | None, part: int | None, num_parts: int | None, files: tuple[str, ...], overwrite: bool,
        max_workers: int | None) -> None:
    """Download a final version and print the folder path.

    By default the folder is the cached, read-only copy shared by every process on this
    host; --copy makes a writable copy. Only missing content is downloaded.
    """
    if copy_to and link:
        raise click.UsageError("--copy and --link cannot be used together")
    if (part is None) != (num_parts is None):
        raise click.UsageError("--part and --num-parts go together")
    ds = open_dataset(s, ref, project, name, version)
    if files and not any(ds.list_files(f) for f in files):
        raise InvalidPathError(f"no file of {title(ds)} matches {' '.join(files)}")
    if copy_to:
        path = ds.get_mutable_local_copy(copy_to, overwrite=overwrite, part=part, num_parts=num_parts, max_workers=max_workers,
                                         files=list(files) or None, show_progress=not s.quiet)
    else:
        path = ds.get_local_copy(part=part, num_parts=num_parts, files=list(files) or None, max_workers=max_workers,
                                 show_progress=not s.quiet)
    if link:
        _symlink(path, link, overwrite)
    emit(s, {"id": ds.id, "path": path, "link": os.path.abspath(link) if link else None}, link or path)


@cli.command("list")
@id_option()
@name_options
@click.option("--filter", "filters", multiple=True, metavar="GLOB...", help="only paths, folders or globs like these")
@click.option("--modified", is_flag=True, help="only what this version added, modified or removed vs its parents")
@verb
@pass_settings
def list_(s: Settings, ref: str | None, project: str | None, name: str | None, version: str | None,
          filters: tuple[str, ...], modified: bool) -> None:
    """List the files of a version (or its changes with --modified)."""
    ds = open_dataset(s, ref, project, name, version)

    def keep(path: str) -> bool:
        return not filters or any(match_path(path, f) for f in filters)

    if modified:
        d = Diff([p for p in ds.list_added_files() if keep(p)], [p for p in ds.list_removed_files() if keep(p)],
                 [p for p in ds.list_modified_files() if keep(p)])
        emit(s, {"id": ds.id, **diff_doc(d)}, diff_lines(d, "vs parents"))
        return
    rows: list[dict[str, Any]] = [{"path": p, "size": e.size, "hash": e.hash, "link": None} for p, e in ds.file_entries_dict.items() if keep(p)]
    rows += [{"path": p, "size": e.size, "hash": e.hash or None, "link": e.link} for p, e in ds.link_entries_dict.items() if keep(p)]
    rows.sort(key=lambda r: r["path"])
    lines = [f"{human_size(r['size']):>10}  {r['path']}" + (f" -> {r['link']}" if r["link"] else "") for r in rows]
    lines.append(f"{plural(len(rows), 'file')}, {human_size(sum(r['size'] for r in rows))}")
    emit(s, {"id": ds.id, "files": rows}, lines)


def _compare(s: Settings, source: str, target: str) -> None:
    old, new = by_ref(s, source), by_ref(s, target)
    d = new.diff(old.id)
    emit(s, {"source": old.id, "target": new.id, **diff_doc(d)}, diff_lines(d, f"from {title(old)} to {title(new)}"))


@cli.command()
@click.option("--source", required=True, metavar="ID", help="the older version")
@click.option("--target", required=True, metavar="ID", help="the newer version")
@verb
@pass_settings
def compare(s: Settings, source: str, target: str) -> None:
    """Show what changed from --source to --target."""
    _compare(s, source, target)


@cli.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@verb
@pass_settings
def diff(s: Settings, a: str, b: str) -> None:
    """Show what changed from version A to version B.

    A and B are ids (or unique prefixes) or project/name@version; any two versions compare,
    related or not.
    """
    _compare(s, a, b)


@cli.command()
@click.option("--project", help="only this project (and its sub-projects)")
@click.option("--name", help="names containing this text")
@click.option("--tags", multiple=True, metavar="TAG...", help="only versions with all these tags")
@click.option("--ids", multiple=True, metavar="ID...", help="only these ids")
@click.option("--not-only-completed", is_flag=True, help="include drafts")
@click.option("--non-recursive-project-search", is_flag=True, help="--project matches only itself, not sub-projects")
@click.option("--origin", metavar="ORIGIN", help="only versions of this origin (upload, datasource, pipeline, import, zip)")
@verb
@pass_settings
def search(s: Settings, project: str | None, name: str | None, tags: tuple[str, ...], ids: tuple[str, ...],
           not_only_completed: bool, non_recursive_project_search: bool, origin: str | None) -> None:
    """List versions, newest first."""
    st = s.store()
    found = Dataset.list_datasets(dataset_project=project, partial_name=name, tags=list(tags) or None,
                                  ids=[refs.expand_id(st, i) for i in ids] or None, only_completed=not not_only_completed,
                                  recursive_project_search=not non_recursive_project_search, store=st, origin=origin)
    rows = [[d["id"], f"{d['project']}/{d['name']}", d["version"], d["status"], d["created"].strftime("%Y-%m-%d %H:%M:%S"),
             d["origin"], ",".join(d["tags"])] for d in found]
    doc = [{**d, "created": d["created"].isoformat(timespec="milliseconds")} for d in found]
    emit(s, doc, table(["ID", "DATASET", "VERSION", "STATUS", "CREATED (UTC)", "ORIGIN", "TAGS"], rows) if rows else "no datasets found")


@cli.command()
@id_option("version whose local copy to verify")
@name_options
@click.option("--folder", metavar="DIR", help="verify this folder instead of the cached copy")
@click.option("--filesize", is_flag=True, help="check file sizes only, not hashes")
@click.option("--store", "whole_store", is_flag=True, help="verify the whole store instead of one version")
@click.option("--read-data", is_flag=True, help="with --store: read and hash every stored blob")
@verb
@pass_settings
def verify(s: Settings, ref: str | None, project: str | None, name: str | None, version: str | None, folder: str | None,
           filesize: bool, whole_store: bool, read_data: bool) -> None:
    """Verify a version's local copy, or the store.

    With --id (or --project/--name) every file of the cached copy (or of --folder) is
    checked against its hash; with --store every version's manifest, packs and objects
    are checked (and with --read-data every blob is read and hashed).
    """
    if whole_store:
        if ref or name or folder or filesize:
            raise click.UsageError("--store verifies the whole store; it takes no --id, --name, --folder or --filesize")
        st = s.store()
        problems = st.verify(read_data=read_data)
        emit(s, {"store": st.url, "ok": not problems, "problems": problems},
             problems or [f"store {st.url}: no problems found" + (" (all data read)" if read_data else "")])
        if problems:
            raise CheckFailed(f"{plural(len(problems), 'problem')} found in store {st.url}")
        return
    if read_data:
        raise click.UsageError("--read-data goes with --store")
    if not (ref or name or project):
        raise click.UsageError("give --id (or --project/--name) to verify a version, or --store for the whole store")
    ds = open_dataset(s, ref, project, name, version)
    bad = ds.verify_dataset_hash(local_copy_path=folder, skip_hash=filesize)
    where = folder or "the cached copy"
    emit(s, {"id": ds.id, "folder": folder, "ok": not bad, "bad": bad},
         [f"bad: {p}" for p in bad] or [f"{title(ds)}: all {plural(len(ds.list_files()), 'file')} in {where} match"])
    if bad:
        raise CheckFailed(f"{plural(len(bad), 'file')} in {where} did not match {title(ds)}")
