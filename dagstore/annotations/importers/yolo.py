"""YOLO: darknet (``obj.data`` / ``*.names`` / ``<split>.txt``, a label file beside each image)
and Ultralytics (``data.yaml`` + ``images/<split>/`` + ``labels/<split>/``).

Lines are ``cls cx cy w h`` (normalized), ``cls x1 y1 … xn yn`` (segments -> polygon), OBB
corner lines with ``obb=True`` (-> rotated box) and pose lines when ``data.yaml`` has
``kpt_shape``. Class order is the line order of the names. Dataset paths are image paths
relative to the source folder, without a leading ``images/``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ..errors import ImportSourceError
from ..media import IMAGE_SUFFIXES
from . import register
from ._base import ImportContext, ImportItem, load_yaml, px, rel_posix

_SPLIT_FILES = {"train": "train", "valid": "valid", "val": "val", "test": "test"}


def _read_names(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _kv_file(path: Path) -> dict[str, str]:
    out = {}
    for ln in path.read_text(encoding="utf-8").splitlines():
        if "=" in ln:
            k, v = ln.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


def _images_by_split(root: Path) -> list[tuple[str | None, list[Path]]]:
    """Every image under ``root``, by split (``images/<split>/...``; None elsewhere), when no list names them."""
    by_split: dict[str | None, list[Path]] = {}
    for p in sorted(p for p in root.rglob("*") if _is_image(p)):
        rel = p.relative_to(root).parts
        split = rel[1] if len(rel) > 2 and rel[0] == "images" else None
        by_split.setdefault(split, []).append(p)
    return sorted(by_split.items(), key=lambda kv: kv[0] or "")


class _Run:
    """One YOLO import (holds the per-import state)."""

    def __init__(self, obb: bool):
        self.obb = obb

    def read(self, source: Path, ctx: ImportContext) -> None:
        root = source.parent if source.is_file() else source
        yaml_file = source if source.is_file() and source.suffix in (".yaml", ".yml") else next((root / n for n in ("data.yaml", "data.yml", "dataset.yaml") if (root / n).is_file()), None)
        self.kpt: tuple[int, int] | None = None
        if yaml_file is not None:
            names, splits = self._ultralytics(yaml_file, root)
        else:
            names, splits = self._darknet(root)
        ctx.add_classes(names)
        self.names = names
        labels_seen: set[Path] = set()
        for split, images in splits:
            for img in images:
                self._item(img, split, root, ctx, labels_seen)
        dirs = {root / "labels", *(p.parent for p in labels_seen if p.parent != root)}
        candidates = {lab for d in dirs if d.is_dir() for lab in d.rglob("*.txt")}
        for lab in sorted(candidates - labels_seen):
            if lab.name not in ("classes.txt", "README.txt") and lab.stem not in _SPLIT_FILES:
                ctx.problem(rel_posix(lab, root), "", "label file without its image")

    # -- layouts ------------------------------------------------------------------------------

    def _ultralytics(self, yaml_file: Path, root: Path) -> tuple[list[str], list[tuple[str | None, list[Path]]]]:
        doc = load_yaml(yaml_file)
        if not isinstance(doc, dict) or "names" not in doc:
            raise ImportSourceError(str(yaml_file), "names", "missing (not a YOLO data.yaml)")
        raw = doc["names"]
        if isinstance(raw, dict):
            try:
                names = [str(raw[k]) for k in sorted(raw, key=int)]
            except (TypeError, ValueError):
                raise ImportSourceError(str(yaml_file), "names", "keys must be class indices") from None
        elif isinstance(raw, list):
            names = [str(n) for n in raw]
        else:
            raise ImportSourceError(str(yaml_file), "names", "must be a list or a {index: name} mapping")
        if isinstance(doc.get("kpt_shape"), list):
            self.kpt = (int(doc["kpt_shape"][0]), int(doc["kpt_shape"][1]) if len(doc["kpt_shape"]) > 1 else 2)
        base = yaml_file.parent
        if isinstance(doc.get("path"), str) and not os.path.isabs(doc["path"]):
            base = base / doc["path"]
        splits: list[tuple[str | None, list[Path]]] = []
        for key in ("train", "val", "test"):
            val = doc.get(key)
            if not val:
                continue
            images: list[Path] = []
            for entry in val if isinstance(val, list) else [val]:
                images += self._list(base, str(entry), yaml_file)
            splits.append((key, images))
        return names, splits

    def _darknet(self, root: Path) -> tuple[list[str], list[tuple[str | None, list[Path]]]]:
        names_file, lists = self._obj_data(root)
        if names_file is None or not names_file.is_file():
            names_file = next((p for p in sorted(root.glob("*.names"))), None) or (root / "classes.txt" if (root / "classes.txt").is_file() else None)
        if names_file is None:
            raise ImportSourceError(str(root), "names", "no obj.names, *.names, classes.txt or data.yaml (not a YOLO folder)")
        if not lists:
            lists = [(_SPLIT_FILES[p.stem], p) for p in sorted(root.glob("*.txt")) if p.stem in _SPLIT_FILES]
        splits: list[tuple[str | None, list[Path]]] = []
        for split, lst in lists:
            if not lst.is_file():
                raise ImportSourceError(str(lst), "", "image list not found")
            splits.append((split, [self._darknet_path(root, ln.strip()) for ln in lst.read_text(encoding="utf-8").splitlines() if ln.strip()]))
        return _read_names(names_file), splits or _images_by_split(root)

    def _obj_data(self, root: Path) -> tuple[Path | None, list[tuple[str | None, Path]]]:
        """(names file, split image lists) named by darknet's ``obj.data``, if there is one."""
        names_file = None
        lists: list[tuple[str | None, Path]] = []
        obj_data = root / "obj.data"
        if obj_data.is_file():
            kv = _kv_file(obj_data)
            if "names" in kv:
                names_file = self._darknet_path(root, kv["names"])
            for key in ("train", "valid", "test"):
                if key in kv:
                    lists.append((key, self._darknet_path(root, kv[key])))
        return names_file, lists

    @staticmethod
    def _darknet_path(root: Path, entry: str) -> Path:
        """Darknet paths are relative to darknet's folder, where ``data/`` is the dataset."""
        e = entry.replace("\\", "/")
        if e.startswith("data/") and not (root / e).exists():
            e = e[5:]
        return root / e

    @staticmethod
    def _list(base: Path, entry: str, yaml_file: Path) -> list[Path]:
        p = base / entry
        if p.is_dir():
            return sorted(x for x in p.rglob("*") if _is_image(x))
        if p.is_file() and p.suffix == ".txt":
            return [(base / ln.strip()) if not ln.strip().startswith("./") else (base / ln.strip()[2:]) for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        raise ImportSourceError(str(yaml_file), entry, "split folder or list not found")

    # -- items --------------------------------------------------------------------------------

    def _label_for(self, img: Path) -> Path:
        parts = list(img.parts)
        if "images" in parts:
            i = len(parts) - 1 - parts[::-1].index("images")
            cand = Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
            if cand.exists():
                return cand
        return img.with_suffix(".txt")

    def _item(self, img: Path, split: str | None, root: Path, ctx: ImportContext, labels_seen: set[Path]) -> None:
        try:
            rel = img.relative_to(root).as_posix()
        except ValueError:
            rel = os.path.relpath(img, root)
        local = ctx.resolve_media(root, rel, rel, "image")
        if local is None:
            return
        lab = self._label_for(img)
        labels_seen.add(lab)
        path = rel[len("images/"):] if rel.startswith("images/") else rel
        media = ctx.media_info(local)
        if media is None or "width" not in media:
            ctx.problem(rel, "image", "not a readable image")
            return
        ann: dict[str, Any] = {"media": media}
        if split:
            ann["split"] = split
        regions: list[dict[str, Any]] = []
        if lab.is_file():
            W, H = media["width"], media["height"]
            for n, ln in enumerate(lab.read_text(encoding="utf-8").splitlines(), 1):
                if not ln.strip():
                    continue
                r = self._line(ln, W, H)
                if isinstance(r, str):
                    ctx.problem(f"{rel_posix(lab, root)}:{n}", "line", r)
                    return
                r["id"] = f"r{len(regions) + 1}"
                regions.append(r)
                if "_kp" in r:
                    kp = r.pop("_kp")
                    regions.append({"id": f"r{len(regions) + 1}", "type": "keypoints", "label": r["label"], "parent": r["id"], "points": kp})
        if regions:
            ann["regions"] = regions
        ctx.add(ImportItem(path, ann, rel, local=str(local)))

    def _line(self, ln: str, W: float, H: float) -> dict[str, Any] | str:
        tok = ln.split()
        try:
            cls, vals = int(tok[0]), [float(v) for v in tok[1:]]
        except ValueError:
            return f"not a YOLO label line: {ln.strip()!r}"
        if not 0 <= cls < len(self.names):
            return f"unknown class index {cls} (the names list has {len(self.names)} classes)"
        label = self.names[cls]
        if self.kpt is not None and len(vals) == 4 + self.kpt[0] * self.kpt[1]:
            cx, cy, w, h = vals[:4]
            step = self.kpt[1]
            kp = [[px(vals[j] * W), px(vals[j + 1] * H), int(vals[j + 2]) if step == 3 else 2] for j in range(4, len(vals), step)]
            return {"type": "box", "label": label, "xywh": [px((cx - w / 2) * W), px((cy - h / 2) * H), px(w * W), px(h * H)], "_kp": kp}
        if len(vals) == 4:
            cx, cy, w, h = vals
            return {"type": "box", "label": label, "xywh": [px((cx - w / 2) * W), px((cy - h / 2) * H), px(w * W), px(h * H)]}
        if len(vals) == 8 and self.obb:
            (x1, y1), (x2, y2), _, (x4, y4) = [(vals[j] * W, vals[j + 1] * H) for j in range(0, 8, 2)]
            rot = math.degrees(math.atan2(y2 - y1, x2 - x1)) % 360.0
            return {"type": "box", "label": label, "xywh": [px(x1), px(y1), px(math.hypot(x2 - x1, y2 - y1)), px(math.hypot(x4 - x1, y4 - y1))], "rotation": round(rot, 6)}
        if len(vals) >= 6 and len(vals) % 2 == 0:
            return {"type": "polygon", "label": label, "points": [[px(vals[j] * W), px(vals[j + 1] * H)] for j in range(0, len(vals), 2)]}
        return f"expected 'cls cx cy w h' or a polygon, got {len(vals)} numbers"


class YoloImporter:
    name = "yolo"
    options: tuple[str, ...] = ("obb",)

    def read(self, source: Path, ctx: ImportContext) -> None:
        _Run(bool(ctx.options.get("obb", False))).read(source, ctx)


register(YoloImporter())
