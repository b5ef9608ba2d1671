"""Label Studio JSON (tasks with ``data``, ``annotations`` incl. alternatives, ``predictions``,
``drafts``; geometry in percent) and JSON_MIN (one flat object per item: the resolved
annotation). Media go under ``media/`` and tasks point at them with local-files URLs
(``/data/local-files/?d=<dataset path>``): import with ``media=<export>/media``."""

from __future__ import annotations

import json
from typing import Any

from ..base import BaseExporter, ExportContext, ExportFormat, region_id
from ..view import Item

_MEDIA_KEYS = {"image": "image", "audio": "audio", "video": "video", "text": "text"}
_TEXT_SUFFIXES = (".txt", ".md", ".json", ".csv", ".tsv", ".html")


def media_key(item: Item) -> str:
    kind = ((item.annotation or {}).get("media") or {}).get("kind")
    if kind in _MEDIA_KEYS:
        return _MEDIA_KEYS[kind]
    regs = (item.annotation or {}).get("regions") or []
    if any(r.get("type") == "span" for r in regs) or item.path.lower().endswith(_TEXT_SUFFIXES):
        return "text"
    if any(r.get("type") == "segment" for r in regs):
        return "audio"
    return "image"


def _utf16(text: str, offset: int) -> int:
    return len(text[:offset].encode("utf-16-le")) // 2


def _pct(v: float, total: float) -> float:
    return float(v) * 100.0 / total


_Result = tuple[str, str, str, dict[str, Any], bool]  # id, type, from_name, value, sized (image geometry)


def _region_results(r: dict[str, Any], rid: str, w: float, h: float, text: str | None) -> list[_Result] | None:
    """The results of one region (geometry in percent of w x h); None when not expressible."""
    t, label = r.get("type"), r.get("label")
    if t == "box" and r.get("xywh"):
        x, y, bw, bh = (float(v) for v in r["xywh"])
        return [(rid, "rectanglelabels", "label", {"x": _pct(x, w), "y": _pct(y, h), "width": _pct(bw, w), "height": _pct(bh, h),
                                                    "rotation": float(r.get("rotation") or 0.0), "rectanglelabels": [label]}, True)]
    if t == "polygon" and r.get("points"):
        pts = [[_pct(p[0], w), _pct(p[1], h)] for p in r["points"]]
        return [(rid, "polygonlabels", "polygon", {"points": pts, "closed": True, "polygonlabels": [label]}, True)]
    if t == "keypoints" and r.get("points"):
        return [(f"{rid}_{k}", "keypointlabels", "keypoint", {"x": _pct(p[0], w), "y": _pct(p[1], h), "width": 0.5, "keypointlabels": [label]}, True)
                for k, p in enumerate(r["points"]) if not (len(p) > 2 and int(p[2]) == 0)]
    if t == "span" and text is not None:
        s, e = int(r["start"]), int(r["end"])
        return [(rid, "labels", "label", {"start": _utf16(text, s), "end": _utf16(text, e), "text": text[s:e], "labels": [label]}, False)]
    if t == "segment":
        out: list[_Result] = [(rid, "labels", "label", {"start": float(r["start_s"]), "end": float(r["end_s"]), "labels": [label]}, False)]
        if r.get("text") is not None:
            out.append((rid, "textarea", "transcription", {"start": float(r["start_s"]), "end": float(r["end_s"]), "text": [r["text"]]}, False))
        return out
    return None


def _names(control: Any, from_name: str, to_name: str) -> tuple[str, str]:
    """A result's (``from_name``, ``to_name``): the control names a Label Studio import kept
    (a region's ``control``, an annotation's ``controls``), else dagstore's own."""
    if not isinstance(control, dict):
        return from_name, to_name
    f, t = control.get("from_name"), control.get("to_name")
    return (f if isinstance(f, str) and f else from_name), (t if isinstance(t, str) and t else to_name)


def _label_groups(ann: dict[str, Any], controls: dict[str, Any], to_name: str) -> dict[tuple[str, str], list[str]]:
    """The item labels by the control names each was imported with (one ``choices`` result each)."""
    found = controls.get("labels")
    by_label: dict[str, Any] = found if isinstance(found, dict) else {}
    groups: dict[tuple[str, str], list[str]] = {}
    for label in ann["labels"]:
        groups.setdefault(_names(by_label.get(label), "choice", to_name), []).append(label)
    return groups


def results(ctx: ExportContext, item: Item, ann: dict[str, Any], to_name: str, text: str | None) -> list[dict[str, Any]]:
    """Label Studio ``result`` items of one annotation object (this schema)."""
    media = ann.get("media") or ((item.annotation or {}).get("media") or {})
    w, h = float(media.get("width") or 0), float(media.get("height") or 0)
    out: list[dict[str, Any]] = []

    def add(rid: str, typ: str, names: tuple[str, str], value: dict[str, Any], sized: bool = False) -> None:
        res: dict[str, Any] = {"id": rid, "type": typ, "from_name": names[0], "to_name": names[1], "value": value}
        if sized:
            res.update(original_width=int(w), original_height=int(h), image_rotation=0)
        out.append(res)

    for i, r in enumerate(ann.get("regions") or []):
        rid, t = region_id(r, i), r.get("type")
        if t in ("box", "polygon", "keypoints") and not (w and h):
            ctx.skip(item.path, "boxes without image size (media.width/height) cannot be written in percent", rid)
            continue
        found = _region_results(r, rid, w, h, text)
        if found is None:
            ctx.skip(item.path, f"{t} regions are not expressible in Label Studio JSON by dagstore", rid)
            continue
        for res_id, typ, from_name, value, sized in found:  # a segment's text is a result of its own: dagstore's name
            add(res_id, typ, _names(r.get("control") if typ != "textarea" else None, from_name, to_name), value, sized)
    found = ann.get("controls")
    controls: dict[str, Any] = found if isinstance(found, dict) else {}
    if ann.get("labels"):
        for n, (names, labels) in enumerate(_label_groups(ann, controls, to_name).items()):
            add("choice" if n == 0 else f"choice_{n}", "choices", names, {"choices": labels})
    if ann.get("transcription") is not None:
        add("transcription", "textarea", _names(controls.get("transcription"), "transcription", to_name), {"text": [ann["transcription"]]})
    return out


