"""SeeMe spaCy NER: ``<split>.json`` = ``[{id, name, text, annotations: [{start, end, label}]}]``
plus ``config.json`` (``splits``, ``colors``). Each record becomes a UTF-8 text file (its
``name``, else ``<split>/<id>.txt``) whose content the code point spans index."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from ..errors import ImportSourceError
from . import register
from ._base import ImportContext, ImportItem, load_json


class SpacyNerImporter:
    name = "spacy_ner"
    options: tuple[str, ...] = ()

    def read(self, source: Path, ctx: ImportContext) -> None:
        root = source.parent if source.is_file() else source
        config = load_json(root / "config.json") if (root / "config.json").is_file() else {}
        colors: dict[str, Any] = cast("dict[str, Any]", config.get("colors")) if isinstance(config, dict) and isinstance(config.get("colors"), dict) else {}
        if source.is_file():
            files = [source]
        else:
            splits = config.get("splits") if isinstance(config, dict) else None
            files = [root / f"{s}.json" for s in splits] if isinstance(splits, list) else sorted(p for p in root.glob("*.json") if p.name != "config.json")
        if not files:
            raise ImportSourceError(str(source), "", "no <split>.json files")
        ctx.add_classes(list(colors), colors=colors)
        for js in files:
            records = load_json(js)
            if not isinstance(records, list):
                raise ImportSourceError(str(js), "", "must be a JSON list of records")
            for i, rec in enumerate(records):
                self._item(js, i, rec, ctx)

    @staticmethod
    def _item(js: Path, i: int, rec: Any, ctx: ImportContext) -> None:
        where = f"{js.name}[{i}]"
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            ctx.problem(where, "text", "missing or not a string")
            return
        split = js.stem
        name = rec.get("name") or f"{split}/{rec.get('id', i)}.txt"
        regions = []
        for j, a in enumerate(rec.get("annotations") or []):
            if not isinstance(a, dict) or not isinstance(a.get("label"), str):
                ctx.problem(where, f"annotations[{j}].label", "missing")
                return
            if a["label"] not in ctx.classes:
                ctx.add_classes([a["label"]])
            regions.append({"id": f"r{j + 1}", "type": "span", "label": a["label"], "start": a.get("start"), "end": a.get("end")})
        ann: dict[str, Any] = {"split": split, "media": {"kind": "text"}, "source": {"tool": "seeme", "id": rec.get("id")}}
        if regions:
            ann["regions"] = regions
        ctx.add(ImportItem(str(name), ann, where, data=rec["text"].encode("utf-8")))


register(SpacyNerImporter())
