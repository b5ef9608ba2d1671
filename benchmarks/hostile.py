"""Hostile-input run and kill sweep (issue #10): figures for the closing note.

    .venv/bin/python -m benchmarks.hostile                  # both parts (~3-5 minutes on 2 cores)
    .venv/bin/python -m benchmarks.hostile --part inputs    # the catalog of hostile objects only
    .venv/bin/python -m benchmarks.hostile --part kills --kills 6

**Inputs**: every case of ``tests/hostile_world.py`` is written into a fresh copy of a real
local store with six versions; then the victim is read (get, list_files, get_local_copy,
read_bytes), every other version is listed, looked up by name and read back, and
``Store.verify(read_data=True)`` runs. A case counts as *clear* when the victim's failure is a
``DagstoreError`` with a one-line message, *hidden* when any other version failed to list or
read, and *leftover* when a temp file remained.

**Disk**: the store, then the cache, on a 16 MiB tmpfs filled to leave 0 B to 15 MiB free
(root only: the runner mounts it).

**Kills**: each operation (version, upload, finalize, sync, get, mutable copy, squash, gc)
runs in a child process killed with SIGKILL at evenly spaced moments of its measured
duration. After each kill: ``verify`` must be clean, every version that existed before must
read back byte for byte, no listed version may be partial, and running the operation again
must succeed. Temp files left by the kill are counted, then reclaimed by the cache clean-up
and ``gc``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


# -- part 1: hostile inputs ---------------------------------------------------------------------


def _classify(fn: Any) -> tuple[str, str]:
    """('ok'|'clear'|'raw', message) of calling fn."""
    from dagstore import DagstoreError

    try:
        fn()
        return "ok", ""
    except DagstoreError as exc:
        msg = str(exc)
        return ("clear" if msg and "\n" not in msg else "raw"), f"{type(exc).__name__}: {msg[:160]}"
    except Exception as exc:  # noqa: BLE001 - what we are counting
        return "raw", f"{type(exc).__name__}: {str(exc)[:160]}"


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def run_inputs(work: Path) -> dict[str, Any]:
    from dagstore import Dataset
    from hostile_world import CASES, PROJECT, build_world, copy_world, expected_state
    from helpers import read_tree

    template = work / "template"
    template.mkdir(parents=True)
    build_world(template)
    rows = []
    for i, case in enumerate(CASES):
        w = copy_world(template, work / f"case{i}")
        case.apply(w)
        before = _snapshot(w.store_dir)
        victim = w.ids[case.victim]

        def read_victim() -> None:
            ds = Dataset.get(dataset_id=victim, store=w.store())
            ds.list_files()
            got = read_tree(ds.get_local_copy(show_progress=False))
            if case.error is None and got != expected_state(case.victim):
                raise AssertionError("wrong content")

        def read_in_place() -> None:
            ds = Dataset.get(dataset_id=victim, store=w.store())
            for p in ds.list_files():
                ds.read_bytes(p)

        kind, msg = _classify(read_victim)
        kind2, msg2 = _classify(read_in_place)
        hidden = []
        broken = {case.victim} | ({"W"} if case.id == "record-parent-cycle" else set())
        for k in ("A", "B", "G", "W"):
            if k in broken:
                continue
            try:
                assert read_tree(Dataset.get(dataset_id=w.ids[k], store=w.store()).get_local_copy(show_progress=False)) == expected_state(k)
            except Exception as exc:  # noqa: BLE001
                hidden.append(f"read {k}: {type(exc).__name__}")
        for what, fn in (
            ("list", lambda: Dataset.list_datasets(store=w.store(), only_completed=False)),
            ("get-by-name", lambda: Dataset.get(dataset_project=PROJECT, dataset_name="alpha", store=w.store())),
            ("get-gamma", lambda: Dataset.get(dataset_project=PROJECT, dataset_name="gamma", store=w.store())),
        ):
            k3, m3 = _classify(fn)
            if k3 != "ok":
                hidden.append(f"{what}: {m3}")
        try:
            problems = w.store().verify(read_data=True)
            verify = "found" if problems else "missed"
        except Exception as exc:  # noqa: BLE001
            verify = f"crashed: {type(exc).__name__}"
        after = _snapshot(w.store_dir)
        changed = sorted(set(before.items()) ^ set(after.items()))
        rows.append({
            "case": case.id, "expected": case.error.__name__ if case.error else "readable",
            "read": kind, "read_message": msg, "read_in_place": kind2, "in_place_message": msg2,
            "others_hidden": hidden, "verify": verify, "temps": w.temps(), "store_changed": [c[0] for c in changed],
        })
        shutil.rmtree(work / f"case{i}", ignore_errors=True)
    expected_ok = {r["case"] for r in rows if r["expected"] == "readable"}

    def good(r: dict[str, Any]) -> bool:
        return (r["read"] == "ok") if r["case"] in expected_ok else (r["read"] == "clear")

    summary = {
        "inputs": len(rows),
        "clear_or_readable": sum(good(r) for r in rows),
        "raw_errors": sum(r["read"] == "raw" or r["read_in_place"] == "raw" for r in rows),
        "silently_wrong": sum(r["case"] not in expected_ok and r["read"] == "ok" for r in rows),
        "hid_other_versions": sum(bool(r["others_hidden"]) for r in rows),
        "verify_found": sum(r["verify"] == "found" for r in rows),
        "verify_crashed": sum(r["verify"].startswith("crashed") for r in rows),
        "left_temps": sum(bool(r["temps"]) for r in rows),
        "store_changed_by_reads": sum(bool(r["store_changed"]) for r in rows),
    }
    return {"summary": summary, "rows": rows}


# -- part 2: kill sweep ---------------------------------------------------------------------------

WORKER = r"""
import os, sys, json
from dagstore import Dataset, Store
op, store, cache, src, src2, ids = sys.argv[1:7]
ids = json.loads(ids)
st = Store(store, cache_dir=cache)
print("ready", flush=True)
if op == "version":
    ds = Dataset.create(dataset_name="new", dataset_project="k", store=st)
    ds.add_files(src, show_progress=False); ds.upload(show_progress=False); ds.finalize()
