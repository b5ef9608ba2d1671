"""Export benchmark (issue #13): ``python -m benchmarks.exports [--images N] [--repeat R]``.

A generated detection set (N images of 1–100 KB, 5 boxes each on average, 80/20 train/val),
imported into a store once; then, alternating A B A B, each step from the same start (its earlier output
moved aside and removed at the end, so that no step follows a mass removal; page caches dropped, its inputs read once: for dagstore the version's local copy and
cached state, for the peers their source files; each tool's package imported before its clock), in child processes:
dagstore's YOLO_ULTRALYTICS and COCO exports to folders and YOLO_ULTRALYTICS to a zip, the
physical references (``cp -rl`` of the images plus writing the label files; ``zip -0 -qr`` of
the same output tree), Datumaro's ``datum convert`` from the COCO source, and the Label Studio
SDK converter on the equivalent Label Studio JSON (it writes labels only: dagstore's exports
with ``include_media=False`` stand beside it). Peak RSS of the YOLO and COCO folder exports at N
and ``--rss-factor`` × N. Medians and ratios go to stdout (markdown) and ``<out>/exports.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .measure import MeasureError, Sample, prepare, rmtree, run_timed

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SEED = 20261201
STEPS = ("yolo", "cplr", "coco", "yolo-labels", "coco-labels", "zip", "datum", "lsconv", "rss")


# -- data -------------------------------------------------------------------------------------


def generate(root: Path, n: int, max_kb: int = 100, label_studio: bool = True) -> dict[str, Any]:
    """COCO source (``images/<split>/``, ``annotations/instances_<split>.json``) and the same
    data as Label Studio JSON; deterministic. Image files are 1–``max_kb`` KB of random bytes
    behind a JPEG magic (no tool here decodes them: sizes are in the annotations). The Label
    Studio copy only with ``label_studio`` (the peak-RSS set needs none)."""
    done = root / "DONE"
    if done.exists():
        return json.loads(done.read_text())
    rmtree(root)
    rng = random.Random(SEED)
    classes = [f"class{i}" for i in range(10)]
    ls_tasks: list[dict[str, Any]] = []
    coco: dict[str, dict[str, Any]] = {}
    boxes = 0
    for i in range(n):
        split = "train" if i % 5 else "val"
        name = f"{i:07d}.jpg"
        f = root / "images" / split / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"\xff\xd8\xff\xe0" + rng.randbytes(rng.randint(1024, max_kb * 1024) - 4))
        w, h = rng.choice([(640, 480), (1280, 720), (800, 600)])
        doc = coco.setdefault(split, {"images": [], "annotations": [], "categories": [{"id": k + 1, "name": c} for k, c in enumerate(classes)]})
        img_id = len(doc["images"]) + 1
        doc["images"].append({"id": img_id, "file_name": name, "width": w, "height": h})
        results = []
        for _ in range(rng.randint(0, 10)):
            bw, bh = rng.uniform(5, w / 3), rng.uniform(5, h / 3)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            c = rng.randrange(len(classes))
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": img_id, "category_id": c + 1,
                                       "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2),
                                       "iscrowd": 0, "segmentation": []})
            results.append({"id": f"b{boxes}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
                            "original_width": w, "original_height": h, "image_rotation": 0,
                            "value": {"x": x * 100 / w, "y": y * 100 / h, "width": bw * 100 / w, "height": bh * 100 / h,
                                      "rotation": 0, "rectanglelabels": [classes[c]]}})
            boxes += 1
        if label_studio:
            ls_tasks.append({"id": i + 1, "data": {"image": f"/data/local-files/?d=images/{split}/{name}"},
                             "annotations": [{"id": i + 1, "result": results, "was_cancelled": False, "ground_truth": False}]})
    (root / "annotations").mkdir(exist_ok=True)
    for split, doc in coco.items():
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    (root / "ls").mkdir(exist_ok=True)
    (root / "ls" / "tasks.json").write_text(json.dumps(ls_tasks))
    labels = "".join(f'<Label value="{c}"/>' for c in classes)
    if label_studio:
        (root / "ls" / "config.xml").write_text(f'<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">{labels}</RectangleLabels></View>')
    info = {"images": n, "boxes": boxes, "bytes": sum(p.stat().st_size for p in (root / "images").rglob("*.jpg"))}
    done.write_text(json.dumps(info))
    return info


# -- children (one measured operation each; print {"seconds": …} last) ---------------------------


def child(argv: list[str]) -> None:
    op, args = argv[0], argv[1:]
    if op == "import":
        from dagstore import Dataset

        src, name = args
        ds = Dataset.create(name, "bench")
        ds.import_annotations(src, "coco", show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
        t0 = time.perf_counter()
        ds.get_local_copy(show_progress=False)
        print(json.dumps({"id": ds.id, "seconds": time.perf_counter() - t0}))
    elif op == "export":
        from dagstore import Dataset

        ds_id, fmt, target, *labels_only = args
        ds = Dataset.get(dataset_id=ds_id)
        from dagstore.export import formats  # noqa: F401 - imported before the clock, as the converter's package is
        t0 = time.perf_counter()
        rep = ds.export(fmt, target, include_media=not labels_only)
        print(json.dumps({"items": rep.total, "seconds": time.perf_counter() - t0}))
    elif op == "cplr":
        src, labels_json, dst = args
        labels = json.loads(Path(labels_json).read_text())
        t0 = time.perf_counter()
        subprocess.run(["cp", "-rl", src, dst], check=True)
        for rel, text in labels.items():
            p = os.path.join(dst, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        print(json.dumps({"seconds": time.perf_counter() - t0}))
    elif op == "lsconv":
        from label_studio_sdk.converter import Converter

        fmt, src, out = args
        conv = Converter(config=str(Path(src) / "config.xml"), project_dir=out, download_resources=False)
        t0 = time.perf_counter()
        getattr(conv, f"convert_to_{fmt}")(str(Path(src) / "tasks.json"), out, is_dir=False)
        print(json.dumps({"seconds": time.perf_counter() - t0}))
    else:
        raise SystemExit(f"unknown child op {op}")


# -- harness ----------------------------------------------------------------------------------


def peers_python(out: Path) -> Path | None:
    """The peers' venv (Datumaro), made from requirements-exports.txt on first use."""
    venv = out / "export-peers-venv"
    py = venv / "bin" / "python"
    stamp = venv / "STAMP"
    req = BENCH_DIR / "requirements-exports.txt"
    if stamp.exists() and stamp.read_text() == req.read_text():
        return py
    rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(req)], capture_output=True, text=True)
    if r.returncode:
        print(f"  [note] Datumaro not installed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    stamp.write_text(req.read_text())
    return py


class Bench:
    def __init__(self, out: Path, python: str):
        self.out = out
        self.python = python
        self.samples: dict[str, list[Sample]] = {}
        self.parked = out / "parked"  # earlier outputs, removed at the end of the run (``clear``)
        self.env = {"PYTHONPATH": str(REPO), "DAGSTORE_URL": str(out / "store"), "DAGSTORE_CACHE_DIR": str(out / "cache"),
                    "DAGSTORE_QUIET": "1", "HF_HUB_OFFLINE": "1"}

    def py(self, *args: str, python: str | None = None) -> Sample:
        return run_timed([python or self.python, "-m", "benchmarks.exports", "--child", *args], env=self.env, cwd=REPO, json_out=True)

    def clear(self, *paths: Path) -> None:
        """Remove a step's earlier output: a folder is moved aside (removed at the end of the run),
        a file removed. This file system (ext4 without a journal) skips inodes freed in the last
        minute when it allocates new ones (``recently_deleted``, checked for every free inode
        before the one it takes): steps that made 100,000 files seconds after the previous round's
        were removed took more CPU than in round 1 (the quiet run of 904be64: dagstore's YOLO export
        4.5 -> 5.8 s, ``cp -rl`` + labels 3.6 -> 5.6 s), so no step follows a removal."""
        for p in paths:
            if p.is_dir() and not p.is_symlink():
                self.parked.mkdir(parents=True, exist_ok=True)
                p.rename(self.parked / f"{len(os.listdir(self.parked))}")
            else:
                rmtree(p)

    def record(self, key: str, fn: Any, warm: list[Path], cleanup: list[Path]) -> None:
        """Measure one step from the same start every time: its output removed (``clear``), page
        caches dropped, its inputs (``warm``) read once."""
        self.clear(*cleanup)
        prepare(warm, cold=True)
        try:
            s = fn()
        except MeasureError as e:
            print(f"  [error] {key}: {e}", file=sys.stderr)
            return
        self.samples.setdefault(key, []).append(s)
        cpu = f"  cpu {s.cpu:.3f} s" if s.cpu is not None else ""
        s.info["load"] = os.getloadavg()[0]
        print(f"    {key:<44} {s.value:8.3f} s  (wall {s.wall:.3f} s){cpu}  rss {s.rss_mb or 0:.0f} MB  load {s.info['load']:.1f}", flush=True)

    def median(self, key: str) -> float | None:
        vals = [s.value for s in self.samples.get(key, [])]
        return statistics.median(vals) if vals else None

    def rss(self, key: str) -> float | None:
        vals = [s.rss_mb for s in self.samples.get(key, []) if s.rss_mb]
        return max(vals) if vals else None


def yolo_labels(src: Path) -> dict[str, str]:
    """The label files a YOLO export writes, computed in advance for the ``cp -rl`` reference."""
    out: dict[str, str] = {}
    for js in sorted((src / "annotations").glob("instances_*.json")):
        split = js.stem.split("_", 1)[1]
        doc = json.loads(js.read_text())
        lines: dict[int, list[str]] = {}
        for a in doc["annotations"]:
            lines.setdefault(a["image_id"], []).append(f"{a['category_id'] - 1} {' '.join('%.6f' % v for v in a['bbox'])}")
        for img in doc["images"]:
            out[f"labels/{split}/{img['file_name'][:-4]}.txt"] = "".join(x + "\n" for x in lines.get(img["id"], []))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.exports", description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--rss-factor", type=int, default=10, help="second size for the peak-RSS check (× --images)")
    p.add_argument("--rss-media-kb", type=int, default=2, help="largest image of the peak-RSS set, KB (media are linked: their size does not matter)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--only", type=lambda v: set(v.split(",")), default=set(STEPS), metavar="STEP,...",
                   help=f"run only these steps (default all): {', '.join(STEPS)}")
    p.add_argument("--python", default=str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable)
    p.add_argument("--out", type=Path, default=REPO / "bench-out" / "exports")
    a = p.parse_args(argv)
    if a.only - set(STEPS):
        p.error(f"unknown step {sorted(a.only - set(STEPS))[0]!r}; steps: {', '.join(STEPS)}")
    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    b = Bench(out, a.python)
    t0 = time.perf_counter()
    sizes = [a.images] + ([a.images * a.rss_factor] if a.rss_factor > 1 and "rss" in a.only else [])
    ids: dict[int, str] = {}
    local: dict[int, Path] = {}
    infos: dict[int, dict[str, Any]] = {}
    for n in sizes:
        kb = 100 if n == a.images else a.rss_media_kb
        src = out / (f"data-{n}" if kb == 100 else f"data-{n}-{kb}kb")
        print(f"generating {n} images ...", flush=True)
        infos[n] = generate(src, n, kb, label_studio=n == a.images)
        print(f"importing {n} images into the store ...", flush=True)
        s = b.py("import", str(src), f"det{n}")
        ids[n] = s.info["id"]
        local[n] = Path(subprocess.run([a.python, "-c", f"from dagstore import Dataset; print(Dataset.get(dataset_id={ids[n]!r}).get_local_copy(show_progress=False))"],
                                       env={**os.environ, **b.env}, capture_output=True, text=True, check=True).stdout.strip())
    state = {m: [local[m], out / "cache" / "meta" / "states" / f"{ids[m]}.arrow"] for m in sizes}  # an export's inputs: media and state
    n = a.images
    src, w = out / f"data-{n}", out / "work"
    labels_json = out / f"labels-{n}.json"
    labels_json.write_text(json.dumps(yolo_labels(src)))
    peers_py = None if a.no_peers or "datum" not in a.only else peers_python(out)
    datum = peers_py.parent / "datum" if peers_py else None
    for rep in range(a.repeat):
        print(f"round {rep + 1}/{a.repeat}", flush=True)
        if {"yolo", "zip"} & a.only:  # zip -0 reads the YOLO folder
            b.record("dagstore YOLO_ULTRALYTICS folder", lambda: b.py("export", ids[n], "YOLO_ULTRALYTICS", str(w / "yolo")), state[n], [w / "yolo"])
        if "cplr" in a.only:
            b.record("cp -rl + write labels", lambda: b.py("cplr", str(local[n]), str(labels_json), str(w / "cplr")), [local[n]], [w / "cplr"])
        if "coco" in a.only:
            b.record("dagstore COCO folder", lambda: b.py("export", ids[n], "COCO", str(w / "coco")), state[n], [w / "coco"])
        if "yolo-labels" in a.only:
            b.record("dagstore YOLO_ULTRALYTICS labels only", lambda: b.py("export", ids[n], "YOLO_ULTRALYTICS", str(w / "yolo-l"), "labels"), state[n], [w / "yolo-l"])
        if "coco-labels" in a.only:
            b.record("dagstore COCO labels only", lambda: b.py("export", ids[n], "COCO", str(w / "coco-l"), "labels"), state[n], [w / "coco-l"])
        if "zip" in a.only:
            b.record("dagstore YOLO_ULTRALYTICS zip", lambda: b.py("export", ids[n], "YOLO_ULTRALYTICS", str(w / "yolo.zip")), state[n], [w / "yolo.zip"])
            b.record("zip -0 -qr (same tree)", lambda: run_timed(["zip", "-0", "-qr", str(w / "plain.zip"), "."], cwd=w / "yolo"), [w / "yolo"], [w / "plain.zip"])
        yolo, coco = bool({"yolo", "yolo-labels"} & a.only), bool({"coco", "coco-labels"} & a.only)  # the peers of what runs
        if datum and rep == 0:
            if yolo:
                b.record("datum convert coco -> yolo_ultralytics", lambda: run_timed([str(datum), "convert", "-if", "coco_instances", "-i", str(src), "-f", "yolo_ultralytics", "-o", str(w / "dm-yolo"), "--", "--save-media"]), [src], [w / "dm-yolo"])
            if coco:
                b.record("datum convert coco -> coco", lambda: run_timed([str(datum), "convert", "-if", "coco_instances", "-i", str(src), "-f", "coco_instances", "-o", str(w / "dm-coco"), "--", "--save-media"]), [src], [w / "dm-coco"])
        if not a.no_peers and "lsconv" in a.only and rep == 0:
            if yolo:
                b.record("Label Studio converter -> yolo", lambda: b.py("lsconv", "yolo", str(src / "ls"), str(w / "ls-yolo")), [src / "ls"], [w / "ls-yolo"])
            if coco:
                b.record("Label Studio converter -> coco", lambda: b.py("lsconv", "coco", str(src / "ls"), str(w / "ls-coco")), [src / "ls"], [w / "ls-coco"])
    for m in sizes[1:]:
        b.record(f"dagstore YOLO_ULTRALYTICS folder ({m} images)", lambda: b.py("export", ids[m], "YOLO_ULTRALYTICS", str(w / "yolo-big")), state[m], [w / "yolo-big"])
        b.record(f"dagstore COCO folder ({m} images)", lambda: b.py("export", ids[m], "COCO", str(w / "coco-big")), state[m], [w / "coco-big"])
    rmtree(w, b.parked)
    report(b, a, infos, sizes, time.perf_counter() - t0)
    return 0


