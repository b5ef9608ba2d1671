"""The rows an export writes as one table (CSV, TSV, Parquet, JSON lines), as Arrow batches.

A tabular version (docs/format.md, "Tabular versions") gives its table: the data columns of
``data.parquet`` joined, by row number, with the selected ``rows/<n>.json`` items' labels and
split. Any other version gives one row per selected file: ``filename``, ``labels``, ``split``,
then its ``fields`` (SeeMe's CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..core.arrays import optional_strings
from ..errors import FormatError
from ..tables.rows import DATA_FILE, DESCRIPTION, find_table, output_schema, parse_description, row_number, with_labels
from .base import ExportContext, region_id, regions
from .errors import ExportError
from .view import Item, LocalView, VersionView

_BATCH = 65_536


@dataclass
class Rows:
    """``schema`` and ``batches`` of the exported rows, and SeeMe's ``config.json`` values
    (``multi_label`` is final once the batches are consumed)."""

    schema: Any
    batches: Iterator[Any]
    label_column: str
    split_column: str
    label_separator: str
    multi_label: bool = False
    tabular: bool = False
    stem: str = "data"
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self, filename: str, csv_separator: str | None = None) -> dict[str, Any]:
        """SeeMe's ``config.json`` for the written table ``filename``."""
        out: dict[str, Any] = {"multi_label": self.multi_label, "label_column": self.label_column,
                               "split_column": self.split_column, "label_separator": self.label_separator,
                               "filename": filename}
        if csv_separator is not None:
            out["csv_separator"] = csv_separator
        return out


def table_folder(view: VersionView) -> str | None:
    """The folder of the version's table, or None when it is not a tabular version."""
    try:
        known = view.state.paths() if isinstance(view, LocalView) and view.state is not None else None  # no annotation decoded
        return find_table(known if known is not None else (it.path for it in view.items()))
    except FormatError as exc:
        raise ExportError(str(exc)) from None


def rows_of(ctx: ExportContext, label_separator: str = ",") -> Rows:
    """The rows to write (see the module's docstring)."""
    folder = table_folder(ctx.view)
    return table_rows(ctx, folder) if folder is not None else file_rows(ctx, label_separator)


def _joined(labels: list[str], sep: str, where: str) -> str | None:
    if len(labels) > 1 and any(sep in lab for lab in labels):
        raise ExportError(f"{where}: a label contains the label separator {sep!r}; pass another label_separator")
    return sep.join(labels) if labels else None


def table_rows(ctx: ExportContext, folder: str) -> Rows:
    """The table of a tabular version, its rows joined with their labels and split."""
    # the two table files alone: a version of many rows is never checked out whole to read them
    names = [folder + DESCRIPTION, folder + DATA_FILE]
    f, raw = ctx.view.open_alone(names) if isinstance(ctx.view, LocalView) else [ctx.view.open(p) for p in names]
    with f:
        try:
            desc = parse_description(f.read(), folder + DESCRIPTION)
        except FormatError as exc:
            raw.close()
            raise ExportError(str(exc)) from None
    data = pq.ParquetFile(raw)
    label_col, split_col = desc.get("label_column") or "label", desc.get("split_column") or "split"
    if {label_col, split_col} & set(data.schema_arrow.names) or label_col == split_col:
        raw.close()
        raise ExportError(f"{folder}{DESCRIPTION}: label and split columns {label_col!r}, {split_col!r} clash with the data columns")
    schema = output_schema(data.schema_arrow, label_col, split_col)
    rows = Rows(schema, iter(()), label_col, split_col, str(desc.get("label_separator") or ","),
                bool(desc.get("multi_label")), tabular=True)

    def selected() -> Iterator[tuple[int, Item]]:
        for item in ctx.items():
            n = row_number(item.path[len(folder):]) if item.path.startswith(folder) else None
            if n is not None:
                yield n, item
            elif item.path not in (folder + DESCRIPTION, folder + DATA_FILE):
                ctx.skip(item.path, "not a row of the version's table")

    def batches() -> Iterator[Any]:
        with raw:
            yield from joined()

    def joined() -> Iterator[Any]:
        todo = selected()
        pending = next(todo, None)
        start = 0
        for batch in data.iter_batches(batch_size=_BATCH):
            end = start + batch.num_rows
            take: list[int] = []
            labels: list[str | None] = []
            splits: list[str] = []
            while pending is not None and pending[0] <= end:
                n, item = pending
                labs = list((item.annotation or {}).get("labels") or [])
                rows.multi_label = rows.multi_label or len(labs) > 1
                take.append(n - 1 - start)
                labels.append(_joined(labs, rows.label_separator, item.path))
                splits.append(ctx.split(item))
                ctx.count(splits[-1])
                pending = next(todo, None)
            if take:
                yield with_labels(batch, take, labels, splits, schema)
            start = end
        while pending is not None:
            ctx.skip(pending[1].path, f"row {pending[0]} is past the {start} rows of {DATA_FILE}")
            pending = next(todo, None)

    rows.batches = batches()
    return rows


def _text_batch(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of text (or None) as a batch of ``schema``'s string columns, built from buffers
    (``RecordBatch.from_pylist`` imports pandas)."""
    return pa.RecordBatch.from_arrays([optional_strings([r.get(c) for r in rows]) for c in schema.names], schema=schema)


def _cell(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def file_rows(ctx: ExportContext, label_separator: str, media: bool = True) -> Rows:
    """One row per selected file: ``filename``, ``labels``, ``split``, then the ``fields``
    (as text); regions are reported as not expressible; media go under ``media/``."""
    for c in ctx.classes:
        if label_separator in c.name:
            raise ExportError(f"label {c.name!r} contains the label separator {label_separator!r}; pass another label_separator")
    fields: set[str] = set()
    for item in ctx.items(final=False):
        fields.update(((item.annotation or {}).get("fields") or {}).keys())
    columns = ["filename", "labels", "split"] + sorted(fields - {"filename", "labels", "split"})
    schema = pa.schema([pa.field(c, pa.string()) for c in columns])
    rows = Rows(schema, iter(()), "labels", "split", label_separator)

    def batches() -> Iterator[Any]:
        out: list[dict[str, Any]] = []
        for item in ctx.items():
            ann = item.annotation or {}
            split = ctx.split(item)
            labs = list(ann.get("labels") or [])
            rows.multi_label = rows.multi_label or len(labs) > 1
            values = {k: None if v is None else _cell(v) for k, v in (ann.get("fields") or {}).items()}
            values.update(filename=item.path, labels=label_separator.join(labs), split=split)
            out.append(values)
            for i, r in enumerate(regions(item)):
                ctx.skip(item.path, f"{r.get('type')} regions are not expressible in a table", region_id(r, i))
            if media:
                ctx.add_media(f"media/{item.path}", item)
            ctx.count(split)
            if len(out) == _BATCH:
                yield _text_batch(out, schema)
                out = []
        if out:
            yield _text_batch(out, schema)

    rows.batches = batches()
    return rows
