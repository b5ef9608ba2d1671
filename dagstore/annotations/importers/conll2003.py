"""CoNLL 2003 NER: ``token POS CHUNK TAG`` lines (IOB1 or IOB2), blank lines between sentences,
``-DOCSTART-`` between documents; ``<split>.txt`` files or one file. Each document (or, in a
file without ``-DOCSTART-``, each sentence) becomes a text file — tokens joined by spaces,
sentences by newlines — with code point spans. The columns between the token and the tag
(POS, chunk) are not kept: said once per import in ``ImportReport.ignored`` (unless they only
hold the placeholders ``-X-`` / ``_`` the CoNLL export writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ImportSourceError
from . import register
from ._base import ImportContext, ImportItem

_SUFFIXES = (".txt", ".conll", ".iob", ".tsv")
_PLACEHOLDERS = {"-X-", "_"}


class Conll2003Importer:
    name = "conll2003"
    options: tuple[str, ...] = ()

    def read(self, source: Path, ctx: ImportContext) -> None:
        files = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.suffix in _SUFFIXES)
        if not files:
            raise ImportSourceError(str(source), "", "no CoNLL files (<split>.txt)")
        dropped: dict[str, int] = {}  # file name -> token lines whose middle columns are not kept
        for f in files:
            try:
                lines = f.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise ImportSourceError(str(f), "", f"not UTF-8: {exc}") from None
            if n := self._file(f, lines, ctx):
                dropped[f.name] = n
        if dropped:
            total = sum(dropped.values())
            ctx.ignored.append({"path": ", ".join(dropped), "reason": "the columns between the token and the NER tag (POS, chunk) are not kept "
                                                                     f"(found on {total} token line{'s' * (total != 1)}): only tokens and tags are imported"})

    def _file(self, f: Path, lines: list[str], ctx: ImportContext) -> int:
        """Read one file's documents into ``ctx``; returns how many token lines carry middle columns (not kept)."""
        dropped = 0
        split = f.stem
        docs: list[list[list[tuple[str, str, int]]]] = []  # documents > sentences > (token, tag, line)
        has_docstart = any(ln.startswith("-DOCSTART-") for ln in lines)
        sent: list[tuple[str, str, int]] = []
        doc: list[list[tuple[str, str, int]]] = []
        for n, ln in enumerate(lines + [""], 1):
            if ln.startswith("-DOCSTART-"):
                if sent:
                    doc.append(sent)
                    sent = []
                if doc:
                    docs.append(doc)
                doc = []
                continue
            if not ln.strip():
                if sent:
                    if has_docstart:
                        doc.append(sent)
                    else:
                        docs.append([sent])
                    sent = []
                continue
            tok = ln.split()
            if len(tok) < 2:
                raise ImportSourceError(f"{f}:{n}", "", f"expected 'token ... TAG', got {ln.strip()!r}")
            sent.append((tok[0], tok[-1], n))
            dropped += any(c not in _PLACEHOLDERS for c in tok[1:-1])
        if doc:
            docs.append(doc)
        for d, document in enumerate(docs, 1):
            self._doc(f, split, d, document, ctx)
        return dropped

    @staticmethod
    def _doc(f: Path, split: str, d: int, document: list[list[tuple[str, str, int]]], ctx: ImportContext) -> None:
        text_parts: list[str] = []
        regions: list[dict[str, Any]] = []
        pos = 0
        where = f"{f.name}:{document[0][0][2]}"
        for s, sent in enumerate(document):
            if s:
                text_parts.append("\n")
                pos += 1
            cur: dict[str, Any] | None = None
            for t, (token, tag, n) in enumerate(sent):
                if t:
                    text_parts.append(" ")
                    pos += 1
                start, pos = pos, pos + len(token)
                text_parts.append(token)
                if tag == "O":
                    cur = None
                    continue
                if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
                    ctx.problem(f"{f.name}:{n}", "tag", f"not an IOB tag: {tag!r}")
                    return
                kind, label = tag[0], tag[2:]
                if kind in "IE" and cur is not None and cur["label"] == label:
                    cur["end"] = pos
                else:
                    cur = {"id": f"r{len(regions) + 1}", "type": "span", "label": label, "start": start, "end": pos}
                    regions.append(cur)
                    if label not in ctx.classes:
                        ctx.add_classes([label])
                if kind in "ES":
                    cur = None
        ann: dict[str, Any] = {"split": split, "media": {"kind": "text"}}
        if regions:
            ann["regions"] = regions
        ctx.add(ImportItem(f"{split}/{f.stem}_{d:05d}.txt", ann, where, data="".join(text_parts).encode("utf-8")))


register(Conll2003Importer())
