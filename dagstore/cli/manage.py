"""Verbs that manage datasets: delete, rename, move, and log (the version DAG)."""

from __future__ import annotations

import click

from ..api import history
from ..api.version import status
from ..api.dataset import Dataset
from ..core.records import VersionRecord
from .app import Settings, by_ref, cli, emit, id_option, name_options, pass_settings, plural, verb

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
        seeds = history.versions_named(st, project, name, drafts.values())
    else:
        raise click.UsageError("give --id, or --name (and --project)")
    order = history.display_order(history.with_ancestors(st, seeds))
    nodes = [(r.id, r.parents, _label(r, set(drafts), full_ids)) for r in order]
    doc = [{"id": r.id, "parents": list(r.parents), "project": r.project, "name": r.name, "version": r.version,
            "status": status(r, r.id in drafts), "tags": list(r.tags),
            "stats": dict(r.stats)} for r in order]
    emit(s, doc, history.render_graph(nodes))
