"""Shared state of one suite run: settings, interpreters, recorded samples and notes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .measure import MeasureError, Sample, rmtree

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Context:
    """Everything a measurement group needs; groups append samples through ``record``."""

    repo_root: Path
    out_dir: Path
    size: str
    repeat: int
    peer_repeat: int
    dagstore_python: str | None = None
    hash_python: str | None = None
    peers_python: Path | None = None
    peers: dict[str, str] = field(default_factory=dict)  # peer name -> version, only those usable
    compare_root: Path | None = None  # another checkout whose dagstore is measured as "before: ..."
    results: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> str:
        return f"t+{time.perf_counter() - self.started:.0f}s"

    @property
    def work_dir(self) -> Path:
        return self.out_dir / "work"

    def fresh_dir(self, *parts: str) -> Path:
        """An empty scratch folder under ``work/`` (removed first if left from a previous run)."""
        path = self.work_dir.joinpath(*parts)
        rmtree(path)
        path.mkdir(parents=True)
        return path

    def note(self, text: str) -> None:
        """A skipped measurement or other caveat, printed now and kept in the JSON."""
        if text not in self.notes:
            self.notes.append(text)
            print(f"  [note] {text}", flush=True)

    def record(self, workload: str, metric: str, sample: Sample) -> None:
        self.results.setdefault(workload, {}).setdefault(metric, []).append(sample)
        extra = f"  (wall {sample.wall:.3f} s)" if sample.op is not None else ""
        rss = f"  rss {sample.rss_mb:.0f} MB" if sample.rss_mb is not None else ""
        cpu = f"  cpu {sample.cpu:.2f} s" if sample.cpu is not None else ""
        print(f"    {workload} {metric:<34} {_fmt_s(sample.value)}{extra}{rss}{cpu}", flush=True)

    def attempt(self, workload: str, metric: str, fn: Callable[[], Sample]) -> Sample | None:
        """Run one measurement; record it, or record why it failed and return None."""
        try:
            sample = fn()
        except MeasureError as exc:
            self.errors.setdefault(workload, {})[metric] = str(exc)
            print(f"    {workload} {metric:<34} FAILED: {exc}", flush=True)
            return None
        self.record(workload, metric, sample)
        return sample


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms" if seconds < 0.1 else f"{seconds:9.3f} s "
