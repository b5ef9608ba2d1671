"""Keeps benchmarks/exports.py working: a tiny run without peers (not a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_export_benchmark_runs_at_smoke_size(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.exports", "--images", "40", "--rss-factor", "2", "--repeat", "1", "--no-peers",
         "--python", sys.executable, "--out", str(tmp_path / "bench")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "bench/exports.json").read_text())
    for key in ("dagstore YOLO_ULTRALYTICS folder", "dagstore COCO folder", "dagstore YOLO_ULTRALYTICS zip",
                "cp -rl + write labels", "zip -0 -qr (same tree)", "dagstore YOLO_ULTRALYTICS folder (80 images)",
                "dagstore COCO folder (80 images)"):
        assert doc["samples"][key][0]["wall"] > 0, key
    assert "| dagstore COCO folder |" in doc["table"]
