"""CoNLL-2003: ``<split>.txt``; each document opens with ``-DOCSTART- -X- O O``, then one
``token -X- _ TAG`` line per token (IOB2) and a blank line after each sentence. Tokens come
from a documented regular-expression tokenizer (its name is in the report); sentences end at
line breaks and at ``. ! ?`` tokens."""

from __future__ import annotations

import re

from ..base import BaseExporter, ExportContext, ExportFormat, Streams
from .spacy_ner import text_items

TOKENIZER = "dagstore-regex-1 (\\w+(?:[-']\\w+)*|\\S)"
_TOKEN = re.compile(r"\w+(?:[-']\w+)*|\S")
_END = {".", "!", "?"}


class Conll2003Exporter(BaseExporter):
    format = ExportFormat.CONLL2003
    carries_media = False

    def export(self, ctx: ExportContext) -> None:
        ctx.info["tokenizer"] = TOKENIZER
        with Streams(ctx.sink) as out:
            for item, split, text, spans in text_items(ctx, "CONLL2003"):
                tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
                tags = ["O"] * len(tokens)
                starts = {s: i for i, (s, _) in enumerate(tokens)}
                ends = {e: i for i, (_, e) in enumerate(tokens)}
                for start, end, label in spans:
                    first, last = starts.get(start), ends.get(end)
                    if first is None or last is None:
                        ctx.skip(item.path, f"span [{start}, {end}) {label} does not fall on token boundaries ({TOKENIZER})")
                    elif any(t != "O" for t in tags[first:last + 1]):
                        ctx.skip(item.path, f"span [{start}, {end}) {label} overlaps another entity (CoNLL has one tag per token)")
                    else:
                        tags[first] = f"B-{label}"
                        for k in range(first + 1, last + 1):
                            tags[k] = f"I-{label}"
                lines = ["-DOCSTART- -X- O O", ""]
                sentence: list[str] = []
                for k, (s, e) in enumerate(tokens):
                    sentence.append(f"{text[s:e]} -X- _ {tags[k]}")
                    nxt = tokens[k + 1][0] if k + 1 < len(tokens) else len(text)
                    inside = k + 1 < len(tokens) and tags[k + 1].startswith("I-")
                    if k + 1 == len(tokens) or (not inside and (text[s:e] in _END or "\n" in text[e:nxt])):
                        lines += sentence + [""]
                        sentence = []
                out.write(f"{split}.txt", "\n".join(lines) + "\n")
                ctx.count(split)
