"""A table as rows (docs/format.md, "Tabular versions"): a CSV, TSV, Parquet or JSON-lines
table, optionally with SeeMe's ``config.json`` (``multi_label``, ``label_column``,
``split_column``, ``label_separator``, ``filename``, ``csv_separator``), becomes ``table.json``,
``data.parquet`` and one ``rows/<n>.json`` item per row carrying its labels and split.

The ``csv`` importer hands a SeeMe CSV whose rows name no file to ``read_rows``; the ``table``
importer (also ``tsv``, ``parquet``, ``jsonl``) reads any table this way."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ...errors import FormatError
from ...tables.rows import DATA_FILE, DESCRIPTION, description, read_table, row_json, row_path, split_labels
from ..errors import AnnotationError, ImportSourceError
from ..schema import encode, validate
from . import register
from ._base import ImportContext, ImportItem, load_json

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")
OPTIONS = ("separator", "decimal", "label_column", "split_column", "multi_label", "label_separator")


def config_of(root: Path) -> dict[str, Any]:
    """SeeMe's ``config.json`` beside the table ({} when there is none)."""
    config: dict[str, Any] = load_json(root / "config.json") if (root / "config.json").is_file() else {}
    if not isinstance(config, dict):
        raise ImportSourceError(str(root / "config.json"), "", "must be a JSON object")
    return config


def table_file(source: Path, root: Path, config: dict[str, Any], suffixes: tuple[str, ...]) -> Path:
    """The table: the source file, the one config.json names, or the folder's only table file."""
    if source.is_file():
        table = source
    elif config.get("filename"):
        name = str(config["filename"])
        if "/" in name.replace("\\", "/") or name in ("", ".", ".."):
            raise ImportSourceError(str(root / "config.json"), "filename", f"{name!r} must be a file name beside config.json")
        table = root / name
    else:
        tables = sorted(p for p in root.iterdir() if p.suffix.lower() in suffixes and p.is_file())
        if len(tables) != 1:
            raise ImportSourceError(str(root), "filename", f"config.json does not name the table and there is not "
                                    f"exactly one {'/'.join(suffixes)} file")
        table = tables[0]
    if not table.is_file():
        raise ImportSourceError(str(table), "", "file not found")
    return table


def _setting(ctx: ImportContext, config: dict[str, Any], key: str, config_key: str | None = None) -> Any:
    """An import option, else the config.json value, else None."""
    if ctx.options.get(key) is not None:
        return ctx.options[key]
    return config.get(config_key or key)


def _column(table: Any, path: Path, given: Any, defaults: tuple[str, ...], what: str) -> str | None:
    """The label or split column: the one given (which must exist), else the first default present."""
    names = table.column_names
    if given is not None:
        if not isinstance(given, str) or given not in names:
            raise ImportSourceError(str(path), what, f"column {given!r} is not in the table (columns: {', '.join(names)})")
        return given
    return next((d for d in defaults if d in names), None)


def read_rows(path: Path, ctx: ImportContext, config: dict[str, Any]) -> None:
    """Import the table at ``path`` as rows (see the module's docstring)."""
    sep = _setting(ctx, config, "separator", "csv_separator")
    try:
        table, fmt, dialect = read_table(str(path), sep, _setting(ctx, config, "decimal"))
    except FormatError as exc:
        raise ImportSourceError(str(path), "", str(exc).removeprefix(path.name + ": ")) from None
    label_col = _column(table, path, _setting(ctx, config, "label_column"), ("labels", "label"), "label_column")
    split_col = _column(table, path, _setting(ctx, config, "split_column"), ("split",), "split_column")
    if split_col == label_col and split_col is not None:
        raise ImportSourceError(str(path), "split_column", f"{split_col!r} is also the label column")
    multi = bool(_setting(ctx, config, "multi_label"))
    lsep = str(_setting(ctx, config, "label_separator") or ",")
    labels = table[label_col].to_pylist() if label_col else [None] * table.num_rows
    splits = table[split_col].to_pylist() if split_col else [None] * table.num_rows
    data = table.drop_columns([c for c in (label_col, split_col) if c])
    if data.num_columns == 0:
        raise ImportSourceError(str(path), "", "the table has no data column besides its labels and split")
    classes: dict[str, None] = {}
    shared: dict[Any, tuple[dict[str, Any], str | None]] = {}  # rows of one label and split: checked and encoded once
    for n, raw in enumerate(row_json(data), 1):
        key: Any = (labels[n - 1], splits[n - 1])
        try:
            got = shared.get(key)
        except TypeError:  # a list or map cell: not shared
            key, got = None, None
        if got is None:
            got = _annotation(labels[n - 1], splits[n - 1], multi, lsep, f"{path.name}: row {n}")
            classes.update(dict.fromkeys(got[0].get("labels", ())))
            if key is not None:
                shared[key] = got
        ctx.add(ImportItem(row_path(n), got[0], f"{path.name}: row {n}", data=raw, text=got[1]))
    folder = Path(tempfile.mkdtemp(prefix="dagstore-table-"))
    ctx.cleanup.append(folder)
    pq.write_table(data, str(folder / DATA_FILE), compression="zstd")
    source = {"file": path.name, "format": fmt, **({"separator": dialect.separator, "decimal": dialect.decimal} if dialect else {})}
    desc = description(data, label_col, split_col, multi, lsep, source)
    ctx.add(ImportItem(DESCRIPTION, {}, path.name, data=(json.dumps(desc, indent=2) + "\n").encode(), plain=True))
    ctx.add(ImportItem(DATA_FILE, {}, path.name, local=str(folder / DATA_FILE), plain=True))
    ctx.add_classes(list(classes), colors=config.get("colors") if isinstance(config.get("colors"), dict) else None)
    ctx.guessed["table"] = {"value": _what(table.num_rows, label_col, split_col), "reason": _how(dialect),
                            "rows": table.num_rows, "label_column": label_col, "split_column": split_col,
                            **({"dialect": dialect.to_dict()} if dialect else {})}


def _annotation(label: Any, split: Any, multi: bool, lsep: str, where: str) -> tuple[dict[str, Any], str | None]:
    """A row's annotation (its labels and split, none when the cells are empty) and its stored
    text, checked here (None when the check fails: ``validate_items`` then reports it per row)."""
    ann: dict[str, Any] = {}
    labs = split_labels(label, multi, lsep)
    if labs:
        ann["labels"] = labs
    if split is not None and str(split).strip():
        ann["split"] = str(split).strip()
    try:
        return ann, encode(validate(ann, where, None, plain=True))
    except AnnotationError:
        return ann, None


def _what(rows: int, label_col: str | None, split_col: str | None) -> str:
    labels = f"labels from {label_col!r}" if label_col else "no label column"
    return f"{rows} rows, {labels}, " + (f"split from {split_col!r}" if split_col else "no split column")


def _how(dialect: Any) -> str:
    if dialect is None:
        return "a table of rows (no file column)"
    return (f"a table of rows (no file column); separator {dialect.separator!r}, decimal mark {dialect.decimal!r} "
            f"({'guessed' if dialect.guessed else 'given'})")


class TableImporter:
    name = "table"
    options: tuple[str, ...] = OPTIONS

    def read(self, source: Path, ctx: ImportContext) -> None:
        root = source.parent if source.is_file() else source
        config = config_of(root)
        read_rows(table_file(source, root, config, TABLE_SUFFIXES), ctx, config)


register(TableImporter())
