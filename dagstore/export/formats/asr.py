"""NVIDIA NeMo ASR manifests: ``<split>_manifest.json``, JSON lines ``{"audio_filepath",
"duration", "text"}`` (plus ``offset`` for segments); audio under ``audio/``."""

from __future__ import annotations

import json
from typing import Any

from ..base import BaseExporter, ExportContext, ExportFormat, Streams, region_id, regions
from ..view import Item


def duration_of(ctx: ExportContext, item: Item) -> float | None:
    media = (item.annotation or {}).get("media") or {}
    if media.get("duration_s"):
        return float(media["duration_s"])
    try:
        import soundfile

        with ctx.view.open(item.path) as f:
            info = soundfile.info(f)
        return float(info.frames) / float(info.samplerate)
    except Exception:  # noqa: BLE001 - unreadable audio is reported as a skip
        return None


class AsrManifestExporter(BaseExporter):
    format = ExportFormat.ASR_MANIFEST

    def export(self, ctx: ExportContext) -> None:
        with Streams(ctx.sink) as out:
            for item in ctx.items():
                ann = item.annotation or {}
                split = ctx.split(item)
                audio = f"audio/{item.path}"
                lines: list[dict[str, Any]] = []
                for i, r in enumerate(regions(item)):
                    if r.get("type") == "segment" and r.get("text") is not None:
                        start, end = float(r["start_s"]), float(r["end_s"])
                        lines.append({"audio_filepath": audio, "offset": round(start, 6), "duration": round(end - start, 6), "text": r["text"]})
                    else:
                        ctx.skip(item.path, f"{r.get('type')} regions without text are not expressible in ASR_MANIFEST", region_id(r, i))
                if ann.get("transcription") is not None:
                    duration = duration_of(ctx, item)
                    if duration is None:
                        ctx.skip(item.path, "audio duration unknown (no media.duration_s and soundfile cannot read the file)")
                    else:
                        lines.insert(0, {"audio_filepath": audio, "duration": round(duration, 6), "text": ann["transcription"]})
                if not lines:
                    ctx.skip(item.path, "no transcription")
                    continue
                for line in lines:
                    out.write(f"{split}_manifest.json", json.dumps(line, ensure_ascii=False) + "\n")
                ctx.add_media(audio, item)
                ctx.count(split)
