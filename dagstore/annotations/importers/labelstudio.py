"""Label Studio JSON export: tasks with ``annotations``, ``predictions`` and ``drafts``.

The ``policy`` picks the top-level annotation of a task (``ground_truth``, ``latest`` or
``annotator:<id>``; "latest" is by ``created_at``, then id); every other annotation,
prediction and draft goes to ``alternatives``. Each result's control names are kept (a
region's ``control``, an annotation's ``controls`` for its labels and transcription). Boxes,
polygons and keypoints are converted from percent to pixels; text offsets from UTF-16 to
code points. A task's file is found under
``media=`` by its URL; without ``media=``, cloud URLs become external links and http(s) URLs
are downloaded. A text task without a file becomes ``<task id>.txt``.
"""

from __future__ import annotations

import posixpath
import tempfile
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..errors import ImportSourceError
from ..text import Utf16Offsets
from . import register
from ._base import ImportContext, ImportItem, load_json, px

_FILE_KEYS = ("image", "audio", "video", "pdf", "text", "html")
_CLOUD = ("s3://", "gs://", "gcs://", "az://", "azure-blob://", "abfs://")
_GEOMETRY = {"rectanglelabels": "box", "rectangle": "box", "polygonlabels": "polygon", "polygon": "polygon", "keypointlabels": "keypoints", "keypoint": "keypoints"}


def _label_config_classes(config: str) -> list[str]:
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise ImportSourceError("label_config", "", f"malformed XML: {exc}") from None
    out: list[str] = []
    for el in root.iter():
        value = el.get("value")
        if el.tag in ("Label", "Choice") and value and value not in out:
            out.append(value)
    return out


def _annotator(a: dict[str, Any]) -> Any:
    cb = a.get("completed_by")
    return cb.get("id") if isinstance(cb, dict) else cb


def _order_key(a: dict[str, Any]) -> tuple[str, Any]:
    return (str(a.get("created_at") or ""), a.get("id") if isinstance(a.get("id"), int) else -1)


def _source(kind: str, a: dict[str, Any], tid: Any) -> dict[str, Any]:
    """``source`` of one annotation, prediction or draft (no empty fields; a prediction names its model)."""
    src = {k: v for k, v in (("tool", "label-studio"), ("task_id", tid), ("annotation_id", a.get("id")), ("annotator", _annotator(a)),
                             ("created_at", a.get("created_at")), ("ground_truth", bool(a.get("ground_truth"))),
                             ("reviewed", bool(a.get("reviews")) or None)) if v is not None}
    if kind == "prediction":
        src.pop("annotator", None)
        src["model_version"] = a.get("model_version")
    return src


def _control(res: dict[str, Any]) -> dict[str, str]:
    """A result's own control names (``from_name``, ``to_name``), written back by the Label Studio exports."""
    return {k: res[k] for k in ("from_name", "to_name") if isinstance(res.get(k), str) and res[k]}


def _set_annotations(ann: dict[str, Any], converted: list[tuple[str, dict[str, Any], dict[str, Any]]],
                     top: dict[str, Any] | None, tid: Any) -> None:
    """The chosen annotation at the top level, every other one in ``alternatives``."""
    alternatives = []
    for kind, a, obj in converted:
        if a is top:
            ann.update({k: v for k, v in obj.items()})
        else:
            alternatives.append({"kind": kind, "cancelled": bool(a.get("was_cancelled")), "score": a.get("score"), **obj})
    if top is None:
        ann["source"] = {"tool": "label-studio", "task_id": tid}
    if alternatives:
        ann["alternatives"] = alternatives


def _set_task_fields(ann: dict[str, Any], task: dict[str, Any], data: dict[str, Any], key: str) -> None:
    """The split of dagstore's own JSON export (``meta.split``) and the task's other scalar data fields."""
    meta = task.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("split"), str) and meta["split"]:
        ann["split"] = meta["split"]
    extra = {k: v for k, v in data.items() if k != key and isinstance(v, (str, int, float, bool))}
    if extra:
        ann.setdefault("fields", {}).update(extra)


