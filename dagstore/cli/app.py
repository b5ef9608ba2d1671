"""The ``dagstore`` command: clearml-data's verbs and flags, plus diff, log, gc and config.

Every verb prints human output, or one JSON document on stdout with ``--json``. An error
prints one line, ``dagstore: error: <message>``, on stderr and exits non-zero (1 for a
dagstore error, 2 for a usage error); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from . import __version__, config
from .config import redact_url
from .cache import Cache
from .dataset import Dataset
from .errors import DagstoreError, DatasetNotFoundError, InvalidPathError
from .manifest import Diff, match_path
from .records import VersionRecord
from .store import Store, default_store_url

# Options that take several values, as in clearml-data (``--files a b c``); main() rewrites
# them to click's repeated form (``--files a --files b --files c``).
MULTI_VALUE_OPTIONS = frozenset({"--files", "--wildcard", "--links", "--parents", "--ids", "--tags", "--filter"})
_ID_LEN = 32


class CheckFailed(DagstoreError):
    """A verification found problems (reported on stdout before this is raised)."""


@dataclass
class Settings:
    """Global options, shared by every verb through the click context."""

    store_url: str | None = None
    cache_dir: str | None = None
    json: bool = False
    quiet: bool = False
    debug: bool = False
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        """The store named by --store (or DAGSTORE_URL / the config file / the default), opened once."""
        if self._store is None:
            opts = (config.storage_options() or None) if self.store_url else None
            self._store = Store(self.store_url, storage_options=opts, cache_dir=self.cache_dir)
        return self._store

    def set_quiet(self) -> None:
        self.quiet = True
        os.environ["DAGSTORE_QUIET"] = "1"  # turns off the library's progress bars


pass_settings = click.make_pass_decorator(Settings, ensure=True)


# -- output --------------------------------------------------------------------------------------


def emit(s: Settings, doc: Any, lines: str | Iterable[str] = ()) -> None:
    """Print ``doc`` as JSON with --json, else the human ``lines``."""
    if s.json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(line)


def note(s: Settings, message: str) -> None:
    """An informational line on stderr (silenced by --quiet)."""
    if not s.quiet:
        click.echo(f"dagstore: {message}", err=True)


def human_size(n: int | float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def status(ds: Dataset) -> str:
    """ClearML's names: draft, completed or published."""
    return "draft" if not ds.is_final() else "published" if ds.record.published else "completed"


def summary(ds: Dataset) -> dict[str, Any]:
    """The JSON description of a version used by most verbs."""
    return {"id": ds.id, "project": ds.project, "name": ds.name, "version": ds.version,
            "status": status(ds), "parents": ds.parents, "tags": ds.tags, "stats": dict(ds.record.stats)}


def title(ds: Dataset) -> str:
    return f"{ds.project}/{ds.name} {ds.version}"


def diff_lines(d: Diff, against: str) -> list[str]:
    lines = [f"+ {p}" for p in d.added] + [f"~ {p}" for p in d.modified] + [f"- {p}" for p in d.removed]
    return lines + [f"{len(d.added)} added, {len(d.modified)} modified, {len(d.removed)} removed ({against})"]


def diff_doc(d: Diff) -> dict[str, list[str]]:
    return {"added": d.added, "modified": d.modified, "removed": d.removed}


# -- finding versions ---------------------------------------------------------------------------


def expand_id(st: Store, ref: str) -> str:
    """A full id from a unique prefix (as printed by ``dagstore log``); other text unchanged."""
    if not (4 <= len(ref) < _ID_LEN and all(c in "0123456789abcdef" for c in ref)):
        return ref
    ids = [r.id for r in st.records()] + [d.record.id for d in st.drafts()]
    found = sorted({i for i in ids if i.startswith(ref)})
    if not found:
        raise DatasetNotFoundError(f"no dataset id starts with {ref} in {st.url}")
    if len(found) > 1:
        raise DatasetNotFoundError(f"id prefix {ref} is ambiguous: {', '.join(found)}")
    return found[0]


