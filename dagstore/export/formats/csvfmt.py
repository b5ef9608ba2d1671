"""SeeMe CSV / TSV: ``<version_id>.csv`` (``filename``, ``labels``, ``split``, then the fields),
``config.json``, media under ``media/`` at their dataset paths. RFC 4180 quoting."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from ..base import BaseExporter, ExportContext, ExportFormat, region_id, regions
from ..errors import ExportError


class CsvExporter(BaseExporter):
    format = ExportFormat.CSV
    separator: ClassVar[str] = ","
    options: ClassVar[Mapping[str, Any]] = {"label_separator": ","}

    def export(self, ctx: ExportContext) -> None:
        sep = str(ctx.options.get("label_separator") or ",")
        for c in ctx.classes:
            if sep in c.name:
                raise ExportError(f"label {c.name!r} contains the label separator {sep!r}; pass another label_separator")
        fields: set[str] = set()
        multi = False
        for item in ctx.items(final=False):
            ann = item.annotation or {}
            fields.update((ann.get("fields") or {}).keys())
            multi = multi or len(ann.get("labels") or []) > 1
        columns = ["filename", "labels", "split"] + sorted(fields - {"filename", "labels", "split"})
        ext = "tsv" if self.separator == "\t" else "csv"
        name = f"{ctx.view.version_id}.{ext}"
        with ctx.sink.open(name) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            w = csv.writer(text, delimiter=self.separator, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
            w.writerow(columns)
            for item in ctx.items():
                ann = item.annotation or {}
                split = ctx.split(item)
                values: dict[str, Any] = dict(ann.get("fields") or {})
                values.update(filename=item.path, labels=sep.join(ann.get("labels") or []), split=split)
                w.writerow(["" if values.get(c) is None else _cell(values[c]) for c in columns])
                for i, r in enumerate(regions(item)):
                    ctx.skip(item.path, f"{r.get('type')} regions are not expressible in {self.format.value}", region_id(r, i))
                ctx.add_media(f"media/{item.path}", item)
                ctx.count(split)
            text.flush()
            text.detach()
        config = {"multi_label": multi, "label_column": "labels", "split_column": "split",
                  "label_separator": sep, "filename": name, "csv_separator": self.separator}
        ctx.sink.write("config.json", (json.dumps(config, indent=2) + "\n").encode())


def _cell(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


class TsvExporter(CsvExporter):
    format = ExportFormat.TSV
    separator = "\t"
