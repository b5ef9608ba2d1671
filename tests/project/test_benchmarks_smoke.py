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
        [sys.executable, "-m", "benchmarks.run", "--size", "smoke", "--no-peers", "--python", sys.executable, "--out", str(out),
         "--compare", str(REPO)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = out.glob("results-*.json")
    doc = json.loads(result.read_text())
    assert doc["errors"] == {}
    w1 = doc["results"]["w1"]
    for step in ("cp -r", "read+xxh3 warm", "dagstore version", "dagstore child W1'", "dagstore get_local_copy cold",
                 "dagstore get_local_copy warm", "dagstore get_mutable_local_copy", "read+xxh3+zstd+write 2p",
                 "read+xxh3+zstd+write+records 2p"):
        assert w1[step]["median"] > 0, step
    assert "dagstore version" in doc["results"]["w2"]
    assert all(doc["results"][w]["cp -r + sync"]["median"] > 0 for w in ("w1", "w2", "w3"))  # the durable copy's reference
    assert w1["before: dagstore version"]["median"] > 0  # --compare: another checkout in the same rounds
    assert any("load" in k for k in doc["results"]["manifest"])


def test_workloads_are_seeded_and_w1prime_edits_one_percent_each(tmp_path):
    from benchmarks import generate

    counts = generate.SIZES["smoke"]
    files, nbytes = generate.gen_w1(tmp_path / "a", counts)
    generate.gen_w1(tmp_path / "b", counts)
    tree = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    assert files == len(tree) == 500 and nbytes == sum(map(len, tree.values()))
    assert all(1024 <= len(data) <= 8192 for data in tree.values())
    assert tree == {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert generate.apply_w1prime(tmp_path / "b", counts) == {"modified": 5, "removed": 5, "added": 5}
    after = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert len(set(tree) - set(after)) == 5 and len(set(after) - set(tree)) == 5
    assert sum(1 for k in set(tree) & set(after) if tree[k] != after[k]) == 5


def test_benchmarks_and_tests_read_nothing_outside_the_repository():
    outside = ("../" + "shared", "work/" + "shared", '"shared"' + " /")
    found = [
        f"{p.relative_to(REPO)}: {needle}"
        for p in [REPO / "dev", *(REPO / "benchmarks").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
        for needle in outside
        if needle in p.read_text()
    ]
    assert found == []
