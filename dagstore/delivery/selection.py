"""``Dataset.export_selection`` / ``export_annotation``: what the facade delegates to. The
dataset is passed in (duck-typed), so this package never imports ``api.dataset``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .deliver import export_annotation, export_selection
from .deliveries import Delivery
from .errors import ExportMethodError, SelectionError


def _require_final(ds: Any, what: str) -> None:
    if not ds.is_final():
        from ..errors import DraftError

        raise DraftError(f"{what} needs a finalized version; dataset {ds.id} is still a draft (finalize/close it first)")


def filtered_ids(ds: Any, filters: Mapping[str, Any]) -> list[str]:
    """Dataset paths of ``ds`` selected by annotation filters (DESIGN-annotations 1.7)."""
    try:
        from ..export.filters import normalize_filters, selector
        from ..export.source import dataset_view
    except ImportError:
        raise ExportMethodError("selecting by filters needs the export package (dagstore.export)") from None
    pick = selector(normalize_filters(filters))
    ids = [item.path for item in dataset_view(ds).items() if pick(item) is not None]
    if not ids:
        raise SelectionError(f"the filters {dict(filters)} select nothing in version {ds.id}")
    return ids


def select(ds: Any, selection_name: str, sample_ids: Sequence[str] | str | None, export_method: str,
           annotation: Any = None, filters: Mapping[str, Any] | None = None) -> Delivery:
    """Send a selection of the final version ``ds`` (ids, or filters) through ``export_method``."""
    _require_final(ds, "export_selection()")
    if not export_method:
        raise ExportMethodError("export_selection() needs an export_method")
    if filters is not None and sample_ids is not None:
        raise SelectionError("give sample_ids or filters, not both")
    if filters is not None:
        sample_ids = filtered_ids(ds, filters)
    paths: list[frozenset[str]] = []

    def known() -> frozenset[str]:
        if not paths:
            paths.append(frozenset(ds.list_files()))
        return paths[0]

    return export_selection(ds.store, ds.record, selection_name, sample_ids if sample_ids is not None else [],
                            export_method, known=known, annotation=annotation)


def annotate(ds: Any, annotation_name: str, annotation: Any, export_method: str) -> Delivery:
    """Send one free-form annotation of the final version ``ds``."""
    _require_final(ds, "export_annotation()")
    return export_annotation(ds.store, ds.record, annotation_name, annotation, export_method)
