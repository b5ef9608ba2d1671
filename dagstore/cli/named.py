"""A version named on the command line by project and name (and version)."""

from __future__ import annotations

import difflib

from ..api.dataset import Dataset
from ..api.store import Store
from ..errors import DatasetNotFoundError, DraftError


def named(st: Store, project: str | None, name: str | None, version: str | None, completed: bool) -> Dataset:
    """The highest final version of project/name, or exactly ``version`` (drafts too unless
    ``completed``). A read that finds only a draft says so, with the command that closes it;
    a name that matches nothing gets the nearest dataset names as a hint."""
    try:
        return Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version, only_completed=completed, store=st)
    except DatasetNotFoundError as missing:
        try:
            d = Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version, store=st) if completed else None
        except DatasetNotFoundError:
            d = None
        if d is None:
            raise DatasetNotFoundError(f"{missing}{_nearest(st, project, name)}") from None
        raise DraftError(f"{d.project}/{d.name} {d.version} is a draft (id {d.id}), not a final version yet; "
                         f"close it first (`dagstore close --id {d.id[:12]}`)") from None


def _nearest(st: Store, project: str | None, name: str | None) -> str:
    """`` (did you mean P/N?)`` naming up to three datasets whose name (and project, when
    given) are each close to the one asked for, else ''."""
    if not name:
        return ""
    def like(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()
    known = {(r["project"], r["name"]) for r in Dataset.list_datasets(only_completed=False, store=st)}
    scored = sorted((-like(name, n) - (like(project, p) if project else 0), f"{p}/{n}") for p, n in known
                    if (p, n) != (project, name) and like(name, n) >= 0.6 and (not project or like(project, p) >= 0.6))
    return f" (did you mean {', '.join(k for _, k in scored[:3])}?)" if scored else ""