def _annotation(ctx: ExportContext, item: Item, ann: dict[str, Any], to_name: str, text: str | None, n: int) -> dict[str, Any]:
    src = ann.get("source") or {}
    out: dict[str, Any] = {"id": src.get("annotation_id", n), "result": results(ctx, item, ann, to_name, text),
                           "was_cancelled": bool(ann.get("cancelled", False)), "ground_truth": bool(src.get("ground_truth", False))}
    if src.get("annotator") is not None:
        out["completed_by"] = src["annotator"]
    if src.get("created_at"):
        out["created_at"] = src["created_at"]
    if ann.get("score") is not None:
        out["score"] = ann["score"]
    return out


def task_data(ctx: ExportContext, item: Item, key: str, text: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {key: text if key == "text" and text is not None else f"/data/local-files/?d={item.path}"}
    for k, v in sorted(((item.annotation or {}).get("fields") or {}).items()):
        data.setdefault(k, v)
    return data


def _text(ctx: ExportContext, item: Item, key: str) -> str | None:
    return ctx.text_of(item) if key == "text" else None


class _TasksExporter(BaseExporter):
    """Both Label Studio formats: a JSON list in ``tasks.json``, one entry per item, media under ``media/``."""

    def export(self, ctx: ExportContext) -> None:
        n = 0
        with ctx.sink.open("tasks.json") as out:
            out.write(b"[")
            for item in ctx.items():
                n += 1
                key = media_key(item)
                row = self.entry(ctx, item, key, _text(ctx, item, key), n)
                out.write(("\n" if n == 1 else ",\n").encode() + json.dumps(row, ensure_ascii=False).encode())
                if key != "text":
                    ctx.add_media(f"media/{item.path}", item)
                ctx.count(ctx.split(item))
            out.write(b"\n]\n")

    def entry(self, ctx: ExportContext, item: Item, key: str, text: str | None, n: int) -> dict[str, Any]:
        raise NotImplementedError


class LabelStudioJsonExporter(_TasksExporter):
    format = ExportFormat.JSON

    def entry(self, ctx: ExportContext, item: Item, key: str, text: str | None, n: int) -> dict[str, Any]:
        ann = item.annotation or {}
        task: dict[str, Any] = {"id": (ann.get("source") or {}).get("task_id", n), "data": task_data(ctx, item, key, text)}
        anns: list[dict[str, Any]] = []
        preds: list[dict[str, Any]] = []
        drafts: list[dict[str, Any]] = []
        if ann.get("regions") or ann.get("labels") or ann.get("transcription") is not None:
            anns.append(_annotation(ctx, item, ann, key, text, len(anns) + 1))
        for alt in ann.get("alternatives") or []:
            kind = alt.get("kind", "annotation")
            a = _annotation(ctx, item, alt, key, text, len(anns) + 1)
            if kind == "prediction":
                a.pop("was_cancelled", None)
                a.pop("ground_truth", None)
                a["model_version"] = (alt.get("source") or {}).get("model_version", "")
                preds.append(a)
            elif kind == "draft":
                drafts.append(a)
            else:
                anns.append(a)
        task.update(annotations=anns, predictions=preds, drafts=drafts, meta={"split": ctx.split(item)})
        return task


class LabelStudioJsonMinExporter(_TasksExporter):
    format = ExportFormat.JSON_MIN

    def entry(self, ctx: ExportContext, item: Item, key: str, text: str | None, n: int) -> dict[str, Any]:
        ann = item.annotation or {}
        row: dict[str, Any] = {"id": (ann.get("source") or {}).get("task_id", n), **task_data(ctx, item, key, text)}
        for res in results(ctx, item, ann, key, text):
            value = dict(res["value"])
            if res["type"] == "choices":
                row[res["from_name"]] = value["choices"][0] if len(value["choices"]) == 1 else {"choices": value["choices"]}
            elif res["type"] == "textarea" and "start" not in value:
                row[res["from_name"]] = value["text"][0]
            else:
                if "original_width" in res:
                    value.update(original_width=res["original_width"], original_height=res["original_height"])
                row.setdefault(res["from_name"], []).append(value)
        src = ann.get("source") or {}
        for k, out_key in (("annotator", "annotator"), ("annotation_id", "annotation_id"), ("created_at", "created_at")):
            if src.get(k) is not None:
                row[out_key] = src[k]
        row["split"] = ctx.split(item)
        return row
