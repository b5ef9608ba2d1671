"""The dataset-level class list: ordered, append-only along the DAG, ids are indices.

A class is ``{"name": str, "coco_id": int | None}``; ``coco_id`` keeps the id the COCO
source gave it (ids may have gaps), so COCO exports reuse it and a round trip keeps the ids.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from .errors import ClassListError

_COLOR_CHARS = set("0123456789abcdef")


def default_color(name: str) -> str:
    """A deterministic ``#rrggbb`` for a label: the hue comes from a hash of the name, so a
    label keeps its color whatever the order or the other classes."""
    h = xxhash.xxh64_intdigest(name.encode())
    hue = (h % 360) / 360.0
    sat = 0.55 + ((h >> 16) % 30) / 100.0
    val = 0.70 + ((h >> 32) % 25) / 100.0
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def check_color(label: str, color: Any) -> str:
    c = color.lower() if isinstance(color, str) else ""
    if len(c) != 7 or c[0] != "#" or not set(c[1:]) <= _COLOR_CHARS:
        raise ClassListError("colors", label, f"color must be '#rrggbb', not {color!r}")
    return c


@dataclass(frozen=True)
class ClassList:
    """An ordered class list with optional source ids and colors."""

    names: tuple[str, ...] = ()
    coco_ids: Mapping[str, int] = field(default_factory=dict)
    colors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            dup = next(n for i, n in enumerate(self.names) if n in self.names[:i])
            raise ClassListError("classes", dup, "duplicate class name")
        for n in self.names:
            if not isinstance(n, str) or not n:
                raise ClassListError("classes", repr(n), "a class name must be a non-empty string")
        seen: dict[int, str] = {}
        for n, cid in self.coco_ids.items():
            if n not in self.names:
                raise ClassListError("classes", n, "coco_id given for a class not in the list")
            if not isinstance(cid, int) or isinstance(cid, bool) or cid < 1:
                raise ClassListError("classes", n, f"coco_id must be an integer >= 1, not {cid!r}")
            if cid in seen:
                raise ClassListError("classes", n, f"coco_id {cid} is already used by {seen[cid]!r}")
            seen[cid] = n

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def color(self, name: str) -> str:
        return self.colors.get(name) or default_color(name)

    def all_colors(self) -> dict[str, str]:
        """``{label: '#rrggbb'}`` for every class, generated where not set."""
        return {n: self.color(n) for n in self.names}

    def extend(self, names: Iterable[str], colors: Mapping[str, str] | None = None, coco_ids: Mapping[str, int] | None = None) -> ClassList:
        """This list with ``names`` appended where new (existing ids never change)."""
        new = list(self.names)
        for n in names:
            if n not in new:
                new.append(n)
        cols = dict(self.colors)
        for k, v in (colors or {}).items():
            if k not in new:
                raise ClassListError("colors", k, "color given for a class not in the list")
            cols[k] = check_color(k, v)
        ids = dict(self.coco_ids)
        for k, cid in (coco_ids or {}).items():
            if ids.get(k, cid) != cid:
                raise ClassListError("classes", k, f"already has coco_id {ids[k]}, cannot become {cid}")
            ids[k] = cid
        return ClassList(tuple(new), ids, cols)

    def to_dict(self) -> dict[str, Any]:
        classes = [{"name": n, **({"coco_id": self.coco_ids[n]} if n in self.coco_ids else {})} for n in self.names]
        return {"classes": classes, "colors": {k: self.colors[k] for k in sorted(self.colors)}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ClassList:
        if not d:
            return cls()
        names, ids = [], {}
        for c in d.get("classes", ()):
            names.append(c["name"])
            if c.get("coco_id") is not None:
                ids[c["name"]] = c["coco_id"]
        return cls(tuple(names), ids, dict(d.get("colors", {})))


def merge_class_lists(parents: Sequence[ClassList], explicit: Sequence[str] | None = None) -> ClassList:
    """The class list a child inherits from its parents (in order).

    Parents agree when, on every id they share, they name the same class (one list is a
    prefix of the other): the longer wins. Otherwise ClassListError, unless ``explicit``
    gives the child's list; it must contain every parent's class (ids then follow it).
    """
    colors: dict[str, str] = {}
    ids: dict[str, int] = {}
    for p in parents:
        colors.update(p.colors)
        for n, cid in p.coco_ids.items():
            if ids.setdefault(n, cid) != cid:
                raise ClassListError("classes", n, f"parents disagree on its coco_id ({ids[n]} vs {cid})")
    if explicit is not None:
        names = tuple(explicit)
        for p in parents:
            missing = [n for n in p.names if n not in names]
            if missing:
                raise ClassListError("classes", missing[0], "is in a parent's class list but not in classes=[...] (class lists are append-only)")
        return ClassList(names, ids, {k: v for k, v in colors.items() if k in names})
    best: tuple[str, ...] = ()
    for p in parents:
        short, long_ = sorted((best, p.names), key=len)
        if long_[: len(short)] != short:
            i = next(i for i, (a, b) in enumerate(zip(short, long_)) if a != b)
            raise ClassListError(
                "classes", f"id {i}", f"parents disagree ({short[i]!r} vs {long_[i]!r}); pass classes=[...] to Dataset.create to choose the child's list"
            )
        best = long_
    return ClassList(best, ids, colors)
