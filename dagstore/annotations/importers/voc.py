"""Pascal VOC: ``Annotations/<stem>.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

Boxes are 1-based inclusive integers in VOC; the inverse of the export rule gives pixels:
``x = xmin - 1``, ``w = xmax - x`` (same for y). Class order: ``labelmap.txt`` if present,
else first use.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast

from ..errors import ImportSourceError
from . import register
from ._base import ImportContext, ImportItem

_SPLIT_PRIORITY = ("train", "val", "valid", "test", "trainval")
_FLAGS = ("difficult", "truncated", "occluded")


def _num(el: ET.Element | None, tag: str) -> float | None:
    node = el.find(tag) if el is not None else None
    if node is None or node.text is None:
        return None
    return float(node.text.strip())


def _image(images: Path, name: str, where: str, field_: str, ctx: ImportContext) -> tuple[Path, dict[str, Any]] | None:
    """The image file and its ``media`` header, or None after reporting why not."""
    local = ctx.resolve_media(images, name, where, field_)
    if local is None:
        return None
    media = ctx.media_info(local)
    if media is None or "width" not in media:
        ctx.problem(where, field_, f"{name} is not a readable image")
        return None
    return local, media


def _split_order(s: str) -> tuple[int, str]:
    return (_SPLIT_PRIORITY.index(s) if s in _SPLIT_PRIORITY else 9, s)


def _splits(root: Path) -> dict[str, str]:
    """Image stem -> split from ``ImageSets/Main/<split>.txt`` (the first split by priority wins)."""
    splits: dict[str, str] = {}
    main = root / "ImageSets" / "Main"
    if not main.is_dir():
        return splits
    for split in sorted({p.stem for p in main.glob("*.txt") if "_" not in p.stem}, key=_split_order):
        for ln in (main / f"{split}.txt").read_text(encoding="utf-8").splitlines():
            if ln.strip():
                splits.setdefault(ln.split()[0], split)
    return splits


def _parse(files: list[Path]) -> list[tuple[Path, ET.Element]]:
    parsed = []
    for xml in files:
        try:
            parsed.append((xml, ET.parse(xml).getroot()))
        except ET.ParseError as exc:
            raise ImportSourceError(str(xml), "", f"malformed XML: {exc}") from None
    return parsed


def _attrs(obj: ET.Element, where: str, ctx: ImportContext) -> dict[str, Any] | None:
    """The object's flags (0/1), actions and pose; None (reported) when a flag is not a number."""
    attrs: dict[str, Any] = {}
    acts = obj.find("actions")
    flags = [(k, obj.findtext(k)) for k in _FLAGS] + [(f"actions.{a.tag}", a.text) for a in (acts if acts is not None else ())]
    for k, text in flags:
        if text is None or not text.strip():
            continue
        try:
            value = int(float(text))
        except ValueError:
            ctx.problem(where, k, f"must be 0 or 1, not {text.strip()!r}")
            return None
        if k.startswith("actions."):
            attrs.setdefault("actions", {})[k[8:]] = value
        else:
            attrs[k] = value
    pose = (obj.findtext("pose") or "").strip()
    if pose:
        attrs["pose"] = pose
    return attrs


class VocImporter:
    name = "voc"
    options: tuple[str, ...] = ()

    def read(self, source: Path, ctx: ImportContext) -> None:
        root = source.parent.parent if source.is_file() else source
        ann_dir = root / "Annotations"
        files = [source] if source.is_file() else sorted(ann_dir.glob("*.xml"))
        if not files:
            raise ImportSourceError(str(source), "", "no Annotations/*.xml (not a VOC folder)")
        labelmap = root / "labelmap.txt"
        if labelmap.is_file():
            names = [ln.split(":", 1)[0].strip() for ln in labelmap.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
            ctx.add_classes(names)
        splits = _splits(root)
        images = ctx.media or root / "JPEGImages"
        parsed = _parse(files)
        for _xml, doc in parsed:  # classes by first use, after the labelmap
            ctx.add_classes([o.findtext("name", "").strip() for o in doc.iter("object") if o.findtext("name", "").strip()])
        covered = set()
        for xml, doc in parsed:
            covered |= {xml.stem, Path((doc.findtext("filename") or "").strip()).stem}
            self._item(xml, doc, images, splits, ctx)
        for stem in sorted(set(splits) - covered):
            self._unannotated(stem, splits[stem], images, ctx)

    @staticmethod
    def _unannotated(stem: str, split: str, images: Path, ctx: ImportContext) -> None:
        """An image listed in ``ImageSets/Main/<split>.txt`` without an XML: an item of that
        split with no regions (as Datumaro imports it), not a silent drop."""
        where = f"ImageSets/Main/{split}.txt: {stem}"
        found = sorted(p.name for p in images.glob(f"{stem}.*") if p.is_file()) if images.is_dir() else []
        if not found:
            ctx.problem(where, "image", f"listed in {split}.txt but it has no XML and no image under {images.name}/")
            return
        got = _image(images, found[0], where, "image", ctx)
        if got is not None:
            ctx.add(ImportItem(found[0], {"split": split, "media": got[1], "source": {"tool": "voc"}}, where, local=str(got[0])))

    def _item(self, xml: Path, doc: ET.Element, images: Path, splits: dict[str, str], ctx: ImportContext) -> None:
        where = f"Annotations/{xml.name}"
        fname = (doc.findtext("filename") or "").strip() or xml.stem + ".jpg"
        got = _image(images, fname, where, "filename", ctx)
        if got is None:
            return
        local, media = got
        ann: dict[str, Any] = {"media": media, "source": {"tool": "voc", "file": xml.name}}
        split = splits.get(xml.stem) or splits.get(Path(fname).stem)
        if split:
            ann["split"] = split
        regions: list[dict[str, Any]] = []
        for i, obj in enumerate(doc.iter("object")):
            if not self._object(obj, f"{where}: object[{i}]", regions, ctx):
                return
        if regions:
            ann["regions"] = regions
        ctx.add(ImportItem(Path(fname).as_posix(), ann, where, local=str(local)))

    def _object(self, obj: ET.Element, where: str, regions: list[dict[str, Any]], ctx: ImportContext) -> bool:
        """Append the object's box and its parts' boxes to ``regions``; False (reported) on a bad one."""
        r = self._box(obj, where, ctx)
        if r is None:
            return False
        r["id"] = f"r{len(regions) + 1}"
        attrs = _attrs(obj, where, ctx)
        if attrs is None:
            return False
        if attrs:
            r["attrs"] = attrs
        regions.append(r)
        for j, part in enumerate(obj.findall("part")):
            pr = self._box(part, f"{where}.part[{j}]", ctx, known=False)
            if pr is None:
                return False
            pr.update(id=f"{r['id']}.p{j + 1}", parent=r["id"])
            regions.append(pr)
        return True

    @staticmethod
    def _box(obj: ET.Element, where: str, ctx: ImportContext, known: bool = True) -> dict[str, Any] | None:
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        try:
            vals = [_num(bb, k) for k in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            vals = [None]
        if not name:
            ctx.problem(where, "name", "missing")
            return None
        if bb is None or any(v is None for v in vals):
            ctx.problem(where, "bndbox", "missing or not numeric")
            return None
        xmin, ymin, xmax, ymax = cast("list[float]", vals)  # none is None (checked above)
        if not known and name not in ctx.classes:
            ctx.add_classes([name])
        return {"type": "box", "label": name, "xywh": [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]}


register(VocImporter())
