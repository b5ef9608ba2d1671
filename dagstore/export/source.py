"""From a dataset version to what exporters see: a ``LocalView`` over its cached local copy."""

from __future__ import annotations

from typing import Any

from ..annotations import ClassList
from ..errors import DraftError
from .view import LocalView, class_infos

_facade: Any = None


def use_facade(dataset_class: Any) -> None:
    """Called once by ``dagstore.api.dataset``: the ``Dataset`` class this package opens
    versions with. The facade delegates exports here, so this package never imports it."""
    global _facade
    _facade = dataset_class


def open_dataset(store: Any, **query: Any) -> Any:
    """``Dataset.get(..., store=store)`` through the registered facade."""
    if _facade is None:  # only when dagstore.export is used without dagstore (never in practice)
        import importlib

        importlib.import_module("dagstore")
    return _facade.get(store=store, **query)


def dataset_view(ds: Any) -> LocalView:
    """The view of a final ``Dataset``: annotations streamed in path order, media from the
    local cache (materialized only when an exporter first reads or links a file)."""
    if not ds.is_final():
        raise DraftError(f"export needs a finalized version; dataset {ds.id} is still a draft (finalize/close it first)")
    entries = {p: (e.hash, e.size) for p, e in ds.file_entries_dict.items()}
    entries.update({p: (e.hash, e.size) for p, e in ds.link_entries_dict.items()})
    return LocalView(
        ds.id,
        lambda: ds.get_local_copy(show_progress=False),
        lambda: ds.iter_annotations(include_unannotated=True),
        class_infos(ClassList.from_dict(ds.record.annotations)),
        name=ds.name,
        project=ds.project,
        entries=entries,
    )


def export_dataset(ds: Any, export_format: str | None, target: Any, splits: Any = None, filters: Any = None,
                   include_media: bool = True, overwrite: bool = False, storage_options: dict[str, Any] | None = None,
                   progress: Any = None, **options: Any) -> Any:
    """``Dataset.export``: the final version ``ds`` in ``export_format`` to ``target``."""
    from .run import export_view

    return export_view(dataset_view(ds), export_format, target, splits, filters, include_media, overwrite,
                       storage_options, progress, **options)
