"""Verbs for annotations: import (a labelled dataset into a draft) and annotations (print them)."""

from __future__ import annotations

import json
from concurrent.futures import Executor

import click

from ..annotations.importers import importer_names
from .app import Settings, cli, emit, fanout_options, id_option, name_options, open_dataset, pass_settings, plural, verb
from .args import option_args


@cli.command("import")
@id_option("draft id (default: the draft of the last `dagstore create`)")
@click.option("--format", "fmt", required=True, type=click.Choice(importer_names(), case_sensitive=False), help="format of SOURCE")
@click.option("--media", metavar="DIR", help="folder (or URL) holding the media files the source names")
@click.option("--dataset-folder", metavar="PATH", help="folder inside the dataset to import under")
@click.option("--split", help="put every imported item in this split")
@click.option("--policy", default="ground_truth", show_default=True, help="Label Studio: ground_truth, latest or annotator:<id>")
@click.option("--skip-errors", is_flag=True, help="import the good items and report the bad ones (default: fail, change nothing)")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="importer option (obb=true, label_config=FILE, ...)")
@click.argument("source")
@verb
@pass_settings
@fanout_options
def import_(s: Settings, ref: str | None, fmt: str, media: str | None, dataset_folder: str | None, split: str | None,
            policy: str, skip_errors: bool, options: tuple[str, ...], source: str, executor: Executor | None) -> None:
    """Import a labelled dataset (media + annotations) into a draft, as `add` does.

    Formats: labelstudio, coco, yolo, voc, folders, csv, spacy_ner, conll2003. SOURCE is a
    local path, a .zip or any fsspec URL.
    """
    kw = option_args(options)
    ds = open_dataset(s, ref, draft=True)
    report = ds.import_annotations(source, fmt, media=media, dataset_path=dataset_folder, split=split, policy=policy,
                                   on_error="skip" if skip_errors else "raise", show_progress=not s.quiet, executor=executor, **kw)
    doc = {"id": ds.id, **report.to_dict()}
    counts = ", ".join(f"{k or '(no split)'}: {v}" for k, v in sorted(report.counts.items())) or "nothing"
    lines = [f"imported {plural(report.total, 'item')} ({counts}); {plural(report.files_added, 'file')} added or modified"]
    if report.classes_added:
        lines.append(f"classes added: {', '.join(report.classes_added)}")
    lines += [f"guessed {k}: {g.get('value')} ({g.get('reason')})" for k, g in report.guessed.items()]
    lines += [f"skipped {sk['path']}: {sk['reason']}" for sk in report.skipped]
    lines += [f"not imported {ig['path']}: {ig['reason']}" for ig in report.ignored]
    emit(s, doc, [*lines, f"id: {ds.id}"])


@cli.command("annotations")
@id_option()
@name_options
@click.option("--split", "splits", multiple=True, metavar="NAME...", help="only items of these splits")
@click.option("--label", "labels", multiple=True, metavar="CLASS...", help="only items with these item or region labels")
@click.option("--filter", "filters", multiple=True, metavar="GLOB...", help="only paths, folders or globs like these")
@click.option("--all", "include_all", is_flag=True, help="also files without an annotation")
@click.option("--classes", "show_classes", is_flag=True, help="print the class list instead")
@verb
@pass_settings
def annotations_(s: Settings, ref: str | None, project: str | None, name: str | None, version: str | None,
                splits: tuple[str, ...], labels: tuple[str, ...], filters: tuple[str, ...], include_all: bool,
                show_classes: bool) -> None:
    """Print a version's annotations as JSON lines ({"path", "annotation"}), in path order."""
    ds = open_dataset(s, ref, project, name, version)
    if show_classes:
        cl = ds.classes
        doc = [{"id": i, "name": n, "color": ds.class_colors[n]} for i, n in enumerate(cl)]
        emit(s, doc, [f"{d['id']}\t{d['name']}\t{d['color']}" for d in doc])
        return
    it = ds.iter_annotations(split=list(splits) or None, labels=list(labels) or None, wildcard=list(filters) or None,
                             include_unannotated=include_all)
    if s.json:
        emit(s, [{"path": p, "annotation": a} for p, a in it])
        return
    for p, a in it:
        click.echo(json.dumps({"path": p, "annotation": a}, ensure_ascii=False, sort_keys=True))
