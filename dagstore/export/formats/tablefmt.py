"""A version's rows as one Parquet or JSON-lines file (``<version_id>.parquet`` /
``<version_id>.jsonl``) plus SeeMe's ``config.json``: the same rows as the CSV format
(``dagstore.export.rows``): a tabular version's table with its label and split columns, else
one row per file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from ...tables.rows import row_json
from ..base import BaseExporter, ExportContext, ExportFormat
from ..rows import rows_of


def write_parquet(f: Any, schema: Any, batches: Any) -> int:
    """Every batch into one Parquet file (zstd); returns the row count."""
    n = 0
    with pq.ParquetWriter(f, schema, compression="zstd") as w:
        for batch in batches:
            w.write_batch(batch)
            n += batch.num_rows
    return n


def write_jsonl(f: Any, batches: Any) -> int:
    """One JSON object per row (column order; dates as ISO-8601 text); returns the row count."""
    n = 0
    for batch in batches:
        for line in row_json(pa.Table.from_batches([batch])):
            f.write(line)
        n += batch.num_rows
    return n


class ParquetExporter(BaseExporter):
    format = ExportFormat.PARQUET
    options: ClassVar[Mapping[str, Any]] = {"label_separator": ","}
    suffix: ClassVar[str] = "parquet"

    def export(self, ctx: ExportContext) -> None:
        rows = rows_of(ctx, str(ctx.options.get("label_separator") or ","))
        name = f"{ctx.view.version_id}.{self.suffix}"
        with ctx.sink.open(name) as f:
            self.write(f, rows.schema, rows.batches)
        ctx.sink.write("config.json", (json.dumps(rows.config(name), indent=2) + "\n").encode())

    def write(self, f: Any, schema: Any, batches: Any) -> int:
        return write_parquet(f, schema, batches)


class JsonlExporter(ParquetExporter):
    format = ExportFormat.JSONL
    suffix = "jsonl"

    def write(self, f: Any, schema: Any, batches: Any) -> int:
        return write_jsonl(f, batches)
