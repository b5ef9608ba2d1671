"""One measurement of a version's state, in its own process: ``columnar_worker.py OP DIR N ANNOTATED``.

Runs under whichever ``dagstore`` is first on ``PYTHONPATH``: the columnar one (``core.state``)
or the previous release (states as dicts of ``Entry``, JSON manifests); both write the same
logical content. ``make`` writes a parent state, a child delta (1 % modified, 1 % removed, 1 %
added) and the child's state into DIR; every other OP loads what it needs, resets the peak RSS,
times the operation alone and prints ``{"seconds", "cpu", "rss_mb", "base_mb", "result"}`` as one JSON
line (``cpu``: the process's CPU seconds, which a loaded machine does not inflate as it does the time;
``base_mb``: the resident memory before the operation, the interpreter and imports, in ``rss_mb``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BLOCK = 10_000  # entries of one folder block; a version is N / BLOCK blocks "b0000/" ...
MASK = (1 << 128) - 1
SPLITS = ["train"] * 8 + ["val", "test"]


def _ann(i: int) -> dict[str, Any]:
    return {"labels": [f"c{i % 20}"], "media": {"height": 480, "kind": "image", "width": 640},
            "regions": [{"id": "r1", "label": f"c{i * 7 % 20}", "type": "box", "xywh": [1, 2, 30, 40]}], "split": SPLITS[i % 10]}


def _block(m: Any, annotated: bool) -> dict[str, Any]:
    """One block of entries (the same in every block but for the hash)."""
    out = {}
    for i in range(BLOCK):
        ann = m.encode_annotation(_ann(i)) if annotated else None
        out[f"d{i % 10}/s{i // 10 % 10}/f{i:05d}.jpg"] = m.Entry(f"{i * 0x9E3779B97F4A7C15F39CC0605CEDC835 & MASK:032x}", 1024 + i % 7168, annotation=ann)
    return out


def _columnar() -> bool:

    return importlib.util.find_spec("dagstore.core.state") is not None


def _delta(m: Any, n: int, blocks: int) -> Any:
    """1 % modified, 1 % removed, 1 % added, spread over the blocks."""
    per = max(1, BLOCK // 100)
    block = _block(m, False)
    names = sorted(block)
    entries, removed = {}, set()
    for b in range(blocks):
        for k in range(per):
            p = names[k * 100]
            entries[f"b{b:04d}/{p}"] = block[p]._replace(hash=f"{b:012x}{k:020x}")
            removed.add(f"b{b:04d}/{names[k * 100 + 50]}")
            entries[f"b{b:04d}/new/{k:05d}.jpg"] = m.Entry(f"{b + 1:012x}{k:020x}", 4096)
    return m.Delta(entries=entries, removed=removed)


def make(out: Path, n: int, annotated: bool) -> dict[str, Any]:
    from dagstore.core import manifest as m

    blocks = max(1, n // BLOCK)
    block = _block(m, annotated)
    delta = _delta(m, n, blocks)
    if _columnar():
        import pyarrow as pa
        import pyarrow.compute as pc

        from dagstore.core import columns
        from dagstore.core.state import State

        one = columns.entries_table({p: e._replace(origin="parent") for p, e in block.items()}, origins=["parent"])
        parts = []
        for b in range(blocks):  # the same block under another folder, other hashes
            paths = pc.binary_join_element_wise(pa.scalar(f"b{b:04d}/"), one["path"], "")
            hashes = pa.array([(b.to_bytes(4, "big") + h[4:]) for h in one["hash"].to_pylist()], columns.HASH) if b else one["hash"]
            parts.append(one.set_column(0, "path", paths).set_column(1, "hash", hashes))
        _seal(out / "parent.state", State(pa.concat_tables(parts).combine_chunks(), ["parent"]).to_bytes())
        del parts, one
        parent = _open(out / "parent.state")  # mapped: the child is built beside it, not beside a copy
        (out / "child.delta").write_bytes(columns.delta_bytes(delta))
        child = parent.apply(columns.read_manifest((out / "child.delta").read_bytes(), "delta"), "child")
        _seal(out / "child.state", child.to_bytes())
        return {"entries": len(parent), "child": len(child)}
    state = {f"b{b:04d}/{p}": e._replace(origin="parent", hash=(f"{b:08x}" + e.hash[8:]) if b else e.hash)
             for b in range(blocks) for p, e in block.items()}
    (out / "parent.state").write_bytes(m.state_to_bytes(state))
    (out / "child.delta").write_bytes(delta.to_bytes())
    child = m.apply_delta(dict(state), delta, "child")
    (out / "child.state").write_bytes(m.state_to_bytes(child))
    return {"entries": len(state), "child": len(child)}


def _seal(path: Path, data: bytes) -> None:
    """Write a state file as the cache does (its fixed mtime marks it unchanged)."""
    from dagstore.core.cache.files import BLOB_MTIME_NS

    path.write_bytes(data)
    os.utime(path, ns=(time.time_ns(), BLOB_MTIME_NS))


def _open(path: Path) -> Any:
    if _columnar():
        from dagstore.core.state import State

        return State.open(str(path))
    from dagstore.core import manifest as m

    return m.state_from_bytes(path.read_bytes())


def _labels_of(text: str) -> tuple[Any, set[str]]:
    from dagstore.core.manifest import decode_annotation

    a = decode_annotation(text)
    return a.get("split"), set(a.get("labels") or ()) | {r["label"] for r in a.get("regions") or ()}


def _facets(st: Any) -> Any:
    if _columnar():
        f = st.facets()
        return [len(f["splits"]), len(f["classes"])]
    splits: dict[str, int] = {}
    classes: dict[str, int] = {}
    for e in st.values():  # what the previous release had to do: decode every annotation
        if e.annotation is not None:
            split, labels = _labels_of(e.annotation)
            splits[split] = splits.get(split, 0) + 1
            for c in labels:
                classes[c] = classes.get(c, 0) + 1
    return [len(splits), len(classes)]


def _filter(st: Any) -> int:
    if _columnar():
        return len(st.filter_paths(label="c3"))
    return len([p for p, e in st.items() if e.annotation is not None and "c3" in _labels_of(e.annotation)[1]])


def _prefix(st: Any) -> int:
    if _columnar():
        return len(st.paths("b0000/d3"))
    return len(sorted(p for p in st if p.startswith("b0000/d3/")))


def _merge(out: Path, save: bool = False) -> Callable[[], Any]:
    """A child's delta over its parent's state; with ``save``, also the state file the cache
    keeps (every column of the merged state gathered and written)."""
    parent = _open(out / "parent.state")
    data = (out / "child.delta").read_bytes()
    if _columnar():
        from dagstore.core import columns

        def child() -> Any:
            st = parent.apply(columns.read_manifest(data, "delta"), "child")
            if not save:
                return len(st)
            if not hasattr(st, "write"):  # before the cache file was written as it is made
                return len(st.to_bytes())
            st.write(str(out / "merged.state"))  # as the cache writes it
            return (out / "merged.state").stat().st_size


        return child
    from dagstore.core import manifest as m

    def merged() -> Any:
        st = m.apply_delta(m.merge_states([parent]), m.Delta.from_bytes(data), "child")
        return len(m.state_to_bytes(st)) if save else len(st)

    return merged


def _diff(out: Path) -> Callable[[], Any]:
    parent, child = _open(out / "parent.state"), _open(out / "child.state")
    if _columnar():
        return lambda: [len(x) for x in (lambda d: (d.added, d.removed, d.modified))(parent.diff(child))]
    from dagstore.core import manifest as m

    return lambda: [len(x) for x in (lambda d: (d.added, d.removed, d.modified))(m.diff_states(parent, child))]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))


def _peak_mb() -> float:
    return _status_mb("VmHWM")


def _warm() -> None:
    """Import what the operations use, outside the timed region (imports are not the subject)."""
    import importlib

    for name in ("dagstore.core.manifest", "dagstore.core.state", "dagstore.core.columns", "pyarrow.compute", "numpy"):
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) is not None and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def measure(op: str, out: Path) -> dict[str, Any]:
    """Time one operation after its inputs are loaded (except ``open``, which is the load)."""
    import gc

    prepared: dict[str, Callable[[], Callable[[], Any]]] = {
        "open": lambda: lambda: len(_open(out / "parent.state")),
        "merge": lambda: _merge(out),
        "merge+save": lambda: _merge(out, save=True),
        "diff": lambda: _diff(out),
        "facets": lambda: (lambda st: lambda: _facets(st))(_open(out / "parent.state")),
        "filter": lambda: (lambda st: lambda: _filter(st))(_open(out / "parent.state")),
        "prefix": lambda: (lambda st: lambda: _prefix(st))(_open(out / "parent.state")),
    }
    _warm()
    fn = prepared[op]()
    gc.collect()
    _reset_peak()
    base = _status_mb("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_mb": _peak_mb(), "base_mb": base, "result": result}


def main(argv: list[str]) -> None:
    op, out = argv[1], Path(argv[2])
    if op == "make":
        out.mkdir(parents=True, exist_ok=True)
        print(json.dumps(make(out, int(argv[3]), argv[4] == "1")))
    else:
        print(json.dumps(measure(op, out)))


if __name__ == "__main__":
    main(sys.argv)
