"""UI benchmark (issue #21): ``python -m benchmarks.ui [--files N] [--out DIR]``.

A store with a real version of 200 packed 640x480 JPEGs and a child of N files (default
1,000,000), each with an annotation (two boxes, a split); the child's manifest is generated
directly (the way ``manifest_scale.py`` builds states: ``Entry`` tuples, no files on disk), its
entries pointing at the 200 real images so every thumbnail is a real ranged read of a pack.
Then ``dagstore ui`` is started as a subprocess, as a user would, and timed over HTTP:

- on a fresh cache, the version's columnar state built from its manifest (``Store.state``, the
  store's job), then the UI's indexing child (``python -m dagstore.ui.indexer``) on it: time
  and peak RSS of each,
- the one-time indexing of the version by the server on another fresh cache (both steps, in
  its child),
- the first page of the file table and of the grid, facet counts under a filter,
- a thumbnail of a packed image cold (ranged read + decode + resize) and warm,
- the server's peak RSS (VmHWM) after all of it, and the largest response (never the manifest),
- the size of the index file.

Prints one JSON document (and writes it to ``<out>/ui.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["car", "person", "bike", "dog", "cat", "truck", "bus", "tree"]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _images(folder: Path, n: int) -> None:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        im = Image.new("RGB", (640, 480), ((i * 37) % 255, (i * 91) % 255, (i * 53) % 255))
        d = ImageDraw.Draw(im)
        for k in range(12):
            d.ellipse([(k * 53 + i) % 600, (k * 41) % 440, (k * 53 + i) % 600 + 40, (k * 41) % 440 + 40], fill=(255 - k * 20, k * 20, 128))
        im.save(folder / f"src_{i:03d}.jpg", quality=85)


def build_store(root: Path, n: int) -> tuple[str, str]:
    """(store URL, id of the N-file version)."""
    from dagstore import Dataset, Store
    from dagstore.core.manifest import Delta, Entry, encode_annotation
    from dagstore.core.records import Draft, VersionRecord

    store_dir = root / "store"
    st = Store(str(store_dir), cache_dir=str(root / "gen-cache"))
    _images(root / "src", 200)
    base = Dataset.create("street", "bench", store=st, classes=CLASSES)
    base.add_files(root / "src", show_progress=False)
    base.upload(show_progress=False)
    base.finalize()
    files = base.file_entries
    t0 = time.perf_counter()
    entries: dict[str, Entry] = {}
    for i in range(n):
        fe = files[i % len(files)]
        ann = {"split": ("train", "val", "test")[i % 10 // 8 if i % 10 < 9 else 2], "media": {"kind": "image", "width": 640, "height": 480},
               "regions": [{"type": "box", "xywh": [10 + i % 300, 20, 120, 90], "label": CLASSES[i % 8], "id": "a"},
                           {"type": "box", "xywh": [300, 200 + i % 100, 80, 60], "label": CLASSES[(i * 7 + 3) % 8], "id": "b"}]}
        entries[f"cam{i % 100:02d}/day{(i // 100) % 50:02d}/f{i:07d}.jpg"] = Entry(fe.hash, fe.size, annotation=encode_annotation(ann))
    rec = VersionRecord(id=uuid.uuid4().hex, name="street", project="bench", version="2.0.0", parents=(base.id,),
                        created=time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime()), annotations=dict(base.record.annotations),
                        stats={"files": n, "bytes": sum(e.size for e in entries.values()), "added": n, "modified": 0, "removed": 200},
                        origin="pipeline", version_explicit=True)
    delta = Delta(entries=entries, removed={f.relative_path for f in files})
    del entries
    final = st.finalize(Draft(rec, delta))
    print(f"generated the {n}-file manifest and record in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return str(store_dir), final.id


def _get(url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with OPENER.open(url, timeout=3600) as r:
        body = r.read()
    return time.perf_counter() - t0, body


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


HWM = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"


def _child(code: str, args: list[str], stdin: bytes) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a Python child running ``code`` (it prints its own VmHWM:
    a forked child's ``ru_maxrss`` would include this process's)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", f"{code}\n{HWM}", *args], input=stdin, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode:
        raise RuntimeError(f"{code} failed: {proc.stderr.decode()[-2000:]}")
    return time.perf_counter() - t0, int(proc.stdout.split()[-1]) / 1024


def indexer_alone(store_url: str, vid: str, root: Path) -> dict[str, Any]:
    """On a cache of their own: the version's columnar state built from its manifest (the
    store's job, shared with every command), then the UI's indexing child on that cache."""
    cache = root / "indexer-cache"
    state = "import sys; from dagstore import Store; Store(sys.argv[1], cache_dir=sys.argv[2]).state(sys.argv[3])"
    s_time, s_rss = _child(state, [store_url, str(cache), vid], b"")
    settings = {"url": store_url, "storage_options": {}, "cache_dir": str(cache), "version_id": vid, "target": str(cache / "alone.arrow")}
    i_time, i_rss = _child("from dagstore.ui.indexer import main; assert main() == 0", [], json.dumps(settings).encode())
    return {"state build (store.state, once per cache) s": s_time, "state build peak RSS MB": s_rss,
            "indexing child on a built state s": i_time, "indexing child peak RSS MB": i_rss,
            "index file MB": (cache / "alone.arrow").stat().st_size / 1e6}


def _rss_now(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        kb = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("RssAnon", "RssFile"))}
    return f"{kb['RssAnon'] / 1024:.0f} + {kb['RssFile'] / 1024:.0f}"


def measure(store_url: str, vid: str, root: Path, repeat: int) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTORE_CACHE_DIR": str(root / "server-cache")}
    exe = Path(sys.executable).with_name("dagstore")
    proc = subprocess.Popen([str(exe), "ui", "--port", str(port), "--store", store_url], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                _get(f"{base}/static/ui.css")
                break
            except OSError:
                time.sleep(0.1)
        out: dict[str, Any] = {"server_pid": proc.pid}
        out["datasets page s"] = _get(f"{base}/datasets")[0]
        out["indexing s (once per version)"] = _get(f"{base}/versions/{vid}")[0]
        runs: dict[str, list[float]] = {}
        largest = 0
        urls = {"table first page": f"{base}/versions/{vid}/files", "grid first page": f"{base}/versions/{vid}/grid",
                "table page 5000 (offset 249,950)": f"{base}/versions/{vid}/files?page=5000",
                "facets, filter split=val": f"{base}/versions/{vid}/files.json?split=val&size=25",
                "facets, filter split=train (80% of the files)": f"{base}/versions/{vid}/files.json?split=train&size=25",
                "facets, filter class=dog + prefix cam07/": f"{base}/versions/{vid}/files.json?label=dog&q=cam07/&size=25",
                "glob search *f00012*.jpg (again: its rows are remembered)": f"{base}/versions/{vid}/files.json?q=*f00012*.jpg&size=25"}
        out["glob search *f00013*.jpg, first time (one scan of the paths) s"] = _get(f"{base}/versions/{vid}/files.json?q=*f00013*.jpg&size=25")[0]
        for name, url in urls.items():
            for _ in range(repeat):
                dt, body = _get(url)
                runs.setdefault(name, []).append(dt)
                largest = max(largest, len(body))
        thumb = f"{base}/versions/{vid}/thumb?path=cam17/day00/f0000017.jpg"
        out["thumbnail cold s (ranged read + decode + resize)"] = _get(thumb)[0]
        runs["thumbnail warm"] = [_get(thumb)[0] for _ in range(max(repeat, 5))]
        out.update({f"{k} s (median of {len(v)})": statistics.median(v) for k, v in runs.items()})
        out["largest response bytes"] = largest
        out["server peak RSS MB"] = _peak_rss_mb(proc.pid)
        out["server RSS now MB (anonymous + mapped files)"] = _rss_now(proc.pid)
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench-out" / "ui"))
    args = ap.parse_args(argv)
    root = Path(args.out)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    store_url, vid = build_store(root, args.files)
    result = {"files": args.files, **indexer_alone(store_url, vid, root), **measure(store_url, vid, root, args.repeat)}
    (root / "ui.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
