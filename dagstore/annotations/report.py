"""The result summary of an import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ImportReport:
    """``counts``: items imported per split (``""`` for items without one); ``skipped``:
    ``[{"path", "reason"}]`` for every item left out (``on_error="skip"``); ``guessed``: what
    the importer inferred from the source's layout (for example the split level of class folders);
    ``ignored``: ``[{"path", "reason"}]`` for what the source holds that the format does not
    import (a file beside split folders, CoNLL's POS and chunk columns), whatever ``on_error``."""

    format: str
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    classes_added: list[str] = field(default_factory=list)
    files_added: int = 0
    guessed: dict[str, Any] = field(default_factory=dict)
    ignored: list[dict[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format": self.format,
            "counts": dict(sorted(self.counts.items())),
            "skipped": list(self.skipped),
            "classes_added": list(self.classes_added),
            "files_added": self.files_added,
        }
        if self.guessed:
            out["guessed"] = dict(self.guessed)
        if self.ignored:
            out["ignored"] = list(self.ignored)
        return out
