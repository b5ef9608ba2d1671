"""Verbs that manage datasets: delete, rename, move, and log (the version DAG)."""

from __future__ import annotations

import click

from ..core.ops import history
from ..core.version import status
from ..api.dataset import Dataset
from ..core.records import VersionRecord
from .app import Settings, by_ref, cli, emit, id_option, name_options, open_dataset, pass_settings, plural, summary, title, verb

# -- managing datasets ---------------------------------------------------------------------------


@cli.command("set-description")
@id_option("the version (default: the draft of the last `dagstore create`)")
@click.option("--description", required=True, help="the new description")
@verb
@pass_settings
def set_description(s: Settings, ref: str | None, description: str) -> None:
    """Set the description of a draft or of a final version.

    On a final version the description is a label, like tags: its content does not change.
    """
    ds = open_dataset(s, ref, draft=True)
    ds.set_description(description)
    emit(s, {**summary(ds), "description": ds.description}, [f"description of {title(ds)} set", f"id: {ds.id}"])


@cli.command()
@id_option("version to delete (a project/name needs @version too)")
@name_options(version_help="exact version (needed when the dataset has several: none is picked for you)")
@click.option("--entire-dataset", is_flag=True, help="delete every version of --project/--name (needs --force)")
@click.option("--force", is_flag=True, help="delete even if other versions use it as a parent; required by --entire-dataset")
@click.option("--keep-files", is_flag=True, help="do not mark the deleted versions' content for gc")
@click.option("--delete-external-files", is_flag=True, help="also delete the files the deleted versions link to")
@verb
@pass_settings
def delete(s: Settings, ref: str | None, project: str | None, name: str | None, version: str | None,
           entire_dataset: bool, force: bool, keep_files: bool, delete_external_files: bool) -> None:
    """Delete one version (or, with --entire-dataset --force, every version of a dataset).

    Several versions matching --project/--name are refused: give --version. Content no other
    version uses is marked for removal by `dagstore gc`.
    """
    if not ref and not name:
        raise click.UsageError("give --id, or --project and --name")
    if ref and (project or name or version):
        raise click.UsageError("give --id, or --project/--name/--version, not both")
    if entire_dataset and ref:
        raise click.UsageError("--entire-dataset takes --project and --name, not --id")
    vid = None
    if ref and ("/" in ref or "@" in ref):  # project/name[@version]: never the highest of several
        path, _, version = ref.partition("@")
        project, _, name = path.rpartition("/")
        project, version = project or None, version or None
    elif ref:
        vid = by_ref(s, ref, completed=False).id
    n = Dataset.delete(dataset_id=vid, dataset_project=project, dataset_name=name, dataset_version=version,
                       entire_dataset=entire_dataset, force=force, delete_files=not keep_files,
                       delete_external_files=delete_external_files, store=s.store())
    what = vid or f"{project or '*'}/{name}" + (f" {version}" if version else "")
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
