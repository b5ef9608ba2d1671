"""The ``dagstore`` command: clearml-data's verbs and flags, plus diff, log, gc and config.

Every verb prints human output, or one JSON document on stdout with ``--json``. An error
prints one line, ``dagstore: error: <message>``, on stderr and exits non-zero (1 for a
dagstore error, 2 for a usage error); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .. import __version__, config, refs
from .._atomic import atomic_write
from ..api.dataset import Dataset
from ..errors import DagstoreError, InvalidPathError
from ..core.manifest import Diff
from ..core.fanout import open_executor
from ..api.store import Store
from .named import named

# Options that take several values, as in clearml-data (``--files a b c``); main() rewrites
# them to click's repeated form (``--files a --files b --files c``).
MULTI_VALUE_OPTIONS = frozenset({"--files", "--wildcard", "--links", "--parents", "--ids", "--tags", "--filter"})


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


def summary(ds: Dataset) -> dict[str, Any]:
    """The JSON description of a version used by most verbs."""
    return {"id": ds.id, "project": ds.project, "name": ds.name, "version": ds.version,
            "status": ds.status, "parents": ds.parents, "tags": ds.tags, "stats": dict(ds.record.stats)}


def title(ds: Dataset) -> str:
    return f"{ds.project}/{ds.name} {ds.version}"


def diff_lines(d: Diff, against: str) -> list[str]:
    only = set(d.annotation_only)
    lines = [f"+ {p}" for p in d.added] + [f"~ {p}{' (annotation only)' if p in only else ''}" for p in d.modified]
    lines += [f"- {p}" for p in d.removed]
    note = f", {len(only)} of them annotation only" if only else ""
    return lines + [f"{len(d.added)} added, {len(d.modified)} modified{note}, {len(d.removed)} removed ({against})"]


def diff_doc(d: Diff) -> dict[str, list[str]]:
    return {"added": d.added, "modified": d.modified, "removed": d.removed, "annotation_only": d.annotation_only}


# -- finding versions ---------------------------------------------------------------------------


def by_ref(s: Settings, ref: str, completed: bool = True) -> Dataset:
    """A version from an id, a unique id prefix, or ``[project/]name[@version]`` (the highest
    final version when no version is given)."""
    st = s.store()
    if refs.is_named(ref):
        r = refs.parse(ref)
        return named(st, r.project, r.name, r.version, completed)
    return Dataset.get(dataset_id=refs.expand_id(st, ref), store=st)


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
        return named(s.store(), project, name, version, not draft)
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
    atomic_write(_last_draft_file(s), json.dumps(drafts, indent=1).encode())


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


def name_options(fn: Callable[..., Any] | None = None, *, version_help: str = "exact version (default: the highest)") -> Any:
    """--project / --name / --version, to pick the highest (or the given) final version;
    ``@name_options(version_help=...)`` where the highest is not the default."""
    def add(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--version", help=version_help)(f)
        f = click.option("--name", help="dataset name")(f)
        return click.option("--project", help="dataset project")(f)
    return add(fn) if fn is not None else add


storage_option = click.option("--storage", metavar="URL", help="upload content here instead of the store")
def _chunk_size(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value != -1 and value < 1:
        raise click.BadParameter("a size in MB, or -1 for one chunk")
    return value


chunk_option = click.option("--chunk-size", type=int, callback=_chunk_size, metavar="MB", help="pack size in MB (-1: one chunk)")
workers_option = click.option("--max-workers", type=click.IntRange(min=1), metavar="N", help="parallel hashing / transfer threads")


def fanout_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--workers N`` / ``--scheduler ADDRESS``: the verb gets ``executor`` (None without them)."""
    @click.option("--workers", type=click.IntRange(min=1), metavar="N", help="fan the work out over N local worker processes")
    @click.option("--scheduler", metavar="ADDRESS", help="fan the work out over a Dask scheduler (tcp://host:8786; docs/scale.md)")
    @functools.wraps(fn)
    def wrapper(*args: Any, workers: int | None = None, scheduler: str | None = None, **kwargs: Any) -> Any:
        with open_executor(workers, scheduler) as executor:
            return fn(*args, executor=executor, **kwargs)

    return wrapper


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


# -- entry point -----------------------------------------------------------------------------


def expand_multi_values(args: Sequence[str]) -> list[str]:
    """``--files a b c`` -> ``--files a --files b --files c`` for MULTI_VALUE_OPTIONS, so the
    clearml-data spelling works; values starting with '-' need ``--files=VALUE``. Once an
    option's first value is ``KEY=VALUE`` (``--filter splits=test``), a word without ``=``
    ends its values (``select … --filter splits=test VERSION`` keeps VERSION)."""
    out: list[str] = []
    opt, n, pairs = None, 0, False
    for i, a in enumerate(args):
        if a == "--":
            out.extend(args[i:])
            break
        if opt and not a.startswith("-") and not (n and pairs and "=" not in a):
            out += [opt, a] if n else [a]
            pairs = pairs or (n == 0 and "=" in a)
            n += 1
            continue
        opt, n, pairs = (a, 0, False) if a in MULTI_VALUE_OPTIONS else (None, 0, False)
        out.append(a)
    return out


def _long_options(cmd: click.Command) -> list[str]:
    return sorted({o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} | {"--help"})


def expand_prefixes(args: Sequence[str], group: click.Group | None = None) -> list[str]:
    """Unique prefixes of long options, as argparse (and so clearml-data) allows: ``--proj``
    for ``--project``, for the global options and then the verb's. An ambiguous prefix is a
    usage error naming the candidates; an unknown option is left for click to refuse."""
    group = group or cli
    global_values = {o for p in group.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
    cmd: click.Command = group
    out = list(args)
    i = 0
    while i < len(out):
        a = out[i]
        if a == "--":
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            known = _long_options(cmd)
            if name not in known:
                hits = [o for o in known if o.startswith(name)]
                if len(hits) > 1:
                    raise click.UsageError(f"option {name} is ambiguous (could be {', '.join(hits)})")
                if hits:
                    name = hits[0]
                    out[i] = name + eq + value
            if cmd is group and not eq and name in global_values:
                i += 1  # skip its value
        elif cmd is group and not a.startswith("-") and a in group.commands:
            cmd = group.commands[a]  # the verb: its options from here on
        i += 1
    return out


_NO_ARGS_IS_HELP: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def fail(message: str, code: int = 1) -> int:
    click.echo(f"dagstore: error: {message}", err=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns (and, as a console script, exits with) the exit code."""
    settings = Settings()
    try:
        args = expand_multi_values(expand_prefixes(list(sys.argv[1:] if argv is None else argv)))
        rv = cli.main(args, prog_name="dagstore", obj=settings, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except _NO_ARGS_IS_HELP as exc:  # bare `dagstore`: the help text
        ctx = getattr(exc, "ctx", None)
        click.echo(ctx.get_help() if ctx else str(exc))
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
