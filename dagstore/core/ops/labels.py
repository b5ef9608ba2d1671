"""What can change about a version besides content: metadata and version (drafts),
description and tags (any: on a final version they are labels, outside its content)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..records import check_version
from ...errors import InvalidPathError
from ..version import Version, as_list


def set_metadata(v: Version, metadata: Any, metadata_name: str) -> None:
    """Attach JSON-serializable metadata (or a pandas DataFrame) to a draft."""
    v.require_draft()
    if hasattr(metadata, "to_dict") and hasattr(metadata, "columns"):
        value: Any = {"__dataframe__": json.loads(metadata.to_json(orient="split"))}
    else:
        value = metadata
    try:
        json.dumps(value)
    except TypeError as exc:
        raise InvalidPathError(f"metadata must be JSON-serializable or a pandas DataFrame: {exc}") from None
    v.record = replace(v.record, metadata={**v.record.metadata, metadata_name: value})
    v.save()


def get_metadata(v: Version, metadata_name: str) -> Any:
    """The metadata stored under ``metadata_name`` (a DataFrame comes back as one)."""
    value = v.record.metadata.get(metadata_name)
    if isinstance(value, dict) and "__dataframe__" in value:
        import pandas as pd

        df = value["__dataframe__"]
        return pd.DataFrame(df["data"], index=df["index"], columns=df["columns"])
    return value


def set_description(v: Version, description: str) -> None:
    """Change the description of a draft, or (as a label) of a final version."""
    if v.draft is not None:
        v.record = replace(v.record, description=description)
        v.save()
    else:
        v.record = v.store.update_labels(v.id, lambda cur: {**cur, "description": description})


def set_version(v: Version, version: str) -> None:
    """Set the version number of a draft (claimed at finalize, refused there if taken)."""
    v.require_draft()
    v.record = replace(v.record, version=check_version(str(version).strip()), version_explicit=True)
    v.save()


def set_tags(v: Version, tags: str | Sequence[str] | None) -> None:
    """Replace the tags (None: no tags, as in ClearML)."""
    new = list(dict.fromkeys(as_list(tags)))
    if v.draft is not None:
        v.record = replace(v.record, tags=tuple(new))
        v.save()
    else:
        v.record = v.store.update_labels(v.id, lambda cur: {**cur, "tags": new})


def add_tags(v: Version, tags: str | Sequence[str]) -> None:
    """Add tags; on a final version applied to the store's latest tags, not a stale copy."""
    add = as_list(tags)
    if v.draft is not None:
        v.record = replace(v.record, tags=tuple(dict.fromkeys([*v.record.tags, *add])))
        v.save()
    else:
        v.record = v.store.update_labels(v.id, lambda cur: {**cur, "tags": list(dict.fromkeys([*cur["tags"], *add]))})


def remove_tags(v: Version, tags: str | Sequence[str]) -> None:
    """Remove tags (same rules as ``add_tags``)."""
    drop = set(as_list(tags))
    if v.draft is not None:
        v.record = replace(v.record, tags=tuple(t for t in v.record.tags if t not in drop))
        v.save()
    else:
        v.record = v.store.update_labels(v.id, lambda cur: {**cur, "tags": [t for t in cur["tags"] if t not in drop]})
