"""The real-tree benchmark (issue 19): ``python -m benchmarks.realtree [--repeat N] [--out DIR]``.

The tree is the files of the wheels pinned by exact version and sha256 in
``requirements-realtree.txt`` (their CPython 3.11 manylinux x86-64 builds, whatever interpreter
runs this), unpacked as ``pip install --no-deps --target`` lays them out, less the files pip
writes itself (``bin/`` launchers holding the interpreter's path, INSTALLER, a rewritten RECORD):
Python code, compiled extensions (pyarrow's libarrow alone is tens of MB), JSON schemas and data
(cfn-lint, botocore, moto), time zones, text. It is built once into ``OUT/data/realtree`` and
checked against the file count, size and digest pinned in ``EXPECTED``; ``--rebuild`` remakes it.

The rounds are ``benchmarks.run``'s (A B A B): the physical references (``cp -r``, read + xxh3-128,
...), dagstore in child processes (version, a child after small seeded edits, get_local_copy with
an empty cache, warm, mutable copy) and DVC from the peers venv (``add`` + ``push`` to a local
remote, a fresh ``pull``, ``add`` + ``push`` after the same edits). ``--tree DIR`` measures another
folder instead of the pinned tree (the smoke test uses a small one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import dagstore_bench, report, run
from .context import BENCH_DIR, Context
from .measure import rmtree
from .workloads import Edits, Workload

NAME = "realtree"
PINS = BENCH_DIR / "requirements-realtree.txt"
PLATFORMS = [*(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)), "manylinux2014_x86_64"]
#: pip options that pick the same wheel files on any host: CPython 3.11 on manylinux x86-64.
WHEEL_TARGET = ["--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311",
                *(arg for platform in PLATFORMS for arg in ("--platform", platform))]
EDIT_SEED = "dagstore-realtree-edits-1"
TARGET_VS_DVC = 12.0  # issue 19: the version >= 12x faster than DVC add + push


class TreeError(RuntimeError):
    """The tree cannot be built, or what was built is not the pinned tree."""


@dataclass(frozen=True)
class TreeFacts:
    """What identifies a tree: its file count, total size and digest (sha256 of the sorted
    ``path NUL size NUL sha256-of-content`` lines)."""

    files: int
    bytes: int
    digest: str


EXPECTED = TreeFacts(files=33_917, bytes=494_502_771, digest="5788022c4d2b3437a502a21d828aaaf75554c5db2a2939992844cd92fc98623a")


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _walk(root: Path) -> list[Path]:
    return [Path(d, n) for d, _, names in os.walk(root) for n in names]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(pins: Path) -> list[tuple[str, str]]:
    """(canonical name, version) of each ``name==version`` line of a pins file."""
    out = []
    for line in pins.read_text().splitlines():
        spec = line.split("#", 1)[0].strip().split(" ", 1)[0]
        if spec and not spec.startswith("-"):
            name, sep, version = spec.partition("==")
            if not sep or not version:
                raise TreeError(f"{pins.name}: {spec!r} is not pinned as name==version")
            out.append((_canonical(name), version))
    return out


def fetch_wheels(pins: Path, dest: Path, python: str, pip_args: Sequence[str] = ()) -> list[Path]:
    """Download the pinned wheels into ``dest`` (pip keeps those already there with the right hash);
    the wheel file of each pin, in the pins' order."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [python, "-m", "pip", "download", "--no-deps", "--require-hashes", "--disable-pip-version-check", "-q",
           "-d", str(dest), *WHEEL_TARGET, *pip_args, "-r", str(pins)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise TreeError(f"pip download of {pins.name} failed:\n{_tail(proc.stderr or proc.stdout)}")
    wheels = {}
    for path in dest.glob("*.whl"):
        dist, version = path.name.split("-")[:2]
        wheels[(_canonical(dist), version)] = path
    missing = [f"{n}=={v}" for n, v in pinned(pins) if (n, v) not in wheels]
    if missing:
        raise TreeError(f"pip download gave no wheel for {', '.join(missing)} in {dest}")
    return [wheels[key] for key in pinned(pins)]