class _Task:
    """Conversion of one task's results against its media."""

    def __init__(self, ctx: ImportContext, where: str, kind: str, width: float | None, height: float | None, text: str | None):
        self.ctx, self.where, self.kind = ctx, where, kind
        self.width, self.height = width, height
        self.text = text
        self._offsets = Utf16Offsets(text) if text is not None else None

    def convert(self, results: list[Any], field: str) -> dict[str, Any] | None:
        """The schema object of one annotation's ``result`` list (None after a problem)."""
        out: dict[str, Any] = {}
        regions: list[dict[str, Any]] = []
        for i, res in enumerate(results or []):
            f = f"{field}.result[{i}]"
            if isinstance(res, dict) and res.get("type") == "relation":  # relations carry no value
                out.setdefault("relations", []).append({k: res.get(k) for k in ("from_id", "to_id", "direction", "labels") if k in res})
                continue
            if not isinstance(res, dict) or not isinstance(res.get("value"), dict):
                self.ctx.problem(self.where, f, "not a result object")
                return None
            t, v = res.get("type"), res["value"]
            if t == "choices":
                self._choices(out, v, res)
            elif t == "textarea":
                self._textarea(out, v, res)
            elif t in _GEOMETRY or t in ("labels", "hypertextlabels", "paragraphlabels"):
                r = self._labelled_region(t, v, res, f)
                if r is None:
                    return None
                regions.append(r)
            elif t in ("brushlabels", "brush"):
                self.ctx.problem(self.where, f, "brush masks (Label Studio RLE) are not supported by this importer yet")
                return None
            else:
                out.setdefault("fields", {})[res.get("from_name", t or "value")] = v
        if regions:
            out["regions"] = regions
        return out

    def _choices(self, out: dict[str, Any], v: dict[str, Any], res: dict[str, Any]) -> None:
        """Item labels, each class used once, in order; each label's control names in ``controls.labels``."""
        out.setdefault("labels", [])
        names = _control(res)
        for c in v.get("choices") or []:
            if c not in out["labels"]:
                out["labels"].append(c)
                self._use(c)
                if names:
                    out.setdefault("controls", {}).setdefault("labels", {})[c] = names

    def _textarea(self, out: dict[str, Any], v: dict[str, Any], res: dict[str, Any]) -> None:
        """An audio transcription, else a text field named by ``from_name``."""
        text = "\n".join(v.get("text") or [])
        if self.kind == "audio" and "start" not in v:
            out["transcription"] = text
            if names := _control(res):
                out.setdefault("controls", {})["transcription"] = names
        else:
            out.setdefault("fields", {})[res.get("from_name", "textarea")] = text

    def _labelled_region(self, t: str, v: dict[str, Any], res: dict[str, Any], f: str) -> dict[str, Any] | None:
        """A region with its first label (every label in ``attrs.labels`` when several) and score."""
        labels = v.get(t) if isinstance(v.get(t), list) else v.get("labels") or []
        r = self._region(t, v, res, f)
        if r is None:
            return None
        if labels:
            r["label"] = labels[0]
            self._use(labels[0])
            if len(labels) > 1:
                r.setdefault("attrs", {})["labels"] = list(labels)
                for lab in labels[1:]:
                    self._use(lab)
        if res.get("score") is not None:
            r["score"] = res["score"]
        if res.get("parentID"):  # a keypoint (or region) drawn inside another: merged on COCO export
            r["parent"] = str(res["parentID"])
        if names := _control(res):
            r["control"] = names
        return r

    def _use(self, label: str) -> None:
        if label not in self.ctx.classes:
            self.ctx.add_classes([label])

    def _size(self, res: dict[str, Any]) -> tuple[float, float] | None:
        w = self.width or res.get("original_width")
        h = self.height or res.get("original_height")
        if not w or not h:
            return None
        if self.width is None:
            self.width, self.height = float(w), float(h)
        return float(w), float(h)

    def _region(self, t: str, v: dict[str, Any], res: dict[str, Any], f: str) -> dict[str, Any] | None:
        rid = str(res.get("id") or f)
        geom = _GEOMETRY.get(t)
        if geom is not None:
            size = self._size(res)
            if size is None:
                self.ctx.problem(self.where, f, "no image size (original_width/height) and no readable image")
                return None
            W, H = size[0] / 100.0, size[1] / 100.0
            try:
                if geom == "box":
                    return {"id": rid, "type": "box", "xywh": [px(v["x"] * W), px(v["y"] * H), px(v["width"] * W), px(v["height"] * H)], "rotation": float(v.get("rotation") or 0.0)}
                if geom == "polygon":
                    return {"id": rid, "type": "polygon", "points": [[px(p[0] * W), px(p[1] * H)] for p in v["points"]]}
                return {"id": rid, "type": "keypoints", "points": [[px(v["x"] * W), px(v["y"] * H), 2]]}
            except (KeyError, TypeError, IndexError) as exc:
                self.ctx.problem(self.where, f"{f}.value", f"missing or bad coordinate {exc}")
                return None
        if "start" in v and isinstance(v.get("start"), (int, float)) and self.kind in ("audio", "video"):
            r = {"id": rid, "type": "segment", "start_s": float(v["start"]), "end_s": float(v["end"])}
            return r
        if self._offsets is None:
            self.ctx.problem(self.where, f, "a text span needs the task's text")
            return None
        try:
            start, end = self._offsets.to_codepoint(int(v["start"])), self._offsets.to_codepoint(int(v["end"]))
        except (KeyError, TypeError, ValueError) as exc:
            self.ctx.problem(self.where, f"{f}.value.start/end", f"span offsets do not fit the text: {exc}")
            return None
        return {"id": rid, "type": "span", "start": start, "end": end}


