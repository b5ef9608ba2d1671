"""spaCy v3 ``DocBin`` files ``<split>.spacy`` (needs the ``spacy`` extra). Entities are set
with strict alignment; a span that does not fall on token boundaries, or overlaps another,
is reported, never silently dropped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..base import BaseExporter, ExportContext, ExportFormat
from ..errors import ExportError
from .spacy_ner import text_items


class SpacyDocBinExporter(BaseExporter):
    format = ExportFormat.SPACY
    carries_media = False
    options: ClassVar[Mapping[str, Any]] = {"lang": "en"}

    def export(self, ctx: ExportContext) -> None:
        try:
            import spacy
            from spacy.tokens import DocBin
        except ImportError:
            raise ExportError("the SPACY format needs spaCy: pip install 'dagstore[spacy]'") from None
        lang = str(ctx.options.get("lang") or "en")
        nlp = spacy.blank(lang)
        ctx.info["tokenizer"] = f"spacy.blank({lang!r}) spaCy {spacy.__version__}"
        bins: dict[str, Any] = {}
        for item, split, text, spans in text_items(ctx, "SPACY"):
            doc = nlp.make_doc(text)
            ents = []
            last_end = -1
            for start, end, label in spans:
                span = doc.char_span(start, end, label=label, alignment_mode="strict")
                if span is None:
                    ctx.skip(item.path, f"span [{start}, {end}) {label} does not fall on token boundaries")
                elif span.start < last_end:
                    ctx.skip(item.path, f"span [{start}, {end}) {label} overlaps the previous entity")
                else:
                    ents.append(span)
                    last_end = span.end
            doc.ents = ents
            bins.setdefault(split, DocBin(store_user_data=False)).add(doc)
            ctx.count(split)
        for split in sorted(bins):
            ctx.sink.write(f"{split}.spacy", bins[split].to_bytes())
