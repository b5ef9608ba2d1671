"""SeeMe CSV / TSV: a table (``filename``, ``labels``, ``split``, field columns) described by
``config.json`` (``multi_label``, ``label_column``, ``split_column``, ``label_separator``,
``filename``, ``csv_separator``). Media are found under ``media=``, ``media/`` or beside the
table, at the row's dataset path. A table whose rows name no file (no ``filename`` column) is
a table of rows: ``table.read_rows``. The separator is ``csv_separator``, the ``separator``
option, or guessed (``dagstore.tables.sniff``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ...errors import FormatError
from ...tables import sniff
from ..errors import ImportSourceError
from . import register
from ._base import ImportContext, ImportItem
from .table import OPTIONS, config_of, read_rows, table_file


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


def _header(table: Path, sep: str) -> list[str]:
    try:
        with open(table, newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f, delimiter=sep), [])
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportSourceError(str(table), "", f"malformed CSV: {exc}") from None


def _separator(table: Path, config: dict[str, Any], ctx: ImportContext) -> str:
    """``separator`` option, else ``csv_separator``, else guessed from the table's start."""
    given = ctx.options.get("separator") or config.get("csv_separator")
    with open(table, "rb") as f:
        head = f.read(64 << 10)
    try:
        return sniff(head, "\t" if table.suffix.lower() == ".tsv" else ",", given, ctx.options.get("decimal")).separator
    except FormatError as exc:
        raise ImportSourceError(str(table), "separator", str(exc)) from None


class CsvImporter:
    name = "csv"
    options: tuple[str, ...] = ("filename_column",) + OPTIONS

    def read(self, source: Path, ctx: ImportContext) -> None:
        root = source.parent if source.is_file() else source
        config = config_of(root)
        config.update({k: ctx.options[k] for k in OPTIONS[2:] if ctx.options.get(k) is not None})
        table = table_file(source, root, config, (".csv", ".tsv"))
        sep = _separator(table, config, ctx)
        file_col = ctx.options.get("filename_column", "filename")
        if "filename_column" not in ctx.options and file_col not in _header(table, sep):
            read_rows(table, ctx, config)  # no file named: a table of rows
            return
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
