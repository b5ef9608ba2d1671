"""Keeps the benchmark suite working: a smoke-sized run (not a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_suite_runs_at_smoke_size(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--size", "smoke", "--no-peers", "--python", sys.executable, "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = out.glob("results-*.json")
    doc = json.loads(result.read_text())
    assert doc["errors"] == {}
    w1 = doc["results"]["w1"]
    for step in ("cp -r", "read+xxh3 warm", "dagstore version", "dagstore child W1'", "dagstore get_local_copy cold",
                 "dagstore get_local_copy warm", "dagstore get_mutable_local_copy"):
        assert w1[step]["median"] > 0, step
    assert "dagstore version" in doc["results"]["w2"]
    assert any("load" in k for k in doc["results"]["manifest"])
