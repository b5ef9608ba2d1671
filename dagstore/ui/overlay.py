"""Annotation regions of an image as SVG shapes in the class colours (drawn over the image
in a viewBox of the image's own pixel size): boxes (rotated too), polygons, keypoints."""

from __future__ import annotations

import re
from typing import Any

DEFAULT_COLOR = "#ff00ff"
COLOR = re.compile(r"^#[0-9a-fA-F]{3,8}$")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shape(r: dict[str, Any], color: str) -> dict[str, Any] | None:
    t = r.get("type")
    label = str(r.get("label") or "")
    if t == "box" and isinstance(r.get("xywh"), list) and len(r["xywh"]) == 4 and all(map(_num, r["xywh"])):
        x, y, w, h = r["xywh"]
        rot = r.get("rotation") if _num(r.get("rotation")) else 0
        return {"type": "box", "x": x, "y": y, "w": w, "h": h, "rotation": rot, "color": color, "label": label}
    pts = r.get("points")
    if t in ("polygon", "keypoints") and isinstance(pts, list):
        good = [p for p in pts if isinstance(p, list) and len(p) >= 2 and _num(p[0]) and _num(p[1])]
        if t == "keypoints":
            good = [p for p in good if len(p) < 3 or p[2] != 0]  # v = 0: not labelled
            return {"type": "keypoints", "points": [[p[0], p[1]] for p in good], "color": color, "label": label}
        return {"type": "polygon", "points": " ".join(f"{p[0]},{p[1]}" for p in good), "color": color, "label": label}
    return None


def color_of(colors: dict[str, str], label: Any) -> str:
    """The class colour, if it is a plain #rrggbb value (it lands in an SVG attribute)."""
    c = colors.get(str(label), DEFAULT_COLOR)
    return c if isinstance(c, str) and COLOR.match(c) else DEFAULT_COLOR


def overlay(ann: dict[str, Any], colors: dict[str, str]) -> dict[str, Any] | None:
    """``{"w", "h", "shapes"}``, or None when the image has no size or no drawable region."""
    media = ann.get("media")
    w: Any = media.get("width") if isinstance(media, dict) else 0
    h: Any = media.get("height") if isinstance(media, dict) else 0
    if not (_num(w) and _num(h) and w > 0 and h > 0):
        return None
    shapes = [s for r in ann.get("regions") or [] if isinstance(r, dict)
              if (s := _shape(r, color_of(colors, r.get("label")))) is not None]
    return {"w": w, "h": h, "shapes": shapes} if shapes else None
