"""From a version to what format writers see: a ``LocalView`` over its cached local copy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any, BinaryIO

from ..annotations import ClassList
from ..annotations.ops import iter_annotations, stored_annotation
from ..core.fanout import StoreRef
from ..core.ops import checkout, lookup
from ..core.version import Version
from ..errors import DraftError
from ..fs import DagstoreFileSystem
from .report import ExportReport
from .run import export_view
from .parallel import PartViews
from .view import Item, LocalView, class_infos


def version_view(v: Version) -> LocalView:
    """The view of a final version: items streamed from its columns in path order, media from
    the local cache (materialized only when a format writer first reads or links a file)."""
    if not v.is_final():
        raise DraftError(f"export needs a finalized version; dataset {v.id} is still a draft (finalize/close it first)")
    return LocalView(
        v.id,
        lambda: checkout.local_copy(v, None, None, None, None, None, False),
        lambda: iter_annotations(v, include_unannotated=True),
        class_infos(ClassList.from_dict(v.record.annotations)),
        name=v.name,
        project=v.project,
        state=v.current(),
        subset=lambda paths: checkout.subset_copy(v, paths),
        reader=_reader(v),
    )


def _reader(v: Version) -> Callable[[str], BinaryIO]:
    """Files of ``v`` read in place, 64 KiB a read (image headers of the images without a size)."""
    fs: list[DagstoreFileSystem] = []

    def open_(path: str) -> BinaryIO:
        if not fs:
            fs.append(DagstoreFileSystem(store=v.store))
        f: BinaryIO = fs[0].open(f"{v.id}/{path}", "rb", block_size=1 << 16)
        return f

    return open_


_opened: dict[tuple[str, str], tuple[Version, LocalView, dict[str, Any]]] = {}


def slice_view(store: Any, version_id: str, paths: Sequence[str]) -> tuple[LocalView, Callable[[], Iterator[Item]]]:
    """What an export worker uses: the view of every item (for formats' first passes), whose
    content is only that of ``paths`` fetched into its cache, and the items at ``paths``
    (their annotations only). The version, its view and its blobs' locations are kept for the
    worker's next tasks."""
    key = (store.url, version_id)
    if key not in _opened:
        v = lookup.get(store, version_id)
        if len(_opened) >= 4:
            _opened.pop(next(iter(_opened)))
        _opened[key] = (v, version_view(v), {})
    v, whole, locations = _opened[key]
    view = dataclasses.replace(whole, root=lambda: checkout.subset_copy(v, paths, locations=locations))

    def items() -> Iterator[Item]:
        for path, e in v.current().pick(paths).items():
            yield Item(path, stored_annotation(v, path, e) if e.annotation is not None else {}, e.hash, e.size)

    return view, items


def export_version(v: Version, export_format: str | None, target: Any, splits: Any = None, filters: Any = None,
                   include_media: bool = True, overwrite: bool = False, storage_options: dict[str, Any] | None = None,
                   progress: Any = None, executor: Executor | None = None, **options: Any) -> ExportReport:
    """``Dataset.export``: the final version ``v`` in ``export_format`` to ``target`` (with
    ``executor``, slices of it written by that executor's workers)."""
    views = PartViews(StoreRef(v.store.url, v.store.storage_options), slice_view) if executor is not None else None
    return export_view(version_view(v), export_format, target, splits, filters, include_media, overwrite,
                       storage_options, progress, executor=executor, part_views=views, **options)
