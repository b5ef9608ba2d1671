"""Annotation benchmarks (issue #12), in one run:

1. import of a generated COCO detection set with its images: dagstore ``import_annotations``
   (+ upload/finalize) beside Datumaro's ``Dataset.import_from(..., "coco_instances")`` and
   the physical reference (``json.load`` + xxh3-128 of every image);
2. a child that relabels 1% of the images: time and bytes of content uploaded;
3. the manifest with an annotation on every entry: load time and peak RSS (and the same
   manifest without annotations, for reference).

    python -m benchmarks.annotations [--images 50000] [--boxes 5] [--entries 1000000] [--repeat 3]

Each measurement runs in its own child process (peak RSS = VmHWM of that child). Datumaro runs
from the export benchmark's peers venv, ``bench-out/exports/export-peers-venv`` (made on first
use from ``requirements-exports.txt``: its dependencies clash with ours).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from .exports import peers_python

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "annotations"

_RSS = textwrap.dedent(
    """
    def _peak_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    import resource
    def _cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    def _reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
    """
)

GEN = _RSS + textwrap.dedent(
    """
    import io, json, os, random, sys
    from PIL import Image
    root, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(12)
    os.makedirs(f"{root}/images/train", exist_ok=True)
    os.makedirs(f"{root}/annotations", exist_ok=True)
    cats = [{"id": i + 1, "name": f"class{i:02d}"} for i in range(20)]
    images, anns = [], []
    base = Image.new("RGB", (64, 48))
    for i in range(n):
        w, h = 64, 48
        base.putpixel((i % 64, (i // 64) % 48), (i % 251, (i // 251) % 251, (i // 63001) % 251))
        name = f"{i:07d}.jpg"
        base.save(f"{root}/images/train/{name}", quality=90)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for j in range(k):
            bw, bh = rnd.uniform(2, 30), rnd.uniform(2, 20)
            x, y = rnd.uniform(0, w - bw), rnd.uniform(0, h - bh)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": rnd.randint(1, 20),
                         "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2),
                         "iscrowd": 0, "segmentation": []})
    with open(f"{root}/annotations/instances_train.json", "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": cats}, f)
    """
)

PHYSICAL = _RSS + textwrap.dedent(
    """
    import json, os, sys, time, xxhash
    root = sys.argv[1]
    t0, c0 = time.perf_counter(), _cpu()
    with open(f"{root}/annotations/instances_train.json", "rb") as f:
        doc = json.load(f)
    for im in doc["images"]:
        with open(f"{root}/images/train/{im['file_name']}", "rb") as f:
            xxhash.xxh3_128_hexdigest(f.read())
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c0, "rss_mb": _peak_mb()}))
    """
)

DAGSTORE = _RSS + textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from dagstore import Dataset, Store
    root, store_dir = sys.argv[1], sys.argv[2]
    st = Store(store_dir, cache_dir=store_dir + "-cache")
    out = {}
    t0, c0 = time.perf_counter(), _cpu()
    ds = Dataset.create("coco", "bench", store=st)
    report = ds.import_annotations(root, "coco", show_progress=False)
    out["import_s"] = time.perf_counter() - t0
    out["import_cpu_s"] = _cpu() - c0
    out["import_rss_mb"] = _peak_mb()
    t1 = time.perf_counter()
    ds.upload(show_progress=False)
    ds.finalize()
    out["upload_finalize_s"] = time.perf_counter() - t1
    out["items"] = report.total
    out["regions"] = sum(len(a.get("regions", [])) for _, a in ds.iter_annotations())
    def content_bytes():
        return sum(p.stat().st_size for d in ("packs", "objects") for p in Path(store_dir, d).rglob("*") if p.is_file())
    before = content_bytes()
    paths = [p for p, _ in ds.iter_annotations()][:: 100]
    t2 = time.perf_counter()
    child = Dataset.create("coco", "bench", parent_datasets=[ds], store=st)
    changes = {}
    for p in paths:
        ann = child.get_annotation(p)
        ann["regions"][0]["label"] = "class00" if ann["regions"][0]["label"] != "class00" else "class01"
        changes[p] = ann
    child.set_annotations(changes)  # one draft write; set_annotation per file writes the draft each time
    child.upload(show_progress=False)
    child.finalize()
    out["relabel_s"] = time.perf_counter() - t2
    out["relabel_items"] = len(paths)
    out["relabel_content_bytes"] = content_bytes() - before
    out["relabel_packs"] = len(child.record.packs) + len(child.record.objects)
    out["relabel_modified"] = len(child.list_modified_files())
    out["rss_mb"] = _peak_mb()
    print(json.dumps(out))
    """
)

