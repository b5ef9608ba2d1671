"""Pascal VOC: ``Annotations/<stem>.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.
Boxes are 1-based inclusive integers as in the VOC devkit: ``xmin = round(x) + 1``,
``ymin = round(y) + 1``, ``xmax = round(x + w)``, ``ymax = round(y + h)``."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET

from ..base import BaseExporter, ExportContext, ExportFormat, Streams, image_items, note_box_written, region_box, region_id, regions, unique_names
from ..view import Item


def _sub(parent: ET.Element, tag: str, text: object) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(text)
    return el


def voc_xml(ctx: ExportContext, item: Item, name: str) -> bytes:
    ann = item.annotation or {}
    media = ann.get("media") or {}
    ids = ctx.class_ids
    root = ET.Element("annotation")
    _sub(root, "folder", "JPEGImages")
    _sub(root, "filename", name)
    src = ET.SubElement(root, "source")
    _sub(src, "database", ctx.view.version_id)
    wh = ctx.image_size(item)
    if wh is not None:  # else no size at all (reported) rather than a wrong one
        size = ET.SubElement(root, "size")
        _sub(size, "width", int(wh[0]))
        _sub(size, "height", int(wh[1]))
        _sub(size, "depth", int(media.get("depth") or 3))
    _sub(root, "segmented", 0)
    for i, r in enumerate(regions(item)):
        rid = region_id(r, i)
        if r.get("label") not in ids:
            ctx.skip(item.path, f"region label {r.get('label')!r} is not in the class list", rid)
            continue
        box = region_box(r) if r.get("type") in ("box", "polygon", "mask") else None
        if box is None:
            ctx.skip(item.path, f"{r.get('type')} regions are not expressible in VOC", rid)
            continue
        note_box_written(ctx, item, r, rid, "VOC", "VOC holds boxes only")
        attrs = r.get("attrs") or {}
        x, y, w, h = box
        obj = ET.SubElement(root, "object")
        _sub(obj, "name", r["label"])
        _sub(obj, "pose", attrs.get("pose", "Unspecified"))
        _sub(obj, "truncated", int(attrs.get("truncated", 0)))
        _sub(obj, "difficult", int(attrs.get("difficult", 0)))
        bb = ET.SubElement(obj, "bndbox")
        _sub(bb, "xmin", round(x) + 1)
        _sub(bb, "ymin", round(y) + 1)
        _sub(bb, "xmax", round(x + w))
        _sub(bb, "ymax", round(y + h))
    if ann.get("labels"):
        ctx.skip(item.path, "item-level labels are not expressible in VOC detection annotations")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


class VocExporter(BaseExporter):
    format = ExportFormat.VOC
    parallel = True

    def merged(self, relpath: str) -> bool:
        return relpath.startswith("ImageSets/") or relpath == "labelmap.txt"

    def export(self, ctx: ExportContext) -> None:
        names = unique_names([(it.path, "", it.hash) for it in ctx.items(final=False)], stem_only=True)
        with Streams(ctx.sink) as out:
            for item in image_items(ctx, "VOC"):
                split = ctx.split(item)
                name = names[item.path]
                stem = posixpath.splitext(name)[0]
                ctx.sink.write(f"Annotations/{stem}.xml", voc_xml(ctx, item, name))
                ctx.add_media(f"JPEGImages/{name}", item)
                out.write(f"ImageSets/Main/{split}.txt", stem + "\n")
                ctx.count(split)
        ctx.sink.write("labelmap.txt", "".join(f"{c.name}\n" for c in ctx.classes).encode())
