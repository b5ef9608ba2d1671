"""Selections of a version's items (``filters`` of exports and snapshots, DESIGN-annotations 1.7)."""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..spec_string import SpecStringError, key_value
from .errors import ExportError
from .view import Item

_LISTS = ("splits", "labels", "wildcard")
_TASKS = ("all", "annotated", "reviewed")
_KINDS = ("annotations", "ground_truth", "skipped")
_DETAIL = ("full", "ids", "none")
_USER_KEYS = ("annotator", "completed_by", "updated_by", "reviewer")
DEFAULTS: dict[str, Any] = {"tasks": "all", "annotations": ["annotations"], "predictions": "full", "drafts": "full", "remove_user_details": False}


def _as_list(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return sorted({str(v) for v in value})
    raise ExportError(f"filter {key!r} takes a list of strings, not {type(value).__name__}")


def parse_filters(items: Sequence[str], splits: Sequence[str] = ()) -> dict[str, Any]:
    """Filters from ``KEY=VALUE`` strings (the CLI's ``--filter``), read the same way by every
    verb: a comma separates several values of a list filter (``labels=cat,dog`` is two labels,
    and repeating the key adds more); ``tasks``, ``predictions`` and ``drafts`` take one value;
    ``remove_user_details`` is true when empty or ``1``/``true``/``yes``."""
    out: dict[str, Any] = {}
    for item in items:
        try:
            key, value = key_value(item)
        except SpecStringError:
            raise ExportError(f"a filter is KEY=VALUE (e.g. labels=cat,dog or tasks=annotated), not {item!r}") from None
        if key in _LISTS or key == "annotations":
            out.setdefault(key, []).extend(v.strip() for v in value.split(",") if v.strip())
        elif key == "remove_user_details":
            out[key] = value.lower() in ("1", "true", "yes", "")
        elif key in out and out[key] != value:
            raise ExportError(f"filter {key!r} takes one value, not {out[key]!r} and {value!r}")
        else:
            out[key] = value
    if splits:
        out["splits"] = [*out.get("splits", []), *splits]
    return out


def normalize_filters(filters: Mapping[str, Any] | None, splits: Sequence[str] | str | None = None) -> dict[str, Any]:
    """The canonical form of ``filters`` (plus ``splits``): known keys only, sorted lists,
    defaults filled in; the same selection always gives the same dict."""
    f = dict(filters or {})
    unknown = sorted(set(f) - set(_LISTS) - set(DEFAULTS))
    if unknown:
        raise ExportError(f"unknown filter {unknown[0]!r}; filters are: {', '.join(_LISTS + tuple(DEFAULTS))}")
    out: dict[str, Any] = {}
    for key in _LISTS:
        vals = _as_list(key, f.get(key))
        if key == "splits":
            vals = sorted(set(vals) | set(_as_list("splits", splits)))
        if vals:
            out[key] = vals
    tasks = f.get("tasks", "all")
    if tasks not in _TASKS:
        raise ExportError(f"filter 'tasks' is one of {', '.join(_TASKS)}, not {tasks!r}")
    out["tasks"] = tasks
    kinds = _as_list("annotations", f.get("annotations", ["annotations"]))
    bad = [k for k in kinds if k not in _KINDS]
    if bad or not kinds:
        raise ExportError(f"filter 'annotations' is a non-empty subset of {', '.join(_KINDS)}, not {f.get('annotations')!r}")
    out["annotations"] = kinds
    for key in ("predictions", "drafts"):
        v = f.get(key, "full")
        if v not in _DETAIL:
            raise ExportError(f"filter {key!r} is one of {', '.join(_DETAIL)}, not {v!r}")
        out[key] = v
    out["remove_user_details"] = bool(f.get("remove_user_details", False))
    return out


def _matches_wildcard(path: str, patterns: Sequence[str]) -> bool:
    base = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path, p) or ("/" not in p and fnmatch.fnmatchcase(base, p)) for p in patterns)


def _is_annotated(ann: Mapping[str, Any] | None) -> bool:
    if not ann:
        return False
    return bool(ann.get("labels") or ann.get("regions") or ann.get("transcription") is not None or ann.get("fields"))


def _strip_users(ann: dict[str, Any]) -> None:
    src = ann.get("source")
    if isinstance(src, dict):
        for k in _USER_KEYS:
            src.pop(k, None)
    for alt in ann.get("alternatives") or []:
        if isinstance(alt, dict):
            _strip_users(alt)


def _reduce(alts: list[dict[str, Any]], f: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for alt in alts:
        kind = alt.get("kind", "annotation")
        if kind in ("prediction", "draft"):
            detail = f["predictions" if kind == "prediction" else "drafts"]
            if detail == "none":
                continue
            if detail == "ids":
                alt = {"kind": kind, "source": {k: v for k, v in (alt.get("source") or {}).items() if k in ("annotation_id", "prediction_id", "task_id")}}
        elif alt.get("cancelled") and "skipped" not in f["annotations"]:
            continue
        elif not alt.get("cancelled") and "annotations" not in f["annotations"] and not (alt.get("source") or {}).get("ground_truth"):
            continue
        out.append(alt)
    return out


def selector(filters: Mapping[str, Any], default_split: str = "train") -> Callable[[Item], Item | None]:
    """A function giving the item as the selection exports it (annotation reduced by the
    filters), or None when the item is not selected. ``filters`` must be normalized."""
    f = dict(filters)
    splits = set(f.get("splits") or ())
    labels = set(f.get("labels") or ())
    wildcard = list(f.get("wildcard") or ())
    plain = f["annotations"] == ["annotations"] and f["predictions"] == "full" and f["drafts"] == "full" and not f["remove_user_details"]

    def select(item: Item) -> Item | None:
        ann = item.annotation
        if splits and str((ann or {}).get("split") or default_split) not in splits:
            return None
        if wildcard and not _matches_wildcard(item.path, wildcard):
            return None
        if ann is None or (plain and not ann.get("alternatives") and not ann.get("cancelled")):
            out = ann
        else:
            out = copy.deepcopy(ann)
            src = out.get("source") or {}
            top_ok = ("annotations" in f["annotations"] and not out.get("cancelled")) or (
                "ground_truth" in f["annotations"] and src.get("ground_truth")) or ("skipped" in f["annotations"] and out.get("cancelled"))
            if not top_ok:
                for k in ("labels", "regions", "transcription", "source"):
                    out.pop(k, None)
            if out.get("alternatives"):
                out["alternatives"] = _reduce(list(out["alternatives"]), f)
            if f["remove_user_details"]:
                _strip_users(out)
        if labels:
            have = set((out or {}).get("labels") or ()) | {r.get("label") for r in (out or {}).get("regions") or ()}
            if not have & labels:
                return None
        if f["tasks"] == "annotated" and not _is_annotated(out):
            return None
        if f["tasks"] == "reviewed" and not ((out or {}).get("source") or {}).get("reviewed"):
            return None
        return item if out is ann else Item(item.path, out, item.hash, item.size)

    return select