DATUMARO = _RSS + textwrap.dedent(
    """
    import json, sys, time
    import datumaro as dm
    root = sys.argv[1]
    t0, c0 = time.perf_counter(), _cpu()
    ds = dm.Dataset.import_from(root, "coco_instances")
    items = regions = 0
    for item in ds:
        items += 1
        regions += len(item.annotations)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - c0, "rss_mb": _peak_mb(), "items": items, "regions": regions}))
    """
)

MANIFEST = _RSS + textwrap.dedent(
    """
    import gc, json, sys, time
    from dagstore.core import columns, manifest as m
    from dagstore.core.state import State
    mode, path, n, annotated = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    def ann(i):
        return m.encode_annotation({"split": "train", "media": {"kind": "image", "width": 640, "height": 480},
                                    "regions": [{"id": "r1", "type": "box", "label": f"class{i % 20:02d}",
                                                 "xywh": [i % 600, i % 400, 32.5, 20.25]}]}) if annotated else None
    if mode == "write":
        st = {f"d{i % 100:02d}/s{(i // 100) % 50:02d}/f{i:07d}.jpg": m.Entry(f"{i * 0x9E3779B97F4A7C15:032x}"[-32:], 1024 + i % 7168, annotation=ann(i), origin="parent")
              for i in range(n)}
        data = State(columns.entries_table(st, origins=["parent"]), ["parent"]).to_bytes()
        open(path, "wb").write(data)
        print(json.dumps({"bytes": len(data)}))
    else:
        data = open(path, "rb").read()
        gc.collect()
        _reset_peak()
        t0 = time.perf_counter()
        st = State.from_bytes(data)
        dt = time.perf_counter() - t0
        assert len(st) == n
        print(json.dumps({"seconds": dt, "rss_mb": _peak_mb(), "entries": len(st)}))
    """
)