class LabelStudioImporter:
    name = "labelstudio"
    options: tuple[str, ...] = ("label_config",)

    def read(self, source: Path, ctx: ImportContext) -> None:
        files = [source] if source.is_file() else sorted(source.glob("*.json"))
        if not files:
            raise ImportSourceError(str(source), "", "no Label Studio JSON export found")
        config = ctx.options.get("label_config")
        if config:
            text = Path(config).read_text(encoding="utf-8") if not str(config).lstrip().startswith("<") else str(config)
            ctx.add_classes(_label_config_classes(text))
        self._downloads: Path | None = None
        for js in files:
            tasks = load_json(js)
            if isinstance(tasks, dict):
                tasks = [tasks]
            if not isinstance(tasks, list):
                raise ImportSourceError(str(js), "", "must be a list of tasks")
            for i, task in enumerate(tasks):
                if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                    ctx.problem(f"{js.name}[{i}]", "data", "not a task with data")
                    continue
                self._task(js, i, task, ctx)

    # -- media --------------------------------------------------------------------------------

    def _locate(self, url: str, where: str, ctx: ImportContext) -> tuple[str, dict[str, Any]] | None:
        """(dataset path, content fields of ImportItem) for a task's file URL."""
        parsed = urllib.parse.urlparse(url)
        if ctx.media is not None:
            if parsed.path.startswith("/data/local-files/"):
                rel = urllib.parse.parse_qs(parsed.query).get("d", [""])[0]
            elif "/data/upload/" in parsed.path:
                rel = posixpath.basename(parsed.path)
                if not (ctx.media / rel).exists() and len(rel) > 9 and rel[8] == "-":
                    rel = rel[9:]  # Label Studio prefixes uploads with 8 hex digits and '-'
            else:
                rel = posixpath.basename(urllib.parse.unquote(parsed.path))
            local = ctx.resolve_media(ctx.media, rel, where, "data")
            return None if local is None else (Path(rel).as_posix().lstrip("/"), {"local": str(local)})
        if url.startswith(_CLOUD):
            key = parsed.path.lstrip("/")
            return (key or posixpath.basename(url)), {"url": url}
        if parsed.scheme in ("http", "https"):
            if self._downloads is None:
                self._downloads = Path(tempfile.mkdtemp(prefix="dagstore-ls-"))
                ctx.cleanup.append(self._downloads)
            name = posixpath.basename(urllib.parse.unquote(parsed.path)) or "file"
            dest = self._downloads / str(len(list(self._downloads.iterdir()))) / name
            dest.parent.mkdir()
            try:
                with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:  # noqa: S310 (http(s) only)
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
            except OSError as exc:
                ctx.problem(where, "data", f"download of {url} failed: {exc}")
                return None
            return name, {"local": str(dest)}
        ctx.problem(where, "data", f"file {url!r} is not a cloud or http(s) URL: pass media= (the folder holding the task files)")
        return None

    # -- tasks --------------------------------------------------------------------------------

    def _task(self, js: Path, i: int, task: dict[str, Any], ctx: ImportContext) -> None:
        data = task["data"]
        tid = task.get("id", i)
        where = f"{js.name}: task {tid}"
        found = self._task_file(data, tid, where, ctx)
        if found is None:
            return
        key, path, content, media, text = found
        ann: dict[str, Any] = {"media": media}
        conv = _Task(ctx, where, media.get("kind", key), media.get("width"), media.get("height"), text)
        candidates = [(kind, a) for kind, items in (("annotation", task.get("annotations")), ("prediction", task.get("predictions")),
                                                    ("draft", task.get("drafts"))) for a in items or [] if isinstance(a, dict)]
        top = self._choose(candidates, ctx.policy, where)
        converted = []
        for kind, a in candidates:
            obj = conv.convert(a.get("result") or [], f"{kind}s[id={a.get('id')}]")
            if obj is None:
                return
            obj["source"] = _source(kind, a, tid)
            converted.append((kind, a, obj))
        if conv.width and "width" not in media and media.get("kind") == "image":
            media.update(width=conv.width, height=conv.height)
        _set_annotations(ann, converted, top, tid)
        _set_task_fields(ann, task, data, key)
        ctx.add(ImportItem(path, ann, where, **content))

    def _task_file(self, data: dict[str, Any], tid: Any, where: str,
                   ctx: ImportContext) -> tuple[str, str, dict[str, Any], dict[str, Any], str | None] | None:
        """(data key, dataset path, content fields of ImportItem, media, text) of a task's file,
        or of its inline text; None (reported) when it has neither or the file is not found."""
        key = next((k for k in _FILE_KEYS if isinstance(data.get(k), str) and data[k]), None)
        if key == "text" and not ("://" in data["text"] or data["text"].startswith("/data/")):
            text = data["text"]
            return key, f"{tid}.txt", {"data": text.encode("utf-8")}, {"kind": "text"}, text
        if key is None:
            ctx.problem(where, "data", f"no file or text field (one of {', '.join(_FILE_KEYS)})")
            return None
        loc = self._locate(data[key], where, ctx)
        if loc is None:
            return None
        path, content = loc
        if not content.get("local"):
            return key, path, content, {"kind": key}, None
        media = ctx.media_info(Path(content["local"])) or {"kind": key}
        text = Path(content["local"]).read_bytes().decode("utf-8", errors="replace") if key == "text" else None
        return key, path, content, media, text

    @staticmethod
    def _choose(candidates: list[tuple[str, dict[str, Any]]], policy: str, where: str) -> dict[str, Any] | None:
        done = [a for kind, a in candidates if kind == "annotation" and not a.get("was_cancelled")]
        if policy == "ground_truth":
            gt = [a for a in done if a.get("ground_truth")]
            pool = gt or done
        elif policy == "latest":
            pool = done
        elif policy.startswith("annotator:"):
            who = policy.split(":", 1)[1]
            pool = [a for a in done if str(_annotator(a)) == who or (isinstance(a.get("completed_by"), dict) and a["completed_by"].get("email") == who)]
        else:
            raise ImportSourceError(where, "policy", f"must be ground_truth, latest or annotator:<id>, not {policy!r}")
        return max(pool, key=_order_key) if pool else None


register(LabelStudioImporter())