def by_ref(s: Settings, ref: str, completed: bool = True) -> Dataset:
    """A version from an id, a unique id prefix, or ``[project/]name[@version]`` (the highest
    final version when no version is given)."""
    st = s.store()
    if "/" in ref or "@" in ref:
        path, _, version = ref.partition("@")
        project, _, name = path.rpartition("/")
        return Dataset.get(dataset_project=project or None, dataset_name=name, dataset_version=version or None,
                           only_completed=completed, store=st)
    return Dataset.get(dataset_id=expand_id(st, ref), store=st)


def open_dataset(
    s: Settings,
    ref: str | None,
    project: str | None = None,
    name: str | None = None,
    version: str | None = None,
    draft: bool = False,
) -> Dataset:
    """The version a verb works on: --id, else --project/--name[/--version], else (for verbs
    that change a draft) the draft remembered from the last ``dagstore create``."""
    if ref:
        return by_ref(s, ref, completed=not draft)
    if name or project:
        return Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version,
                           only_completed=not draft, store=s.store())
    if draft:
        remembered = last_draft(s)
        if remembered:
            note(s, f"using dataset {remembered} (the draft from the last `dagstore create`)")
            return Dataset.get(dataset_id=remembered, store=s.store())
        raise click.UsageError("give --id (no draft remembered from `dagstore create`)")
    raise click.UsageError("give --id, or --project and --name")


def _last_draft_file(s: Settings) -> Path:
    return s.store().cache.root / "cli" / "last-draft.json"