def _child(python: str, code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    res = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _datumaro_python() -> str:
    """The export benchmark's peers venv (Datumaro from requirements-exports.txt), made on first use."""
    py = peers_python(ROOT / "bench-out" / "exports")
    if py is None:
        raise SystemExit("Datumaro could not be installed into the peers venv (see benchmarks/requirements-exports.txt)")
    return str(py)


def _median(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def run(images: int, boxes: int, entries: int, repeat: int) -> dict[str, Any]:
    py = sys.executable
    env = {"PYTHONPATH": str(ROOT)}
    data = OUT / f"coco-{images}x{boxes}"
    if not (data / "annotations" / "instances_train.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating {images} images, {images * boxes} boxes...", file=sys.stderr)
        _child(py, GEN + "\nprint('{}')", str(data), str(images), str(boxes))
    dm_py = _datumaro_python()
    phys, ours, peer = [], [], []
    for r in range(repeat):  # A B C A B C: physical, dagstore, Datumaro alternate
        phys.append(_child(py, PHYSICAL, str(data)))
        with tempfile.TemporaryDirectory(prefix="ann-bench-") as tmp:
            ours.append(_child(py, DAGSTORE, str(data), f"{tmp}/store", env=env))
        peer.append(_child(dm_py, DATUMARO, str(data)))
        print(f"round {r + 1}: physical {phys[-1]['seconds']:.2f}s, dagstore {ours[-1]['import_s']:.2f}s "
              f"({ours[-1]['import_cpu_s']:.2f} CPU-s), datumaro {peer[-1]['seconds']:.2f}s ({peer[-1]['cpu_s']:.2f} CPU-s), "
              f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    man: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ann-manifest-") as tmp:
        for annotated in ("1", "0") if entries else ():
            path = f"{tmp}/state-{annotated}"
            size = _child(py, MANIFEST, "write", path, str(entries), annotated, env=env)["bytes"]
            loads = [_child(py, MANIFEST, "load", path, str(entries), annotated, env=env) for _ in range(repeat)]
            man["annotated" if annotated == "1" else "plain"] = {
                "bytes": size, "load_s": _median(loads, "seconds"), "rss_mb": _median(loads, "rss_mb")}
    t_phys, t_ours, t_dm = _median(phys, "seconds"), _median(ours, "import_s"), _median(peer, "seconds")
    return {
        "images": images, "boxes": images * boxes, "rounds": repeat,
        "physical": {"seconds": t_phys, "cpu_s": _median(phys, "cpu_s"), "rss_mb": _median(phys, "rss_mb")},
        "dagstore": {"import_s": t_ours, "import_cpu_s": _median(ours, "import_cpu_s"), "upload_finalize_s": _median(ours, "upload_finalize_s"),
                     "rss_mb": _median(ours, "import_rss_mb"), "items": ours[0]["items"], "regions": ours[0]["regions"]},
        "datumaro": {"seconds": t_dm, "cpu_s": _median(peer, "cpu_s"), "rss_mb": _median(peer, "rss_mb"), "items": peer[0]["items"], "regions": peer[0]["regions"]},
        "ratios": {"datumaro_over_dagstore": t_dm / t_ours, "dagstore_over_physical": t_ours / t_phys,
                   "datumaro_over_dagstore_cpu": _median(peer, "cpu_s") / _median(ours, "import_cpu_s")},
        "load_average": os.getloadavg()[0],
        "relabel_1pct": {"items": ours[0]["relabel_items"], "seconds": _median(ours, "relabel_s"),
                         "content_bytes_uploaded": max(s["relabel_content_bytes"] for s in ours),
                         "new_packs_or_objects": max(s["relabel_packs"] for s in ours),
                         "modified_reported": ours[0]["relabel_modified"]},
        "manifest": {"entries": entries, **man},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--boxes", type=int, default=5, help="boxes per image")
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries of the annotated manifest (0: skip that part)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    res = run(a.images, a.boxes, a.entries, a.repeat)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(res, indent=1))
    d, p, m = res["dagstore"], res["datumaro"], res["manifest"]
    print(f"COCO import, {res['images']} images / {res['boxes']} boxes (median of {res['rounds']}):")
    print(f"  physical (json.load + xxh3 of images) {res['physical']['seconds']:7.2f} s  {res['physical']['cpu_s']:6.2f} CPU-s  {res['physical']['rss_mb']:6.0f} MB")
    print(f"  dagstore import_annotations           {d['import_s']:7.2f} s  {d['import_cpu_s']:6.2f} CPU-s  {d['rss_mb']:6.0f} MB  (+ upload/finalize {d['upload_finalize_s']:.2f} s)")
    print(f"  Datumaro import_from + iterate        {p['seconds']:7.2f} s  {p['cpu_s']:6.2f} CPU-s  {p['rss_mb']:6.0f} MB")
    print(f"  Datumaro / dagstore {res['ratios']['datumaro_over_dagstore']:.2f}x (CPU {res['ratios']['datumaro_over_dagstore_cpu']:.2f}x)   "
          f"dagstore / physical {res['ratios']['dagstore_over_physical']:.2f}x   load average at the end {res['load_average']:.1f}")
    r = res["relabel_1pct"]
    print(f"child relabelling {r['items']} images: {r['seconds']:.3f} s, {r['content_bytes_uploaded']} bytes of content uploaded, "
          f"{r['new_packs_or_objects']} new packs/objects, {r['modified_reported']} reported modified")
    for k in ("annotated", "plain") if m["entries"] else ():
        print(f"manifest {m['entries']} entries ({k}): load {m[k]['load_s']:.2f} s, peak RSS {m[k]['rss_mb']:.0f} MB, {m[k]['bytes'] / 1e6:.1f} MB on disk")


if __name__ == "__main__":
    main()
