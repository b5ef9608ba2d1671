"""From a version to what format writers see: a ``LocalView`` over its cached local copy."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from ..annotations import ClassList
from ..annotations.ops import iter_annotations
from ..core.fanout import StoreRef
from ..core.ops import checkout, lookup
from ..core.version import Version
from ..errors import DraftError
from .report import ExportReport
from .run import export_view
from .parallel import PartViews
from .view import Item, LocalView, class_infos


def version_view(v: Version) -> LocalView:
    """The view of a final version: annotations streamed in path order, media from the local
    cache (materialized only when a format writer first reads or links a file)."""
    if not v.is_final():
        raise DraftError(f"export needs a finalized version; dataset {v.id} is still a draft (finalize/close it first)")
    entries = v.current().contents()
    return LocalView(
        v.id,
        lambda: checkout.local_copy(v, None, None, None, None, None, False),
        lambda: iter_annotations(v, include_unannotated=True),
        class_infos(ClassList.from_dict(v.record.annotations)),
        name=v.name,
        project=v.project,
        entries=entries,
    )


def slice_view(store: Any, version_id: str, select: Callable[[Item], Item | None], start: int, end: int) -> LocalView:
    """The view an export worker uses: every item (names and ids agree across parts), and
    only the content of selected items ``[start, end)`` fetched into its cache."""
    v = lookup.get(store, version_id)
    view = version_view(v)
    selected = (it.path for it in view.items() if select(it) is not None)
    paths = list(itertools.islice(selected, start, end))
    view.root = lambda: checkout.subset_copy(v, paths)
    return view


def export_version(v: Version, export_format: str | None, target: Any, splits: Any = None, filters: Any = None,
                   include_media: bool = True, overwrite: bool = False, storage_options: dict[str, Any] | None = None,
                   progress: Any = None, executor: Executor | None = None, **options: Any) -> ExportReport:
    """``Dataset.export``: the final version ``v`` in ``export_format`` to ``target`` (with
    ``executor``, slices of it written by that executor's workers)."""
    views = PartViews(StoreRef(v.store.url, v.store.storage_options), slice_view) if executor is not None else None
    return export_view(version_view(v), export_format, target, splits, filters, include_media, overwrite,
                       storage_options, progress, executor=executor, part_views=views, **options)