def _read_last_drafts(s: Settings) -> dict[str, str]:
    try:
        data = json.loads(_last_draft_file(s).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_draft(s: Settings) -> str | None:
    """The id of the last draft ``dagstore create`` made in this store (kept in the cache dir)."""
    return _read_last_drafts(s).get(s.store().url)


def remember_draft(s: Settings, version_id: str | None) -> None:
    """Remember (or, with None, forget) the current draft of this store."""
    drafts = _read_last_drafts(s)
    if version_id is None:
        if drafts.pop(s.store().url, None) is None:
            return
    else:
        drafts[s.store().url] = version_id
    path = _last_draft_file(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(drafts, indent=1))
    os.replace(tmp, path)


# -- the command group ------------------------------------------------------------------------


def _flag(attr: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    """The callback of a per-verb flag: it turns the global setting on (--verbose does nothing)."""
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        s = ctx.ensure_object(Settings)
        if not value or attr == "verbose":
            return
        if attr == "quiet":
            s.set_quiet()
        else:
            setattr(s, attr, True)
    return callback


def verb(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Accept --json, --quiet and --debug after the verb too (``dagstore list --json``), and
    clearml-data's --verbose."""
    for flags, help_text in ((["--verbose"], "accepted for clearml-data scripts (output is always complete)"),
                             (["--debug"], "show the traceback on error"),
                             (["--quiet", "-q"], "no progress bars or notes"),
                             (["--json"], "print one JSON document on stdout")):
        name = flags[0][2:]
        fn = click.option(*flags, name, is_flag=True, expose_value=False, callback=_flag(name), help=help_text)(fn)
    return fn


class _Group(click.Group):
    """Lists commands in the order they are defined (the order of a dataset's life)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--store", "store_url", metavar="URL", help="store URL (overrides DAGSTORE_URL and the config file)")
@click.option("--cache-dir", metavar="DIR", help="local cache (overrides DAGSTORE_CACHE_DIR)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document on stdout")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars or notes")
@click.option("--debug", is_flag=True, help="show the traceback on error")
@click.version_option(__version__, "--version", "-V", prog_name="dagstore", message="%(prog)s %(version)s")
@pass_settings
def cli(s: Settings, store_url: str | None, cache_dir: str | None, as_json: bool, quiet: bool, debug: bool) -> None:
    """dagstore: versioned datasets on any fsspec URL, with clearml-data's commands.

    The store is --store, else DAGSTORE_URL, else `url` in the config file, else a folder
    in your home. `dagstore config` shows what is in effect.
    """
    s.store_url, s.cache_dir = store_url, cache_dir
    s.json, s.debug = s.json or as_json, s.debug or debug
    if quiet:
        s.set_quiet()


def id_option(help_text: str = "dataset id (or unique prefix, or project/name@version)") -> Callable[..., Any]:
    return click.option("--id", "ref", metavar="ID", help=help_text)


def name_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--project / --name / --version, to pick the highest (or the given) final version."""
    fn = click.option("--version", help="exact version (default: the highest)")(fn)
    fn = click.option("--name", help="dataset name")(fn)
    return click.option("--project", help="dataset project")(fn)


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


storage_option = click.option("--storage", metavar="URL", help="upload content here instead of the store")
chunk_option = click.option("--chunk-size", type=click.IntRange(min=1), metavar="MB", help="pack size in MB")
workers_option = click.option("--max-workers", type=click.IntRange(min=1), metavar="N", help="parallel hashing / transfer threads")


def local_paths(paths: Iterable[str]) -> list[str]:
    """Paths with ``~`` expanded and quoted globs (``'data/*.jpg'``) expanded, as clearml-data
    does; every one must exist, so that nothing is added when one is wrong."""
    out: list[str] = []
    for p in paths:
        path = os.path.expanduser(p)
        if os.path.lexists(path):
            out.append(path)
        elif glob.has_magic(path) and (matches := sorted(glob.glob(path))):
            out += matches
        else:
            raise InvalidPathError(f"{p}: no such file or directory")
    return out


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
def add(s: Settings, ref: str | None, files: tuple[str, ...], wildcard: tuple[str, ...], links: tuple[str, ...],
        dataset_folder: str | None, non_recursive: bool, max_workers: int | None) -> None:
    """Add files or external links to a draft.

    Local files are hashed now and sent by `upload` or `close`; --links registers remote
    files by URL without copying them.
    """
    if not files and not links:
        raise click.UsageError("give --files PATH... and/or --links URL...")
    ds = open_dataset(s, ref, draft=True)
    paths = local_paths(files)
    globs = list(wildcard) or None
    kw = {"wildcard": globs, "dataset_path": dataset_folder, "recursive": not non_recursive, "max_workers": max_workers}
    n = sum(ds.add_files(f, show_progress=not s.quiet, **kw) for f in paths)
    k = sum(ds.add_external_files(u, **kw) for u in links)
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


def _upload(s: Settings, ds: Dataset, storage: str | None, chunk_size: int | None, max_workers: int | None) -> bool:
    """Send a draft's pending content; returns whether anything was pending."""
    dirty = ds.is_dirty()
    if dirty or storage:
        ds.upload(show_progress=not s.quiet, output_url=storage, chunk_size=chunk_size, max_workers=max_workers)
    return dirty


@cli.command()
@id_option("draft id (default: the draft of the last `dagstore create`)")
@storage_option
@chunk_option
@workers_option
@verb
@pass_settings
def upload(s: Settings, ref: str | None, storage: str | None, chunk_size: int | None, max_workers: int | None) -> None:
    """Upload a draft's pending content.

    Safe to retry: content already in the store is not sent again.
    """
    ds = open_dataset(s, ref, draft=True)
    sent = _upload(s, ds, storage, chunk_size, max_workers)
    emit(s, {"id": ds.id, "uploaded": sent}, ["uploaded pending content" if sent else "nothing to upload", f"id: {ds.id}"])


@cli.command()
@id_option("draft id (default: the draft of the last `dagstore create`)")
@storage_option
@chunk_option
@workers_option
@click.option("--disable-upload", is_flag=True, help="do not upload; fail if content is still pending")
@verb
@pass_settings
def close(s: Settings, ref: str | None, storage: str | None, chunk_size: int | None, max_workers: int | None,
          disable_upload: bool) -> None:
    """Upload pending content and finalize a draft.

    A final version never changes; make a child version to change it.
    """
    ds = open_dataset(s, ref, draft=True)
    if not disable_upload:
        _upload(s, ds, storage, chunk_size, max_workers)
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


def _child_of_latest(s: Settings, project: str | None, name: str, version: str | None, tags: Sequence[str],
                     storage: str | None) -> tuple[Dataset, Dataset | None]:
    """A new draft whose parent is the highest final version of project/name (if any)."""
    try:
        latest: Dataset | None = Dataset.get(dataset_project=project, dataset_name=name, only_completed=True, store=s.store())
    except DatasetNotFoundError:
        latest = None
    ds = Dataset.create(name, project, dataset_tags=list(tags) or None, parent_datasets=[latest.id] if latest else None,
                        dataset_version=version, output_uri=storage, store=s.store())
    return ds, latest


@cli.command()
@id_option("draft to sync into (instead of --project/--name)")
@click.option("--project", help="project of the dataset to make a new version of")
@click.option("--name", help="dataset to make a new version of (a child of its highest version)")
@click.option("--folder", required=True, metavar="DIR", help="local folder to sync from")
@click.option("--dataset-folder", metavar="PATH", help="folder inside the dataset to sync (default: the root)")
@click.option("--version", help="version of the new version (default: the highest bumped)")
@click.option("--tags", multiple=True, metavar="TAG...", help="tags of the new version")
@storage_option
@chunk_option
@workers_option
@click.option("--skip-close", is_flag=True, help="leave the version a draft (not uploaded, not closed)")
@verb
@pass_settings
def sync(s: Settings, ref: str | None, project: str | None, name: str | None, folder: str, dataset_folder: str | None,
         version: str | None, tags: tuple[str, ...], storage: str | None, chunk_size: int | None, max_workers: int | None,
         skip_close: bool) -> None:
    """Make a version equal a local folder, then upload and close it.

    With --project/--name a child of the highest version is created (the first version if
    there is none) -- and nothing is created when the folder did not change. With --id the
    draft is synced in place. Unchanged files are not re-hashed.
    """
    if not os.path.isdir(folder):
        raise InvalidPathError(f"{folder}: not a folder")
    if ref and (project or name or version or tags):
        raise click.UsageError("--id syncs into an existing draft; --project/--name/--version/--tags make a new version")
    latest = None
    if ref:
        ds, created = open_dataset(s, ref, draft=True), False
    elif name:
        (ds, latest), created = _child_of_latest(s, project, name, version, tags, storage), True
    else:
        raise click.UsageError("give --id, or --project and --name")
    try:
        removed, added, modified = ds.sync_folder(folder, dataset_path=dataset_folder, show_progress=not s.quiet)
        counts = {"removed": removed, "added": added, "modified": modified}
        if created and not (removed or added or modified):
            s.store().delete_version(ds.id)
            base = f"{title(latest)} (id {latest.id})" if latest else "an empty dataset"
            emit(s, {"id": None, "created": False, "latest": latest.id if latest else None, **counts},
                 f"no changes: {folder} matches {base}; nothing created")
            return
        if not skip_close:
            _upload(s, ds, storage if ref else None, chunk_size, max_workers)
            ds.finalize()
    except BaseException:
        if created and not ds.is_final():  # leave nothing behind
            s.store().delete_version(ds.id)
        raise
    if skip_close and created:
        remember_draft(s, ds.id)
    done = "draft" if skip_close else "closed"
    emit(s, {**summary(ds), "created": created, **counts},
         [f"{done} {title(ds)}: {added} added, {modified} modified, {removed} removed", f"id: {ds.id}"])


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


# -- reading versions --------------------------------------------------------------------------


def _symlink(target: str, link: str, overwrite: bool) -> None:
    """Point ``link`` at ``target``; replaces an existing symlink or file only with --overwrite."""
    p = Path(link)
    if p.is_symlink() or p.exists():
        if not overwrite:
            raise InvalidPathError(f"{link} already exists; pass --overwrite to replace it")
        if p.is_dir() and not p.is_symlink():
            raise InvalidPathError(f"{link} is a folder; remove it first")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    os.symlink(target, tmp, target_is_directory=True)
    os.replace(tmp, p)


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
    rows = [{"path": p, "size": e.size, "hash": e.hash, "link": None} for p, e in ds.file_entries_dict.items() if keep(p)]
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
@verb
@pass_settings
def search(s: Settings, project: str | None, name: str | None, tags: tuple[str, ...], ids: tuple[str, ...],
           not_only_completed: bool, non_recursive_project_search: bool) -> None:
    """List versions, newest first."""
    st = s.store()
    found = Dataset.list_datasets(dataset_project=project, partial_name=name, tags=list(tags) or None,
                                  ids=[expand_id(st, i) for i in ids] or None, only_completed=not not_only_completed,
                                  recursive_project_search=not non_recursive_project_search, store=st)
    rows = [[d["id"], f"{d['project']}/{d['name']}", d["version"], d["status"], d["created"][:19].replace("T", " "),
             ",".join(d["tags"])] for d in found]
    emit(s, found, table(["ID", "DATASET", "VERSION", "STATUS", "CREATED (UTC)", "TAGS"], rows) if rows else "no datasets found")


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


# -- managing datasets ---------------------------------------------------------------------------


@cli.command()
@id_option("version to delete")
@name_options
@click.option("--entire-dataset", is_flag=True, help="delete every version of --project/--name")
@click.option("--force", is_flag=True, help="delete even if other versions use it as a parent")
@verb
@pass_settings
def delete(s: Settings, ref: str | None, project: str | None, name: str | None, version: str | None,
           entire_dataset: bool, force: bool) -> None:
    """Delete a version (or every version of a dataset). Content is reclaimed by `dagstore gc`."""
    if not ref and not name:
        raise click.UsageError("give --id, or --project and --name")
    if entire_dataset and (ref or not name):
        raise click.UsageError("--entire-dataset takes --project and --name, not --id")
    vid = by_ref(s, ref, completed=False).id if ref else None
    n = Dataset.delete(dataset_id=vid, dataset_project=project, dataset_name=name, dataset_version=version,
                       entire_dataset=entire_dataset, force=force, store=s.store())
    what = f"{project or 'default'}/{name}" if entire_dataset else (vid or f"{project or '*'}/{name}")
    emit(s, {"deleted": n}, f"deleted {plural(n, 'version')} ({what})")


@cli.command()
@click.option("--project", required=True, help="project of the dataset")
@click.option("--name", required=True, help="current name")
@click.option("--new-name", required=True, help="new name")
@verb
@pass_settings
def rename(s: Settings, project: str, name: str, new_name: str) -> None:
    """Rename every version of a dataset."""
    n = Dataset.rename(new_name, project, name, store=s.store())
    emit(s, {"renamed": n, "project": project, "name": new_name}, f"renamed {plural(n, 'version')}: {project}/{name} -> {project}/{new_name}")


@cli.command()
@click.option("--project", required=True, help="current project")
@click.option("--name", required=True, help="dataset name")
@click.option("--new-project", required=True, help="project to move to")
@verb
@pass_settings
def move(s: Settings, project: str, name: str, new_project: str) -> None:
    """Move every version of a dataset to another project."""
    n = Dataset.move_to_project(new_project, project, name, store=s.store())
    emit(s, {"moved": n, "project": new_project, "name": name}, f"moved {plural(n, 'version')}: {project}/{name} -> {new_project}/{name}")


# -- the DAG -----------------------------------------------------------------------------------


def _edges(moves: Sequence[tuple[int, int]]) -> list[str]:
    """Lines drawing lanes moving from column a to column b, one column per line."""
    pos = [a for a, _ in moves]
    lines = []
    while any(p != b for p, (_, b) in zip(pos, moves)):
        row = [" "] * (2 * max(*pos, *(b for _, b in moves)) + 2)
        for k, (_, b) in enumerate(moves):
            p = pos[k]
            if p < b:
                row[2 * p + 1], pos[k] = "\\", p + 1
            elif p > b:
                row[2 * p - 1], pos[k] = "/", p - 1
            else:
                row[2 * p] = "|"
        lines.append("".join(row).rstrip())
    return lines


def render_graph(nodes: Sequence[tuple[str, Sequence[str], str]]) -> list[str]:
    """An ASCII DAG like ``git log --graph --oneline``. ``nodes`` are (id, parent ids, label),
    every child before its parents."""
    known = {n[0] for n in nodes}
    lanes: list[str] = []  # the node each column is waiting for
    out: list[str] = []
    for node, node_parents, label in nodes:
        parents = list(dict.fromkeys(p for p in node_parents if p in known))
        cols = [i for i, lane in enumerate(lanes) if lane == node]
        if len(cols) > 1:  # several children meet at this node: join their lanes first
            keep = [i for i in range(len(lanes)) if i not in cols[1:]]
            new_col = {old: new for new, old in enumerate(keep)}
            out += _edges([(i, new_col[cols[0] if i in cols else i]) for i in range(len(lanes))])
            lanes = [lanes[i] for i in keep]
        if not cols:
            lanes.append(node)
        c = cols[0] if cols else len(lanes) - 1
        out.append(" ".join("*" if i == c else "|" for i in range(len(lanes))) + " " + label)
        k = len(parents)
        moves = [(i, i if i < c else i + k - 1) for i in range(len(lanes)) if i != c] + [(c, c + j) for j in range(k)]
        out += _edges(moves)
        lanes = lanes[:c] + parents + lanes[c + 1 :]
    return out


def display_order(recs: dict[str, VersionRecord]) -> list[VersionRecord]:
    """Children before parents; among versions ready to show, the newest first."""
    waiting = {vid: 0 for vid in recs}
    for r in recs.values():
        for p in set(r.parents) & recs.keys():
            waiting[p] += 1
    ready = [vid for vid, n in waiting.items() if n == 0]
    order = []
    while ready:
        vid = max(ready, key=lambda v: (recs[v].finalized or recs[v].created, v))
        ready.remove(vid)
        order.append(recs[vid])
        for p in set(recs[vid].parents) & recs.keys():
            waiting[p] -= 1
            if waiting[p] == 0:
                ready.append(p)
    return order


def _with_ancestors(st: Store, seeds: Iterable[VersionRecord]) -> dict[str, VersionRecord]:
    out: dict[str, VersionRecord] = {}
    todo = list(seeds)
    while todo:
        rec = todo.pop()
        if rec.id not in out:
            out[rec.id] = rec
            todo.extend(st.record(p) for p in rec.parents if p not in out)
    return out


def _label(rec: VersionRecord, drafts: set[str], full_ids: bool) -> str:
    vid = rec.id if full_ids else rec.id[:12]
    state = " (draft)" if rec.id in drafts else " (published)" if rec.published else ""
    st = rec.stats
    change = f"  +{st.get('added', 0)} ~{st.get('modified', 0)} -{st.get('removed', 0)}, {plural(st.get('files', 0), 'file')}" if st else ""
    tags = f"  [{', '.join(rec.tags)}]" if rec.tags else ""
    return f"{vid} {rec.project}/{rec.name} {rec.version}{state}{change}{tags}"


@cli.command()
@id_option("a version: show it and its ancestors")
@click.option("--project", help="project of the dataset")
@click.option("--name", help="dataset: show all its versions (and drafts) with their ancestors")
@click.option("--full-ids", is_flag=True, help="print whole ids instead of 12-character prefixes")
@verb
@pass_settings
def log(s: Settings, ref: str | None, project: str | None, name: str | None, full_ids: bool) -> None:
    """Draw the version DAG (like git log --graph).

    Newest first; ids are shown as 12-character prefixes, which every --id accepts.
    """
    st = s.store()
    drafts = {d.record.id: d.record for d in st.drafts()}
    if ref:
        seeds = [by_ref(s, ref, completed=False).record]
    elif name:
        seeds = [r for r in st.records() if r.name == name and (project is None or r.project == project)]
        seeds += [r for r in drafts.values() if r.name == name and (project is None or r.project == project)]
        if not seeds:
            raise DatasetNotFoundError(f"no dataset {project or '*'}/{name} in {st.url}")
    else:
        raise click.UsageError("give --id, or --name (and --project)")
    order = display_order(_with_ancestors(st, seeds))
    nodes = [(r.id, r.parents, _label(r, set(drafts), full_ids)) for r in order]
    doc = [{"id": r.id, "parents": list(r.parents), "project": r.project, "name": r.name, "version": r.version,
            "status": "draft" if r.id in drafts else "published" if r.published else "completed", "tags": list(r.tags),
            "stats": dict(r.stats)} for r in order]
    emit(s, doc, render_graph(nodes))


# -- store maintenance and configuration ----------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="report what would be removed; remove nothing")
@click.option("--min-age", type=click.FloatRange(min=0), default=3600.0, show_default=True, metavar="SECONDS",
              help="keep unreferenced content younger than this (uploads in flight)")
@verb
@pass_settings
def gc(s: Settings, dry_run: bool, min_age: float) -> None:
    """Remove stored content that no version or draft references.

    Two phases keep concurrent uploads safe: unreferenced content older than --min-age is
    first marked, and removed by a later run if still unreferenced --min-age after marking
    (--min-age 0 does both at once; use it only when nothing else writes to the store).
    """
    report = s.store().gc(dry_run=dry_run, min_age_seconds=min_age)
    verb_ = "would remove" if dry_run else "removed"
    marked = f"; {'would mark' if dry_run else 'marked'} {len(report.marked)} for a later run" if report.marked else ""
    emit(s, asdict(report), f"{verb_} {len(report.packs)} packs, {len(report.objects)} objects, "
                            f"{len(report.manifests)} manifests, {len(report.claims)} stale claims ({human_size(report.bytes)}){marked}")


def _source(key: str, flag: str | None) -> str:
    if flag:
        return "command line"
    if os.environ.get(config.KEYS[key]):
        return f"env {config.KEYS[key]}"
    return "config file" if key in config.load_file() else "default"


@cli.command("config")
@verb
@pass_settings
def config_(s: Settings) -> None:
    """Show the effective configuration (secrets redacted)."""
    cache = Cache(s.cache_dir)
    path = config.config_path()
    doc = {
        "store_url": redact_url(s.store_url or default_store_url()),
        "store_url_source": _source("url", s.store_url),
        "cache_dir": str(cache.root),
        "cache_dir_source": _source("cache_dir", s.cache_dir),
        "cache_max_size": cache.max_bytes,
        "cache_max_size_source": _source("cache_max_size", None),
        "config_file": str(path),
        "config_file_exists": path.is_file(),
        "storage_options": config.redact(config.storage_options()),
    }
    opts = ", ".join(f"{k}={v}" for k, v in doc["storage_options"].items()) or "(none)"
    emit(s, doc, table(["SETTING", "VALUE", "FROM"], [
        ["store", doc["store_url"], doc["store_url_source"]],
        ["cache dir", doc["cache_dir"], doc["cache_dir_source"]],
        ["cache max size", human_size(cache.max_bytes), doc["cache_max_size_source"]],
        ["config file", str(path), "found" if doc["config_file_exists"] else "not found"],
        ["storage options", opts, "config file" if doc["storage_options"] else "-"],
    ]))


# -- entry point -----------------------------------------------------------------------------


def expand_multi_values(args: Sequence[str]) -> list[str]:
    """``--files a b c`` -> ``--files a --files b --files c`` for MULTI_VALUE_OPTIONS, so the
    clearml-data spelling works; values starting with '-' need ``--files=VALUE``."""
    out: list[str] = []
    opt, n = None, 0
    for i, a in enumerate(args):
        if a == "--":
            out.extend(args[i:])
            break
        if opt and not a.startswith("-"):
            out += [opt, a] if n else [a]
            n += 1
            continue
        opt, n = (a, 0) if a in MULTI_VALUE_OPTIONS else (None, 0)
        out.append(a)
    return out


_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def fail(message: str, code: int = 1) -> int:
    click.echo(f"dagstore: error: {message}", err=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns (and, as a console script, exits with) the exit code."""
    args = expand_multi_values(list(sys.argv[1:] if argv is None else argv))
    settings = Settings()
    try:
        rv = cli.main(args, prog_name="dagstore", obj=settings, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except _NO_ARGS_IS_HELP as exc:  # bare `dagstore`: the help text
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        code = 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "dagstore"
        code = fail(f"{exc.format_message()} (see '{where} --help')", exc.exit_code)
    except click.ClickException as exc:
        code = fail(exc.format_message(), exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        code = fail("interrupted", 130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 1
    except Exception as exc:  # noqa: BLE001 -- one line, unless --debug
        if settings.debug:
            traceback.print_exc()
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, DagstoreError):
            message = f"{type(exc).__name__}: {message}" + ("" if settings.debug else " (run with --debug for the traceback)")
        code = fail(message.splitlines()[0] if message else type(exc).__name__)
    return code


if __name__ == "__main__":
    sys.exit(main())
