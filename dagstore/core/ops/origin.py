"""Origins: where a version came from (``upload``, ``datasource``, ``pipeline``, ``import``,
``zip``). Set by ``Dataset.create(origin=...)`` or marked by the operation that fills a draft;
finalize records ``upload`` when nothing else did."""

from __future__ import annotations

from dataclasses import replace

from ..records import check_origin
from .lookup import origin_of
from ..version import Version


def mark(v: Version, origin: str, save: bool = True) -> None:
    """Record ``origin`` on a draft unless it already has one (an explicit origin wins);
    ``save=False`` leaves writing the draft to the caller."""
    v.require_draft()
    if v.record.origin is None:
        v.record = replace(v.record, origin=check_origin(origin))
        if save:
            v.save()


def of(v: Version) -> str:
    return origin_of(v.record)