def installed_name(member: str) -> str:
    """Where ``pip install --target`` puts a wheel member: ``<dist>.data/purelib|platlib|data/X`` at X,
    ``.data/scripts/X`` in ``bin/X``, ``.data/headers/X`` in ``include/<dist>/X``; the rest as stored."""
    first, _, rest = member.partition("/")
    key, _, sub = rest.partition("/")
    if not first.endswith(".data") or not sub:
        return member
    moved = {"purelib": sub, "platlib": sub, "data": sub, "scripts": f"bin/{sub}", "headers": f"include/{first[:-5]}/{sub}"}
    return moved.get(key, member)


def _safe(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def unpack(wheels: Iterable[Path], tree: Path) -> None:
    """Extract every wheel's files into ``tree`` (one folder, as a site-packages); refuse an unsafe
    member name and two wheels writing the same path."""
    owner: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = installed_name(info.filename)
                if not _safe(name):
                    raise TreeError(f"{wheel.name}: unsafe member name {info.filename!r}")
                if name in owner:
                    raise TreeError(f"{wheel.name} and {owner[name]} both contain {name}")
                owner[name] = wheel.name
                dest = tree / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(dest, "xb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                if (info.external_attr >> 16) & 0o111:
                    dest.chmod(0o755)


def tree_facts(tree: Path) -> TreeFacts:
    """Count, size and digest of every file under ``tree``."""
    lines, total = [], 0
    for path in _walk(tree):
        data = path.read_bytes()
        total += len(data)
        lines.append(f"{path.relative_to(tree).as_posix()}\0{len(data)}\0{hashlib.sha256(data).hexdigest()}\n")
    digest = hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    return TreeFacts(len(lines), total, digest)


def _quick_facts(tree: Path) -> tuple[int, int]:
    paths = _walk(tree)
    return len(paths), sum(p.stat().st_size for p in paths)


def ensure_tree(data_dir: Path, python: str, *, rebuild: bool = False, pins: Path = PINS,
                expected: TreeFacts | None = EXPECTED, pip_args: Sequence[str] = ()) -> Workload:
    """The pinned tree under ``data_dir`` (built when missing, changed or asked for), checked against
    ``expected``: a tree that differs is removed and raises TreeError."""
    tree, marker = data_dir / NAME, data_dir / f"{NAME}.done.json"
    fingerprint = hashlib.sha256(pins.read_bytes()).hexdigest()[:16]
    meta = json.loads(marker.read_text()) if marker.is_file() else {}
    pinned_digest = expected is None or meta.get("digest") == expected.digest
    fresh = not rebuild and meta.get("fingerprint") == fingerprint and pinned_digest and tree.is_dir()
    if not (fresh and _quick_facts(tree) == (meta["files"], meta["bytes"])):
        rmtree(tree, marker)
        print(f"  building the real tree into {tree} from {pins.name} ...", flush=True)
        t0 = time.perf_counter()
        wheels = fetch_wheels(pins, data_dir / f"{NAME}-wheels", python, pip_args)
        partial = data_dir / f"{NAME}.partial"
        rmtree(partial)
        try:
            unpack(wheels, partial)
            facts = tree_facts(partial)
            if expected is not None and facts != expected:
                raise TreeError(f"the tree built from {pins.name} is {facts}, not the pinned {expected}")
        except BaseException:
            rmtree(partial)
            raise
        partial.rename(tree)
        meta = {"fingerprint": fingerprint, **asdict(facts), "wheels": [w.name for w in wheels]}
        marker.write_text(json.dumps(meta, indent=1))
        print(f"  {facts.files} files, {facts.bytes / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s", flush=True)
    return Workload(NAME, tree, meta["files"], meta["bytes"], Edits("after edits", edit_tree))


def folder_workload(folder: Path) -> Workload:
    """Any folder measured as the tree (``--tree``)."""
    if not folder.is_dir():
        raise TreeError(f"--tree {folder}: not a folder")
    files, nbytes = _quick_facts(folder)
    return Workload(NAME, folder.resolve(), files, nbytes, Edits("after edits", edit_tree))


def edit_tree(root: Path) -> dict[str, int]:
    """Seeded small edits of a tree copy in place: 1 % of the files modified (every other one keeps
    its size), 1 % removed, 1 % added beside others."""
    files = sorted(p.relative_to(root).as_posix() for p in _walk(root))
    n = max(1, len(files) // 100)
    if len(files) < 3 * n:
        raise TreeError(f"{root}: {len(files)} files, too few to edit")
    rng = random.Random(EDIT_SEED)
    chosen = rng.sample(files, 3 * n)
    for k, rel in enumerate(chosen[:n]):
        data = bytearray((root / rel).read_bytes())
        if k % 2 and data:
            data[0] ^= 0xFF
            data[len(data) // 2] ^= 0x5A
        else:
            data += f"\n# edited by benchmarks.realtree ({k})\n".encode()
        (root / rel).write_bytes(bytes(data))
    for rel in chosen[n : 2 * n]:
        (root / rel).unlink()
    for j, rel in enumerate(chosen[2 * n :]):
        lines = (f"value_{i} = 0x{rng.getrandbits(64):016x}\n" for i in range(rng.randint(40, 300)))
        (root / rel).with_name(f"realtree_added_{j:04d}.py").write_text("".join(lines))
    return {"modified": n, "removed": n, "added": n}


def targets(ctx: Context) -> list[dict[str, Any]]:
    """Issue 19's real-tree target, met / missed / n/a."""
    results = ctx.results.get(NAME, {})
    version, dvc = report.median(results.get("dagstore version", [])), report.median(results.get("dvc add+push", []))
    ratio = dvc / version if version and dvc else None
    text = f"real tree version >= {TARGET_VS_DVC:g}x faster than DVC add+push"
    return [report._target(text, ratio, TARGET_VS_DVC, "{:.1f}x", higher_is_better=True)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.realtree", description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--peer-repeat", type=int, help="rounds with DVC, at most --repeat (default: every round)")
    p.add_argument("--no-peers", action="store_true", help="no DVC (and no peers venv)")
    p.add_argument("--python", help="interpreter with dagstore's dependencies (default .venv/bin/python, else this one)")
    p.add_argument("--out", type=Path, default=run.REPO_ROOT / "bench-out", help="tree, peers venv, scratch and results")
    p.add_argument("--compare", type=Path, help="another checkout measured in the same rounds as 'before: dagstore ...'")
    p.add_argument("--tree", type=Path, help="measure this folder instead of the pinned tree")
    p.add_argument("--rebuild", action="store_true", help="download and unpack the pinned tree again")
    args = p.parse_args(argv)
    args.peers = [] if args.no_peers else ["dvc"]
    args.peer_repeat = args.repeat if args.peer_repeat is None else max(0, min(args.peer_repeat, args.repeat))
    return args


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    command = shlex.join(["cd", str(run.REPO_ROOT)]) + " && " + shlex.join([sys.executable, "-m", "benchmarks.realtree", *given])
    started, t0 = datetime.now(), time.perf_counter()
    print(f"$ {command}", flush=True)
    out = args.out.resolve()
    ctx = Context(run.REPO_ROOT, out, "custom" if args.tree else "full", args.repeat, args.peer_repeat)
    ctx.compare_root = args.compare.resolve() if args.compare else None
    python = args.python or dagstore_bench.default_python(run.REPO_ROOT, sys.executable)
    try:
        wl = folder_workload(args.tree) if args.tree else ensure_tree(out / "data", python, rebuild=args.rebuild)
    except TreeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\n== {wl.path}: {wl.files} files, {wl.bytes / 1e6:.1f} MB\n\n== interpreters and peers", flush=True)
    run.setup_interpreters(ctx, args)
    print(f"  dagstore: {ctx.dagstore_python or '-'}   read+hash: {ctx.hash_python or '-'}   peers: {ctx.peers or '-'}")
    rmtree(ctx.work_dir)
    try:
        run.run_workloads(ctx, {NAME: wl})
    finally:
        rmtree(ctx.work_dir)
    elapsed = time.perf_counter() - t0
    meta = run._meta(ctx, command, started, elapsed, {NAME: wl})
    meta["tree"] = {"pins": PINS.name, "expected": asdict(EXPECTED)} if not args.tree else {"folder": str(wl.path)}
    report.publish(ctx, meta, out / f"realtree-{started:%Y%m%d-%H%M%S}.json", targets(ctx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
