"""Medians, ratios, the issue's targets, the printed table and the JSON file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .context import Context
from .measure import Sample

#: dagstore operation -> the DVC command(s) doing the same job ("dagstore child X": "dvc add+push X").
DVC_EQUIVALENT = {
    "dagstore version": "dvc add+push",
    "dagstore get_local_copy cold": "dvc pull fresh",
    "dagstore get_mutable_local_copy": "dvc pull fresh",
}


def dvc_equivalent(metric: str) -> str | None:
    """The DVC metric doing the job of dagstore's ``metric``, if any."""
    if metric.startswith("dagstore child "):
        return "dvc add+push " + metric.removeprefix("dagstore child ")
    return DVC_EQUIVALENT.get(metric)


def median(samples: list[Sample], attr: str = "value") -> float | None:
    values = [v for v in (getattr(s, attr) for s in samples) if v is not None]
    return statistics.median(values) if values else None


def _lookup(ctx: Context) -> Callable[..., float | None]:
    def med(workload: str, metric: str, attr: str = "value") -> float | None:
        return median(ctx.results.get(workload, {}).get(metric, []), attr)

    return med


def _target(text: str, measured: float | None, limit: float | None, fmt: str, higher_is_better: bool = False) -> dict[str, Any]:
    if measured is None or limit is None:
        status = "n/a"
    else:
        status = "met" if (measured >= limit if higher_is_better else measured <= limit) else "missed"

    def show(v: float | None) -> str:
        return "-" if v is None else fmt.format(v)

    return {"target": text, "measured": show(measured), "limit": show(limit), "status": status}


def targets(ctx: Context) -> list[dict[str, Any]]:
    """The issue's targets, each met / missed / n/a (not measured)."""
    med = _lookup(ctx)
    version = med("w1", "dagstore version")
    dvc = med("w1", "dvc add+push")
    read_hash = med("w1", "read+xxh3 warm")
    cp_w1, cp_w2 = med("w1", "cp -r"), med("w2", "cp -r")
    cold = med("w1", "dagstore get_local_copy cold")

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    return [
        _target("W1 version >= 25x faster than DVC add+push", ratio(dvc, version), 25.0, "{:.1f}x", higher_is_better=True),
        _target("W1 version <= 1.5x read+xxh3 (warm)", ratio(version, read_hash), 1.5, "{:.2f}x"),
        _target("  reference: a version's least work, 2 processes (records 2p) / read+xxh3",
                ratio(med("w1", "read+xxh3+zstd+write+records 2p"), read_hash), None, "{:.2f}x"),
        _target("W1' incremental child <= 0.6 s", med("w1", "dagstore child W1'"), 0.6, "{:.2f} s"),
        _target("W1 get_local_copy, empty cache <= 1.3x cp -r", ratio(cold, cp_w1), 1.3, "{:.2f}x"),
        _target("W1 get_local_copy, warm <= 1 ms", _ms(med("w1", "dagstore get_local_copy warm")), 1.0, "{:.2f} ms"),
        _target("W2 version <= 1.5x cp -r", ratio(med("w2", "dagstore version"), cp_w2), 1.5, "{:.2f}x"),
        _target("W1 version peak RSS <= 120 MB", med("w1", "dagstore version", "rss_mb"), 120.0, "{:.0f} MB"),
        _target("W1 get_local_copy peak RSS <= 120 MB", med("w1", "dagstore get_local_copy cold", "rss_mb"), 120.0, "{:.0f} MB"),
    ]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _fmt_time(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.1f} ms" if v < 0.1 else f"{v:.3f} s"


def _vs_dvc(value: float, dvc: float | None, name: str) -> str:
    if not dvc or not value:
        return ""
    r = dvc / value
    return f"{r:.1f}x faster than {name}" if r >= 1 else f"{1 / r:.1f}x slower than {name}"


def table(ctx: Context, workloads: dict[str, dict[str, Any]], goals: list[dict[str, Any]] | None = None) -> str:
    """Human-readable medians with ratios vs ``cp -r`` and vs DVC, then the targets (default: the W1-W3 ones)."""
    med = _lookup(ctx)
    lines = []
    head = f"  {'operation':<40}{'n':>3} {'median':>11} {'wall':>11} {'CPU':>8} {'peak RSS':>9} {'x cp -r':>8}  vs DVC"
    for wname, metrics in ctx.results.items():
        meta = workloads.get(wname)
        title = f"{wname.upper()}" + (f"  ({meta['files']} files, {meta['bytes'] / 1e6:.1f} MB)" if meta else "")
        lines += ["", title, head]
        cp = med(wname, "cp -r")
        for metric, samples in metrics.items():
            value = median(samples)
            assert value is not None
            wall = median(samples, "wall") if any(s.op is not None for s in samples) else None
            rss, cpu = median(samples, "rss_mb"), median(samples, "cpu")
            x_cp = f"{value / cp:.2f}" if cp and wname != "manifest" else ""
            equiv = dvc_equivalent(metric)
            vs = _vs_dvc(value, med(wname, equiv), equiv) if equiv else ""
            rss_s = f"{rss:.0f} MB" if rss is not None else "-"
            wall_s = _fmt_time(wall) if wall else ""
            cpu_s = f"{cpu:.2f} s" if cpu is not None else "-"
            lines.append(f"  {metric:<40}{len(samples):>3} {_fmt_time(value):>11} {wall_s:>11} {cpu_s:>8} {rss_s:>9} {x_cp:>8}  {vs}")
    lines += ["", "Targets" + (" (smoke size: indicative only)" if ctx.size == "smoke" else "")]
    for t in targets(ctx) if goals is None else goals:
        lines.append(f"  [{t['status']:^6}] {t['target']:<48} measured {t['measured']:>10}  limit {t['limit']}")
    return "\n".join(lines)


def write_json(ctx: Context, path: Path, meta: dict[str, Any], goals: list[dict[str, Any]] | None = None) -> None:
    """Every sample, the medians, the targets (default: the W1-W3 ones), notes and errors."""
    results = {
        w: {
            m: {
                "median": median(s),
                "median_wall": median(s, "wall"),
                "median_rss_mb": median(s, "rss_mb"),
                "median_cpu": median(s, "cpu"),
                "samples": [asdict(x) for x in s],
            }
            for m, s in metrics.items()
        }
        for w, metrics in ctx.results.items()
    }
    doc = {**meta, "results": results, "targets": targets(ctx) if goals is None else goals, "notes": ctx.notes, "errors": ctx.errors}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=str))


def publish(ctx: Context, meta: dict[str, Any], path: Path, goals: list[dict[str, Any]] | None = None) -> None:
    """Print the table and the notes, write the JSON to ``path``, and say where it is."""
    print(table(ctx, meta["workloads"], goals))
    write_json(ctx, path, meta, goals)
    for text in ctx.notes:
        print(f"note: {text}")
    print(f"\nresults: {path}\nelapsed: {meta['elapsed_s']:.0f} s\ncommand: {meta['command']}")
