"""SeeMe CSV / TSV: ``<version_id>.csv`` and ``config.json``. A tabular version's rows with its
label and split columns (docs/format.md, "Tabular versions"); any other version one row per
file (``filename``, ``labels``, ``split``, then the fields) with media under ``media/`` at their
dataset paths. RFC 4180 quoting."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ...core.arrays import strings
from ..base import BaseExporter, ExportContext, ExportFormat
from ..rows import rows_of

_EMPTY = strings([""])[0]  # an Arrow scalar: fill_null of a Python str imports pandas


class CsvExporter(BaseExporter):
    format = ExportFormat.CSV
    separator: ClassVar[str] = ","
    options: ClassVar[Mapping[str, Any]] = {"label_separator": ","}

    def export(self, ctx: ExportContext) -> None:
        rows = rows_of(ctx, str(ctx.options.get("label_separator") or ","))
        ext = "tsv" if self.separator == "\t" else "csv"
        name = f"{ctx.view.version_id}.{ext}"
        with ctx.sink.open(name) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write_csv(text, rows.schema.names, rows.batches, self.separator)
            text.flush()
            text.detach()
        config = rows.config(name, self.separator)
        ctx.sink.write("config.json", (json.dumps(config, indent=2) + "\n").encode())


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    return json.dumps(v, ensure_ascii=False, default=str)


def write_csv(text: Any, columns: list[str], batches: Any, separator: str) -> int:
    """Write a header and every row of ``batches`` to the text stream; returns the row count."""
    w = csv.writer(text, delimiter=separator, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow(columns)
    n = 0
    for batch in batches:
        w.writerows(zip(*(_texts(col) for col in batch.columns)))
        n += batch.num_rows
    return n


def _texts(col: Any) -> list[str]:
    """``_cell`` of every value of one column (integers, text and dates a column at a time)."""
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_date32(t) or pa.types.is_date64(t):  # as repr / isoformat
        return pc.fill_null(pc.cast(col, pa.string()), _EMPTY).to_pylist()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.fill_null(col, _EMPTY.cast(t)).to_pylist()
    return [_cell(v) for v in col.to_pylist()]


class TsvExporter(CsvExporter):
    format = ExportFormat.TSV
    separator = "\t"
