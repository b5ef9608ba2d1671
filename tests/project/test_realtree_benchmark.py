"""Keeps benchmarks/realtree.py working (not timed tests): the run on a small folder, and the
pinned tree's build (real pip, offline, on wheels made here), its checks and its seeded edits."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks import realtree

REPO = Path(__file__).resolve().parents[2]


def _small_tree(root: Path) -> int:
    """A folder like a tiny site-packages: code, JSON, one 3 MiB binary; returns its file count."""
    for i in range(150):
        folder = root / f"pkg{i % 5}" / ("sub" if i % 3 else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i}.py").write_text(f"X = {i}\n" * (i + 1))
        if i % 10 == 0:
            (folder / f"data{i}.json").write_text(json.dumps({"i": i, "v": list(range(i))}))
    (root / "pkg0" / "_native.so").write_bytes(bytes(range(256)) * (3 * 4096))
    return sum(1 for p in root.rglob("*") if p.is_file())


def _wheel(folder: Path, dist: str, version: str, members: dict[str, bytes]) -> Path:
    info = f"{dist}-{version}.dist-info"
    files = {
        **members,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]).encode()
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def _pins(path: Path, wheels: list[Path], names: list[str], bad_hash: bool = False) -> Path:
    lines = []
    for wheel, name in zip(wheels, names, strict=True):
        digest = "0" * 64 if bad_hash else hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={wheel.name.split('-')[1]} --hash=sha256:{digest}\n")
    path.write_text("# test pins\n" + "".join(lines))
    return path


@pytest.fixture
def wheels(tmp_path: Path) -> tuple[Path, list[Path]]:
    folder = tmp_path / "wheels"
    folder.mkdir()
    alpha = _wheel(folder, "alpha", "1.0", {"alpha/__init__.py": b"A = 1\n", "alpha/schema.json": b'{"a": 1}'})
    beta = _wheel(folder, "beta_pkg", "2.0", {"beta_pkg/core.bin": bytes(5000),
                                              "beta_pkg-2.0.data/data/share/beta/readme.txt": b"beta\n"})
    return folder, [alpha, beta]


def test_the_benchmark_runs_on_a_small_folder(tmp_path: Path) -> None:
    files = _small_tree(tmp_path / "tree")
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.realtree", "--tree", str(tmp_path / "tree"), "--no-peers", "--repeat", "1",
         "--python", sys.executable, "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = out.glob("realtree-*.json")
    doc = json.loads(result.read_text())
    assert doc["errors"] == {} and doc["workloads"]["realtree"]["files"] == files
    steps = doc["results"]["realtree"]
    for step in ("cp -r", "read+xxh3 warm", "dagstore version", "dagstore child after edits", "dagstore get_local_copy cold"):
        assert steps[step]["median"] > 0, step
    assert not [n for n in doc["notes"] if "expected" in n]  # every copy had the tree's file count
    assert doc["targets"] == [{"target": "real tree version >= 12x faster than DVC add+push", "measured": "-",
                               "limit": "12.0x", "status": "n/a"}]
    assert "real tree version >= 12x faster than DVC add+push" in proc.stdout
    assert (tmp_path / "tree" / "pkg0" / "_native.so").stat().st_size == 3 * 4096 * 256  # the source is left as it was


def test_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.realtree", "--tree", str(tmp_path / "nope"), "--no-peers",
                           "--out", str(tmp_path / "bench")], cwd=REPO, capture_output=True, text=True, timeout=120,
                           check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: --tree {tmp_path / 'nope'}: not a folder"
    assert not (tmp_path / "bench").exists()


def test_the_tree_is_built_from_pinned_wheels_laid_out_as_pip_does(tmp_path: Path, wheels: tuple[Path, list[Path]]) -> None:
    folder, files = wheels
    pins = _pins(tmp_path / "pins.txt", files, ["alpha", "beta-pkg"])
    offline = ["--no-index", "--find-links", str(folder)]
    data = tmp_path / "data"
    wl = realtree.ensure_tree(data, sys.executable, pins=pins, expected=None, pip_args=offline)
    tree = data / "realtree"
    assert wl.path == tree and wl.edits is not None
    assert (tree / "share/beta/readme.txt").read_bytes() == b"beta\n"  # <dist>.data/data/X goes to X
    assert (tree / "alpha/schema.json").read_bytes() == b'{"a": 1}'
    assert (tree / "alpha-1.0.dist-info/METADATA").is_file() and not (tree / "beta_pkg-2.0.data").exists()
    facts = realtree.tree_facts(tree)
    assert (wl.files, wl.bytes) == (facts.files, facts.bytes) == (10, sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()))

    marker = data / "realtree.done.json"
    before = marker.stat().st_mtime_ns
    again = realtree.ensure_tree(data, sys.executable, pins=pins, expected=facts, pip_args=["--no-index"])  # kept: no pip
    assert again == wl and marker.stat().st_mtime_ns == before
    rebuilt = realtree.ensure_tree(data, sys.executable, pins=pins, expected=facts, pip_args=offline, rebuild=True)
    assert realtree.tree_facts(rebuilt.path) == facts  # the same bytes every time


def test_a_tree_that_is_not_the_pinned_one_is_refused_and_removed(tmp_path: Path, wheels: tuple[Path, list[Path]]) -> None:
    folder, files = wheels
    pins = _pins(tmp_path / "pins.txt", files, ["alpha", "beta-pkg"])
    wrong = realtree.TreeFacts(files=8, bytes=1, digest="0" * 64)
    with pytest.raises(realtree.TreeError, match="not the pinned TreeFacts"):
        realtree.ensure_tree(tmp_path / "data", sys.executable, pins=pins, expected=wrong,
                             pip_args=["--no-index", "--find-links", str(folder)])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["realtree-wheels"]  # no tree, no marker, no partial


def test_a_wheel_with_another_hash_is_refused(tmp_path: Path, wheels: tuple[Path, list[Path]]) -> None:
    folder, files = wheels
    pins = _pins(tmp_path / "pins.txt", files, ["alpha", "beta-pkg"], bad_hash=True)
    with pytest.raises(realtree.TreeError, match="(?s)pip download of pins.txt failed.*HASHES"):
        realtree.ensure_tree(tmp_path / "data", sys.executable, pins=pins, expected=None,
                             pip_args=["--no-index", "--find-links", str(folder)])
    assert not (tmp_path / "data" / "realtree").exists()


def test_unsafe_members_and_two_wheels_writing_one_path_are_refused(tmp_path: Path) -> None:
    evil = _wheel(tmp_path, "evil", "1.0", {"../outside.py": b"x"})
    with pytest.raises(realtree.TreeError, match="unsafe member name '../outside.py'"):
        realtree.unpack([evil], tmp_path / "t1")
    assert not (tmp_path / "outside.py").exists()
    one = _wheel(tmp_path, "one", "1.0", {"shared/x.py": b"1"})
    two = _wheel(tmp_path, "two", "1.0", {"shared/x.py": b"2"})
    with pytest.raises(realtree.TreeError, match="two-1.0-py3-none-any.whl and one-1.0-py3-none-any.whl both contain shared/x.py"):
        realtree.unpack([one, two], tmp_path / "t2")


def test_pins_must_be_exact(tmp_path: Path) -> None:
    loose = tmp_path / "loose.txt"
    loose.write_text("numpy>=2 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(realtree.TreeError, match="'numpy>=2' is not pinned as name==version"):
        realtree.pinned(loose)
    lines = [ln for ln in realtree.PINS.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(realtree.pinned(realtree.PINS)) == len(lines) >= 10
    assert all(" --hash=sha256:" in ln for ln in lines)
    assert realtree.EXPECTED.files > 30_000 and realtree.EXPECTED.bytes > 400e6 and len(realtree.EXPECTED.digest) == 64


def test_the_edits_are_seeded_and_one_percent_each(tmp_path: Path) -> None:
    trees = [tmp_path / "a", tmp_path / "b"]
    for tree in trees:
        _small_tree(tree)
    before = {p.relative_to(trees[0]): p.read_bytes() for p in trees[0].rglob("*") if p.is_file()}
    assert [realtree.edit_tree(t) for t in trees] == [{"modified": 1, "removed": 1, "added": 1}] * 2
    after = [{p.relative_to(t): p.read_bytes() for p in t.rglob("*") if p.is_file()} for t in trees]
    assert after[0] == after[1]
    assert len(set(before) - set(after[0])) == 1 and len(set(after[0]) - set(before)) == 1
    assert sum(1 for k in set(before) & set(after[0]) if before[k] != after[0][k]) == 1
    with pytest.raises(realtree.TreeError, match="too few to edit"):
        (tmp_path / "c").mkdir()
        (tmp_path / "c" / "only.txt").write_text("x")
        realtree.edit_tree(tmp_path / "c")