def report(b: Bench, a: argparse.Namespace, infos: dict[int, dict[str, Any]], sizes: list[int], total_s: float) -> None:
    n = a.images
    med = b.median
    lines = [f"Detection set: {infos[n]['images']} images ({infos[n]['bytes'] / 1e6:.0f} MB), {infos[n]['boxes']} boxes; "
             f"medians of {a.repeat} rounds (peers: 1 run); {os.cpu_count()} cores", "",
             "| step | median s | peak RSS MB | ratio |", "|---|---|---|---|"]

    def row(key: str, ratio: str = "") -> None:
        v = med(key)
        if v is not None:
            lines.append(f"| {key} | {v:.3f} | {b.rss(key) or 0:.0f} | {ratio} |")

    def r(x: str, y: str) -> str:
        vx, vy = med(x), med(y)
        return f"{vy / vx:.1f}× faster than {y}" if vx and vy and vy >= vx else (f"{vx / vy:.2f}× {y}" if vx and vy else "")

    row("dagstore YOLO_ULTRALYTICS folder", "; ".join(filter(None, [r("dagstore YOLO_ULTRALYTICS folder", "datum convert coco -> yolo_ultralytics"),
                                                                    r("dagstore YOLO_ULTRALYTICS folder", "Label Studio converter -> yolo"),
                                                                    r("dagstore YOLO_ULTRALYTICS folder", "cp -rl + write labels")])))
    row("dagstore COCO folder", "; ".join(filter(None, [r("dagstore COCO folder", "datum convert coco -> coco"),
                                                        r("dagstore COCO folder", "Label Studio converter -> coco"),
                                                        r("dagstore COCO folder", "cp -rl + write labels")])))
    row("dagstore YOLO_ULTRALYTICS labels only", r("dagstore YOLO_ULTRALYTICS labels only", "Label Studio converter -> yolo"))
    row("dagstore COCO labels only", r("dagstore COCO labels only", "Label Studio converter -> coco"))
    row("dagstore YOLO_ULTRALYTICS zip", r("dagstore YOLO_ULTRALYTICS zip", "zip -0 -qr (same tree)"))
    for key in ("cp -rl + write labels", "zip -0 -qr (same tree)", "datum convert coco -> yolo_ultralytics", "datum convert coco -> coco",
                "Label Studio converter -> yolo", "Label Studio converter -> coco"):
        row(key)
    rss_lines = []
    for m in sizes[1:]:
        for fmt in ("YOLO_ULTRALYTICS", "COCO"):
            row(f"dagstore {fmt} folder ({m} images)")
            big, small = b.rss(f"dagstore {fmt} folder ({m} images)"), b.rss(f"dagstore {fmt} folder")
            if big and small:
                rss_lines.append(f"peak RSS of the {fmt} folder export: {small:.0f} MB at {n} images, {big:.0f} MB at {m} "
                                 f"({(big / small - 1) * 100:+.0f} %; media of the {m}-image set are 1–{a.rss_media_kb} KB)")
    lines += ([""] + rss_lines) if rss_lines else []
    lines += ["", f"total {total_s:.0f} s; command: python -m benchmarks.exports --images {n} --rss-factor {a.rss_factor} "
              f"--rss-media-kb {a.rss_media_kb} --repeat {a.repeat}"]
    text = "\n".join(lines)
    print(text)
    doc = {"images": infos, "samples": {k: [s.__dict__ for s in v] for k, v in b.samples.items()}, "table": text}
    (a.out / "exports.json").write_text(json.dumps(doc, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
