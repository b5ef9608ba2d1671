"""Synthetic manifest scale: serialize / load / merge-with-parent / diff of a 1M-entry state
(the columnar API of dagstore.core.state when present, else the earlier dict-based one).

Run as a child under dagstore's interpreter: ``manifest_scale.py [N]``; prints one JSON line.
This is a hook on dagstore's internal manifest module, whose API may change: every phase is
guarded, and an API it does not recognise gives ``{"available": false, "reason": ...}``.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

MASK128 = (1 << 128) - 1
STATE_API = ("Entry", "Delta", "state_to_bytes", "state_from_bytes", "apply_delta", "merge_states", "diff_states")


def _hash(i: int) -> str:
    """A cheap, deterministic, well-spread 128-bit hex string (stands in for xxh3-128)."""
    return f"{(i * 0x9E3779B97F4A7C15F39CC0605CEDC835) & MASK128:032x}"


def _path(i: int) -> str:
    return f"d{i % 100:02d}/s{(i // 100) % 50:02d}/f{i:07d}.{'bin' if i % 2 else 'txt'}"


def _reset_peak_rss() -> None:
    """Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """Peak RSS since the last reset (VmHWM), else since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(phases: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    phases[name] = time.perf_counter() - t0
    return out


def _parent(phases: dict[str, float], n: int, m: Any, serialize: Callable[[Any], bytes],
            load: Callable[[bytes], Any]) -> tuple[bytes, Any]:
    """Build n entries, serialize them, drop them and load the bytes back: what a reader holds
    (one loaded state) is what the peak RSS measures from here on."""
    built = _timed(phases, "build", lambda: {_path(i): m.Entry(_hash(i), 1024 + i % 7168, origin="parent") for i in range(n)})
    blob = _timed(phases, "serialize", lambda: serialize(built))
    del built
    gc.collect()
    _reset_peak_rss()
    parent = _timed(phases, "load", lambda: load(blob))
    if len(parent) != n:
        raise AssertionError(f"loaded {len(parent)} entries, expected {n}")
    return blob, parent


def _child_delta(m: Any, n: int) -> Any:
    """A W1'-like child of n entries: 1% modified, 1% removed, 1% added."""
    k = max(1, n // 100)
    return m.Delta(
        entries={
            **{_path(i): m.Entry(_hash(i + n), 2048) for i in range(0, k)},
            **{f"new/{_path(n + i)}": m.Entry(_hash(n + i), 4096) for i in range(k)},
        },
        removed={_path(i) for i in range(k, 2 * k)},
    )


def _bench_states(m: Any, n: int) -> dict[str, Any]:
    """dagstore.manifest as of its first version: Entry, Delta and the state functions."""
    phases: dict[str, float] = {}
    blob, parent = _parent(phases, n, m, m.state_to_bytes, m.state_from_bytes)
    delta = m.Delta.from_bytes(_timed(phases, "delta serialize", _child_delta(m, n).to_bytes))
    child = _timed(phases, "merge with parent", lambda: m.apply_delta(m.merge_states([parent]), delta, "child"))
    diff = _timed(phases, "diff", lambda: m.diff_states(parent, child))
    return {
        "api": "states",
        "manifest_bytes": len(blob),
        "diff": [len(diff.added), len(diff.removed), len(diff.modified)],
        "phases": phases,
    }


def _bench_columnar(n: int) -> dict[str, Any]:
    """dagstore.core.state (columnar states, format 3): the same phases on its API."""
    from dagstore.core import columns
    from dagstore.core import manifest as m
    from dagstore.core.state import State

    phases: dict[str, float] = {}
    blob, parent = _parent(phases, n, m, lambda built: State(columns.entries_table(built, origins=["parent"]), ["parent"]).to_bytes(),
                           State.from_bytes)
    delta = _child_delta(m, n)
    stored = _timed(phases, "delta serialize", lambda: columns.delta_bytes(delta))
    child = _timed(phases, "merge with parent", lambda: parent.apply(columns.read_manifest(stored, "delta"), "child"))
    diff = _timed(phases, "diff", lambda: parent.diff(child))
    return {"api": "columnar", "manifest_bytes": len(blob), "diff": [len(diff.added), len(diff.removed), len(diff.modified)], "phases": phases}


def bench_manifest_1m(n: int = 1_000_000) -> dict[str, Any]:
    """Time the manifest operations at ``n`` entries; report what is not available."""
    try:
        from dagstore.core import manifest as m
    except Exception as exc:  # the package may not exist or import yet
        return {"available": False, "reason": f"import dagstore.core.manifest: {exc!r}"}
    try:
        import importlib.util

        if importlib.util.find_spec("dagstore.core.state") is not None:
            result = _bench_columnar(n)
        elif all(hasattr(m, a) for a in STATE_API):
            result = _bench_states(m, n)
        else:
            return {"available": False, "reason": "dagstore.core.manifest API not recognised (adapt benchmarks/manifest_scale.py)"}
    except Exception as exc:
        return {"available": False, "reason": f"manifest API differs: {exc!r}"}
    result.update(available=True, entries=n, rss_mb=_peak_rss_mb())  # peak of load + merge + diff
    return result


def main(argv: list[str]) -> None:
    result = bench_manifest_1m(int(argv[1]) if len(argv) > 1 else 1_000_000)
    result["seconds"] = sum(result.get("phases", {}).values()) or None
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
