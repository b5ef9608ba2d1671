"""A version named on the command line by project and name (and version)."""

from __future__ import annotations

from ..api.dataset import Dataset
from ..api.store import Store
from ..errors import DatasetNotFoundError, DraftError


def named(st: Store, project: str | None, name: str | None, version: str | None, completed: bool) -> Dataset:
    """The highest final version of project/name, or exactly ``version`` (drafts too unless
    ``completed``). A read that finds only a draft says so, with the command that closes it."""
    try:
        return Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version, only_completed=completed, store=st)
    except DatasetNotFoundError:
        if not completed:
            raise
        d = Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version, store=st)
        raise DraftError(f"{d.project}/{d.name} {d.version} is a draft (id {d.id}), not a final version yet; "
                         f"close it first (`dagstore close --id {d.id[:12]}`)") from None
