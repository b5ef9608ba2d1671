"""``Dataset.export_selection`` / ``export_annotation``: what the facade delegates to, over the
version (``core.version.Version``) it wraps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.ops import query
from ..core.version import Version
from ..export.filters import normalize_filters, selector
from ..export.source import version_view
from .deliver import export_annotation, export_selection
from .deliveries import Delivery
from .errors import ExportMethodError, SelectionError


def filtered_ids(v: Version, filters: Mapping[str, Any]) -> list[str]:
    """Dataset paths of ``v`` selected by annotation filters (DESIGN-annotations 1.7)."""
    pick = selector(normalize_filters(filters))
    ids = [item.path for item in version_view(v).items() if pick(item) is not None]
    if not ids:
        raise SelectionError(f"the filters {dict(filters)} select nothing in version {v.id}")
    return ids


def select(v: Version, selection_name: str, sample_ids: Sequence[str] | str | None, export_method: str,
           annotation: Any = None, filters: Mapping[str, Any] | None = None) -> Delivery:
    """Send a selection of the final version ``v`` (ids, or filters) through ``export_method``."""
    v.require_final("export_selection()")
    if not export_method:
        raise ExportMethodError("export_selection() needs an export_method")
    if filters is not None and sample_ids is not None:
        raise SelectionError("give sample_ids or filters, not both")
    if filters is not None:
        sample_ids = filtered_ids(v, filters)
    paths: list[frozenset[str]] = []

    def known() -> frozenset[str]:
        if not paths:
            paths.append(frozenset(query.list_files(v, None, True, None)))
        return paths[0]

    return export_selection(v.store, v.record, selection_name, sample_ids if sample_ids is not None else [],
                            export_method, known=known, annotation=annotation)


def annotate(v: Version, annotation_name: str, annotation: Any, export_method: str) -> Delivery:
    """Send one free-form annotation of the final version ``v``."""
    v.require_final("export_annotation()")
    return export_annotation(v.store, v.record, annotation_name, annotation, export_method)
