"""``ExportReport`` and its ``export.json``: deterministic (no time, no target path)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

REPORT_NAME = "export.json"
REPORT_SCHEMA = "dagstore.export/1"


@dataclass
class ExportReport:
    """What an export wrote: ``path`` (where), ``counts`` (items per split), ``skipped``
    (``[{"path", "region"?, "reason"}]``: everything the format could not express)."""

    path: str
    format: str
    version_id: str
    counts: dict[str, int]
    skipped: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, Any] = field(default_factory=dict)
    class_map: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    dagstore_version: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """The content of ``export.json``."""
        return {
            "schema": REPORT_SCHEMA,
            "dagstore_version": self.dagstore_version,
            "version_id": self.version_id,
            "format": self.format,
            "options": self.options,
            "filters": self.filters,
            "classes": self.class_map,
            "counts": dict(sorted(self.counts.items())),
            "skipped": self.skipped,
            **({"info": self.info} if self.info else {}),
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
