"""SeeMe spaCy NER: ``<split>.json`` = ``[{id, name, text, annotations: [{start, end, label}]}]``
and ``config.json`` ``{splits, colors}`` (splits in the dataset's order: train, valid, test
first). Records keep their own ids. Text only: no media."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ...annotations.ops import order_splits
from ..base import ExportContext, ExportFormat, BaseExporter, Streams, region_id, regions
from ..view import Item


def text_spans(ctx: ExportContext, item: Item, fmt: str) -> tuple[str, list[tuple[int, int, str]]] | None:
    """The item's text and its valid spans (in order); anything else is reported."""
    text = ctx.text_of(item)
    if text is None:
        ctx.skip(item.path, "content is not UTF-8 text")
        return None
    ids = ctx.class_ids
    spans: list[tuple[int, int, str]] = []
    for i, r in enumerate(regions(item)):
        rid = region_id(r, i)
        if r.get("type") != "span":
            ctx.skip(item.path, f"{r.get('type')} regions are not expressible in {fmt}", rid)
            continue
        start, end, label = r.get("start"), r.get("end"), r.get("label")
        if label not in ids:
            ctx.skip(item.path, f"region label {label!r} is not in the class list", rid)
        elif not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            ctx.skip(item.path, f"span [{start}, {end}) lies outside the text", rid)
        else:
            spans.append((start, end, label))
    spans.sort(key=lambda s: (s[0], s[1], ids[s[2]]))
    return text, spans


def text_items(ctx: ExportContext, fmt: str) -> Iterator[tuple[Item, str, str, list[tuple[int, int, str]]]]:
    for item in ctx.items():
        got = text_spans(ctx, item, fmt)
        if got is not None:
            yield item, ctx.split(item), got[0], got[1]


def _record_id(item: Item, used: set[Any], position: int) -> Any:
    """The record's own id (``source.id``, as SeeMe's import kept it), else its position in
    the split; an id already used in the split falls back to the next free position."""
    own = ((item.annotation or {}).get("source") or {}).get("id")
    rid = own if isinstance(own, (int, str)) and not isinstance(own, bool) and own not in used else position
    while rid in used:
        position += 1
        rid = position
    used.add(rid)
    return rid


class SpacyNerExporter(BaseExporter):
    format = ExportFormat.SPACY_NER
    carries_media = False

    def export(self, ctx: ExportContext) -> None:
        n: dict[str, int] = {}
        used: dict[str, set[Any]] = {}
        with Streams(ctx.sink) as out:
            for item, split, text, spans in text_items(ctx, "SPACY_NER"):
                n[split] = n.get(split, 0) + 1
                row: dict[str, Any] = {"id": _record_id(item, used.setdefault(split, set()), n[split]), "name": item.path, "text": text,
                                       "annotations": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}
                out.write(f"{split}.json", ("[\n" if n[split] == 1 else ",\n") + json.dumps(row, ensure_ascii=False))
                ctx.count(split)
            for split in n:
                out.write(f"{split}.json", "\n]\n")
        config = {"splits": order_splits(n), "colors": {c.name: c.color for c in ctx.classes}}
        ctx.sink.write("config.json", (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode())
