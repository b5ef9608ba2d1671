"""`dagstore get --copy DIR` fills a held temp sibling of DIR (`.tmp-held-*`, locked while its
process lives): one killed with SIGKILL mid-copy leaves it behind, and the next copy beside it
removes it; a live copy's temp is never removed, and concurrent copies to one DIR all succeed.

Each copy runs as the `dagstore` command in a subprocess whose first file copy stops until the
test says go on (a hook on the copy function, signalled through a pipe): no sleeping."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from dagstore import Dataset, Store
from helpers import paused_python, read_tree, write_tree
from test_cli import dag
from test_cli_interrupt import ROOT, console_script

TREE = {"a.txt": b"alpha", "sub/b.bin": os.urandom(50_000), "sub/c.txt": b"gamma"}

# the first file copied pauses (helpers.PAUSE)
HOOK = """
import shutil
real = shutil.copyfile
def copyfile(src, dst, **kw):
    if not getattr(copyfile, "paused", False):
        copyfile.paused = True
        pause()
    return real(src, dst, **kw)
shutil.copyfile = copyfile
"""


def _version(tmp_path: Path) -> str:
    ds = Dataset.create("d", "p", store=Store(os.environ["DAGSTORE_URL"]))
    ds.add_files(str(write_tree(tmp_path / "src", TREE)), show_progress=False)
    ds.finalize(auto_upload=True)
    return ds.id


def _paused_copy(version: str, target: Path) -> subprocess.Popen[str]:
    """`dagstore get --id VERSION --copy TARGET`, returned once it stopped in its first file copy."""
    return paused_python(HOOK + console_script(), ["get", "--id", version, "--copy", str(target)], str(ROOT))


def _go_on(proc: subprocess.Popen[str], target: Path) -> None:
    out, err = proc.communicate("\n", timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == str(target)


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(".tmp-"))


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_a_copy_killed_mid_way_is_removed_by_the_next_copy(tmp_path: Path) -> None:
    version = _version(tmp_path)
    work = tmp_path / "work"
    proc = _paused_copy(version, work / "copy")
    [left] = _temps(work)
    assert left.is_dir()
    _kill(proc)
    assert _temps(work) == [left] and not (work / "copy").exists()  # what kill -9 leaves

    out = dag("get", "--id", version, "--copy", work / "copy").out
    assert out.strip() == str(work / "copy")
    assert _temps(work) == []
    assert read_tree(work / "copy") == TREE


def test_a_live_copy_s_temp_is_kept_and_concurrent_copies_to_one_folder_all_succeed(tmp_path: Path) -> None:
    version = _version(tmp_path)
    work = tmp_path / "work"
    first = _paused_copy(version, work / "copy")
    [live] = _temps(work)
    beside = _paused_copy(version, work / "other")  # a neighbour's copy, also paused
    [other] = set(_temps(work)) - {live}
    killed = _paused_copy(version, work / "third")
    [dead] = set(_temps(work)) - {live, other}
    _kill(killed)
    assert dag("get", "--id", version, "--copy", work / "copy").out.strip() == str(work / "copy")
    assert read_tree(work / "copy") == TREE
    assert _temps(work) == sorted([live, other])  # the dead copy's temp is gone, the live ones are kept
    _go_on(beside, work / "other")
    assert _temps(work) == [live]
    _go_on(first, work / "copy")  # into the folder the other copy made meanwhile: replaced, no error
    assert _temps(work) == []
    assert read_tree(work / "copy") == TREE and read_tree(work / "other") == TREE
    assert not (work / "third").exists()