elif op == "upload":
    ds = Dataset.get(dataset_id=ids["draft"], store=st); ds.upload(show_progress=False)
elif op == "finalize":
    ds = Dataset.get(dataset_id=ids["draft"], store=st)
    if not ds.is_final():  # a killed finalize may have got as far as the record: then it is done
        ds.finalize(auto_upload=True)
elif op == "sync":
    ds = Dataset.create(dataset_name="base", dataset_project="k", parent_datasets=[ids["base"]], store=st)
    ds.sync_folder(src2, show_progress=False); ds.upload(show_progress=False); ds.finalize()
elif op == "get":
    Dataset.get(dataset_id=ids["base"], store=st).get_local_copy(show_progress=False)
elif op == "mutable":
    Dataset.get(dataset_id=ids["base"], store=st).get_mutable_local_copy(os.path.join(cache, "..", "mutable"), overwrite=True, show_progress=False)
elif op == "squash":
    Dataset.squash("squashed", dataset_ids=[ids["base"], ids["child"]], store=st)
elif op == "gc":
    st.gc(min_age_seconds=0)
print("done", flush=True)
"""

OPS = ["version", "upload", "finalize", "sync", "get", "mutable", "squash", "gc"]


def _tree(root: Path, seed: int, n_small: int, n_large: int) -> dict[str, bytes]:
    import random

    r = random.Random(seed)
    files = {f"s/{i // 50:02d}/{i:04d}.bin": r.randbytes(r.randint(2000, 40000)) for i in range(n_small)}
    files.update({f"big{i}.bin": r.randbytes(6 << 20) for i in range(n_large)})
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def _prepare(base: Path) -> tuple[dict[str, str], dict[str, dict[str, bytes]]]:
    """A store with a base version, a child, a deleted version (for gc) and an added draft."""
    from dagstore import Dataset, Store

    st = Store(str(base / "store"), cache_dir=str(base / "prep-cache"))
    trees = {"base": _tree(base / "src-base", 1, 400, 1), "new": _tree(base / "src", 2, 400, 2)}
    mod = dict(trees["base"])
    src2 = base / "src2"
    shutil.copytree(base / "src-base", src2)
    for i, rel in enumerate(sorted(mod)[:60]):
        (src2 / rel).write_bytes(os.urandom(3000 + i))
    ids: dict[str, str] = {}
    for name, src in (("base", base / "src-base"),):
        ds = Dataset.create(dataset_name=name, dataset_project="k", store=st)
        ds.add_files(str(src), show_progress=False)
        ds.finalize(auto_upload=True)
        ids[name] = ds.id
    child = Dataset.create(dataset_name="child", dataset_project="k", parent_datasets=[ids["base"]], store=st)
    child.sync_folder(str(src2), show_progress=False)
    child.finalize(auto_upload=True)
    ids["child"] = child.id
    gone = Dataset.create(dataset_name="gone", dataset_project="k", store=st)
    gone.add_files(str(base / "src"), show_progress=False)
    gone.finalize(auto_upload=True)
    Dataset.delete(dataset_id=gone.id, store=st)
    draft = Dataset.create(dataset_name="draft", dataset_project="k", store=st)
    draft.add_files(str(base / "src"), show_progress=False)
    ids["draft"] = draft.id
    shutil.rmtree(base / "prep-cache")
    from helpers import read_tree

    expected = {i: read_tree(Dataset.get(dataset_id=i, store=Store(str(base / "store"), cache_dir=str(base / "c-exp"))).get_local_copy(show_progress=False))
                for i in (ids["base"], ids["child"])}
    shutil.rmtree(base / "c-exp")
    return ids, expected


def _run(op: str, w: Path, ids: dict[str, str], kill_after: float | None) -> tuple[str, float]:
    """Run op in a child; kill it ``kill_after`` seconds after it is ready. ('done'|'killed'|'failed: ...', seconds)."""
    args = [sys.executable, "-c", WORKER, op, str(w / "store"), str(w / "cache"), str(w / "src"), str(w / "src2"), json.dumps(ids)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != "ready":
        p.wait()
        return f"failed: {p.stderr.read().strip().splitlines()[-1:]}", 0.0
    t0 = time.perf_counter()
    if kill_after is not None:
        try:
            p.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            return "killed", time.perf_counter() - t0
    out, err = p.communicate()
    if p.returncode:
        return f"failed: {err.strip().splitlines()[-1:] if err.strip() else p.returncode}", time.perf_counter() - t0
    return "done", time.perf_counter() - t0


def _temps(root: Path) -> tuple[int, int]:
    found = [p for p in root.rglob("*") if p.name.startswith((".tmp-", ".trash-"))]
    size = sum(q.stat().st_size for p in found for q in ([p] if p.is_file() else p.rglob("*")) if q.is_file())
    return len(found), size


def run_kills(work: Path, kills: int) -> dict[str, Any]:
    from dagstore import Dataset, Store
    from helpers import read_tree

    template = work / "kill-template"
    template.mkdir(parents=True)
    ids, expected = _prepare(template)
    rows = []
    for op in OPS:
        w = work / f"timing-{op}"
        shutil.copytree(template, w)
        status, duration = _run(op, w, ids, None)
        shutil.rmtree(w)
        if status != "done":
            rows.append({"op": op, "point": None, "problem": f"unkilled run {status}"})
            continue
        for k in range(1, kills + 1):
            w = work / f"{op}-{k}"
            shutil.copytree(template, w)
            at = duration * k / (kills + 1)
            status, _ = _run(op, w, ids, at)
            row: dict[str, Any] = {"op": op, "point": round(at, 3), "status": status, "problems": []}
            store_t, cache_t = _temps(w / "store"), _temps(w / "cache")
            row["store_temps"], row["cache_temps"] = store_t, cache_t
            try:
                st = Store(str(w / "store"), cache_dir=str(w / "check-cache"))
                probs = st.verify(read_data=True)
                if probs:
                    row["problems"].append(f"verify: {probs[:3]}")
                for vid, tree in expected.items():
                    if read_tree(Dataset.get(dataset_id=vid, store=st).get_local_copy(show_progress=False)) != tree:
                        row["problems"].append(f"lost content of {vid}")
                for d in Dataset.list_datasets(store=st):
                    Dataset.get(dataset_id=d["id"], store=st).get_local_copy(show_progress=False)  # no half version
                again, _ = _run(op, w, ids, None)
                if again != "done":
                    row["problems"].append(f"retry {again}")
                reclaim = getattr(Store(str(w / "store"), cache_dir=str(w / "cache")).cache, "reclaim_leftovers", None)
                if reclaim is not None:  # absent before issue #10
                    reclaim(min_age=0)
                row["cache_temps_after_reclaim"] = _temps(w / "cache")
                st.gc(min_age_seconds=0)
                row["store_temps_after_gc"] = _temps(w / "store")
            except Exception as exc:  # noqa: BLE001
                row["problems"].append(f"check crashed: {type(exc).__name__}: {exc}")
                row["trace"] = traceback.format_exc()[-800:]
            rows.append(row)
            shutil.rmtree(w, ignore_errors=True)
    points = [r for r in rows if r.get("point") is not None]
    summary = {
        "points": len(points),
        "killed": sum(r["status"] == "killed" for r in points),
        "finished_before_kill": sum(r["status"] == "done" for r in points),
        "with_problems": sum(bool(r["problems"]) for r in rows),
        "store_temps_left_by_kills": sum(r["store_temps"][0] for r in points),
        "cache_temps_left_by_kills": sum(r["cache_temps"][0] for r in points),
        "cache_temp_bytes_left_by_kills": sum(r["cache_temps"][1] for r in points),
        "cache_temps_after_reclaim": sum(r.get("cache_temps_after_reclaim", (0, 0))[0] for r in points),
        "store_temps_after_gc": sum(r.get("store_temps_after_gc", (0, 0))[0] for r in points),
    }
    return {"summary": summary, "rows": rows}


# -- part 3: full disks ----------------------------------------------------------------------------


def run_disk(work: Path) -> dict[str, Any]:
    """Store on a 16 MiB tmpfs, then cache on one, filled to leave several amounts free;
    a 7 MB version (40 x 50 KiB + 5 MiB) is written, then read back. Root only (mount)."""
    from dagstore import DagstoreError, Dataset, Store
    from helpers import read_tree
    from test_disk_full import KiB, MiB, SmallDisk, _payload, _temps

    rows = []
    for where in ("store", "cache"):
        for free in (0, 16 * KiB, 256 * KiB, 1 * MiB, 3 * MiB, 6 * MiB, 15 * MiB):
            base = work / f"{where}-{free}"
            base.mkdir(parents=True)
            disk = SmallDisk(base / "disk", 16 * MiB)
            try:
                src = base / "src"
                payload = _payload(base)
                for rel, data in payload.items():
                    (src / rel).parent.mkdir(parents=True, exist_ok=True)
                    (src / rel).write_bytes(data)
                url = str((disk.path if where == "store" else base) / "store")
                cache = str((base if where == "store" else disk.path) / "cache")
                writer_cache = str(base / "wcache") if where == "cache" else cache
                if where == "cache":
                    ds = Dataset.create(dataset_name="new", dataset_project="p", store=Store(url, cache_dir=writer_cache))
                    ds.add_files(str(src), show_progress=False)
                    ds.finalize(auto_upload=True)
                disk.leave(free)
                t0 = time.perf_counter()
                try:
                    if where == "store":
                        ds = Dataset.create(dataset_name="new", dataset_project="p", store=Store(url, cache_dir=cache))
                        ds.add_files(str(src), show_progress=False)
                        ds.finalize(auto_upload=True)
                    else:
                        Dataset.get(dataset_id=ds.id, store=Store(url, cache_dir=cache)).get_local_copy(show_progress=False)
                    outcome, message = "ok", ""
                except DagstoreError as exc:
                    outcome, message = type(exc).__name__, str(exc)
                except Exception as exc:  # noqa: BLE001 - what we are counting
                    outcome, message = f"raw {type(exc).__name__}", str(exc)
                seconds = time.perf_counter() - t0
                temps = len(_temps(disk.path))
                disk.release()  # (a store that never got its marker needs room to be opened)
                published = [d["name"] for d in Dataset.list_datasets(store=Store(url, cache_dir=str(base / "c2")))]
                if outcome != "ok":  # retry once space is back
                    if where == "store":
                        ds = Dataset.create(dataset_name="new", dataset_project="p", store=Store(url, cache_dir=cache))
                        ds.add_files(str(src), show_progress=False)
                        ds.finalize(auto_upload=True)
                got = read_tree(Dataset.get(dataset_project="p", dataset_name="new", store=Store(url, cache_dir=cache)).get_local_copy(show_progress=False))
                rows.append({"full": where, "free_kib": free // KiB, "outcome": outcome, "message": message[:200], "seconds": round(seconds, 2),
                             "temps_left": temps, "published_while_full": published, "retry_ok": got == payload})
            finally:
                disk.unmount()
            shutil.rmtree(base, ignore_errors=True)
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["inputs", "kills", "disk", "all"], default="all")
    ap.add_argument("--kills", type=int, default=5, help="kill points per operation (8 operations)")
    ap.add_argument("--out", default="bench-out/hostile.json")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        work = Path(tmp)
        os.environ["DAGSTORE_CACHE_DIR"] = str(work / "default-cache")  # nothing outside the work folder
        t0 = time.perf_counter()
        if args.part in ("inputs", "all"):
            result["inputs"] = run_inputs(work / "inputs")
            print("hostile inputs:", json.dumps(result["inputs"]["summary"]))
            for r in result["inputs"]["rows"]:
                bad = (r["read"] == "raw" or r["read_in_place"] == "raw" or r["others_hidden"] or r["verify"] != "found" or r["temps"]
                       or (r["expected"] != "readable" and r["read"] == "ok"))
                if bad:
                    print(f"  {r['case']}: read={r['read']} ({r['read_message']}) in-place={r['read_in_place']} ({r['in_place_message']}) "
                          f"hidden={r['others_hidden']} verify={r['verify']} temps={len(r['temps'])}")
        if args.part in ("kills", "all"):
            (work / "kills").mkdir(parents=True)
            result["kills"] = run_kills(work / "kills", args.kills)
            print("kill sweep:", json.dumps(result["kills"]["summary"]))
            for r in result["kills"]["rows"]:
                if r.get("problems") or r.get("problem"):
                    print(f"  {r['op']} at {r.get('point')}s: {r.get('problems') or r.get('problem')}")
        if args.part in ("disk", "all"):
            result["disk"] = run_disk(work / "disk")
            for r in result["disk"]["rows"]:
                print(f"  {r['full']} full, {r['free_kib']} KiB free: {r['outcome']} in {r['seconds']} s, temps left {r['temps_left']}, "
                      f"published while full {r['published_while_full']}, retry ok {r['retry_ok']}: {r['message']}")
        result["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"({result['seconds']} s; details in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
