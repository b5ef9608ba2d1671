"""SeeMe CSV / TSV: a table (``filename``, ``labels``, ``split``, field columns) described by
``config.json`` (``multi_label``, ``label_column``, ``split_column``, ``label_separator``,
``filename``, ``csv_separator``). Media are found under ``media=``, ``media/`` or beside the
table, at the row's dataset path."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..errors import ImportSourceError
from . import register
from ._base import ImportContext, ImportItem, load_json


def _config(root: Path) -> dict[str, Any]:
    """``config.json`` beside the table ({} when there is none)."""
    config: dict[str, Any] = load_json(root / "config.json") if (root / "config.json").is_file() else {}
    if not isinstance(config, dict):
        raise ImportSourceError(str(root / "config.json"), "", "must be a JSON object")
    return config


def _table(source: Path, root: Path, config: dict[str, Any]) -> Path:
    """The table: the source file, the one config.json names, or the folder's only .csv/.tsv."""
    if source.is_file():
        table = source
    elif config.get("filename"):
        table = root / str(config["filename"])
    else:
        tables = sorted(p for p in root.iterdir() if p.suffix.lower() in (".csv", ".tsv"))
        if len(tables) != 1:
            raise ImportSourceError(str(root), "filename", "config.json does not name the table and there is not exactly one .csv/.tsv")
        table = tables[0]
    if not table.is_file():
        raise ImportSourceError(str(table), "", "file not found")
    return table


def _rows(table: Path, sep: str, file_col: str) -> list[dict[str, Any]]:
    try:
        with open(table, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f, delimiter=sep))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportSourceError(str(table), "", f"malformed CSV: {exc}") from None
    if rows and file_col not in rows[0]:
        raise ImportSourceError(str(table), file_col, "column missing")
    return rows


def _row_annotation(row: dict[str, Any], config: dict[str, Any], file_col: str) -> dict[str, Any]:
    """labels (split by ``label_separator`` when ``multi_label``), split and the other columns as fields."""
    label_col = config.get("label_column", "labels")
    split_col = config.get("split_column", "split")
    ann: dict[str, Any] = {}
    raw = (row.get(label_col) or "").strip()
    if raw:
        labs = [x.strip() for x in raw.split(config.get("label_separator", ","))] if config.get("multi_label", False) else [raw]
        ann["labels"] = [x for x in labs if x]
    if (row.get(split_col) or "").strip():
        ann["split"] = row[split_col].strip()
    fields = {k: v for k, v in row.items() if k not in (file_col, label_col, split_col) and k is not None}
    if fields:
        ann["fields"] = fields
    return ann


class CsvImporter:
    name = "csv"
    options: tuple[str, ...] = ("filename_column",)

    def read(self, source: Path, ctx: ImportContext) -> None:
        root = source.parent if source.is_file() else source
        config = _config(root)
        table = _table(source, root, config)
        sep = config.get("csv_separator") or ("\t" if table.suffix.lower() == ".tsv" else ",")
        file_col = ctx.options.get("filename_column", "filename")
        media_root = ctx.media or (root / "media" if (root / "media").is_dir() else root)
        labels: list[str] = []
        for n, row in enumerate(_rows(table, sep, file_col), 2):
            where = f"{table.name}:{n}"
            rel = (row.get(file_col) or "").strip()
            if not rel:
                ctx.problem(where, file_col, "empty")
                continue
            local = ctx.resolve_media(media_root, rel, where, file_col)
            if local is None:
                continue
            ann = _row_annotation(row, config, file_col)
            labels += [x for x in ann.get("labels", ()) if x not in labels]
            media = ctx.media_info(local)
            if media:
                ann["media"] = media
            ctx.add(ImportItem(Path(rel.replace("\\", "/")).as_posix(), ann, where, local=str(local)))
        ctx.add_classes(labels, colors=config.get("colors") if isinstance(config.get("colors"), dict) else None)


register(CsvImporter())
