"""Held content (``core.stagehold``) when the process holding or taking it is killed (SIGKILL) or
interrupted (SIGINT) at its worst moment, or when two closes of one draft run at once: the store
verifies (every blob read), a rerun of the upload stores the source's bytes, and what the killed
process left is ``.tmp-`` names only, which ``gc --min-age 0`` removes.

Each victim is the ``dagstore`` command in a subprocess stopped by a hook at that moment until the
test says go on (``helpers.paused_python``): no sleeping."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from helpers import paused_python, read_tree, write_tree
from test_upload_held import TREE, add_and_hold, held_names, later

ROOT = Path(__file__).resolve().parents[2]

# ``pause_at(owner, name, when)``: the first call of ``owner.name`` for which ``when(*args)`` holds
# pauses (helpers.PAUSE) before it runs; small files are kept however recent they are
HOOK = """
import sys
from dagstore.core import staging
staging.RACY_NS = -(10**12)
def pause_at(owner, name, when=lambda *a: True):
    real = getattr(owner, name)
    def hooked(*a, **k):
        if not getattr(hooked, "done", False) and when(*a):
            hooked.done = True
            pause()
        return real(*a, **k)
    setattr(owner, name, hooked)
"""
CLI = "from dagstore.cli import main\nsys.exit(main(sys.argv[1:]))\n"
# before the index is written: every segment is named
BEFORE_INDEX = "from dagstore.core.backend.local import LocalBackend\npause_at(LocalBackend, 'write', lambda s, k, d: k.endswith('.arrow'))\n"
# a pack's header and trailer are appended to the held segment, which is not yet renamed
BEFORE_RENAME = "from dagstore.core.packs import PackWriter\npause_at(PackWriter, '_commit')\n"
# the held segment is taken (open, hashed), nothing appended yet
TAKEN = "from dagstore.core.packs import PackWriter\npause_at(PackWriter, 'adopt')\n"


def _paused(store: Path, hook: str, *args: str) -> subprocess.Popen[str]:
    os.environ["DAGSTORE_URL"] = str(store)
    return paused_python(HOOK + hook + CLI, ["-q", *args], str(ROOT))


def _stop(proc: subprocess.Popen[str], sig: signal.Signals, may_finish: bool = False) -> int:
    """Send ``sig`` to the paused ``proc``; an interrupted one is then let go on to its end. Its
    exit status: -9 for SIGKILL; for SIGINT 130 and one line, or, with ``may_finish``, 0 and
    nothing said (the caller checks the work was then all done)."""
    proc.send_signal(sig)
    _out, err = proc.communicate("\n", timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -sig, err
    elif not (may_finish and proc.returncode == 0 and not err.strip()):
        assert proc.returncode == 130 and err.strip() == "dagstore: error: interrupted", err
    return proc.returncode


def _gc_removes_only_temps(store: Path) -> None:
    before = {p for p in store.rglob("*") if p.is_file()}
    Store(str(store)).gc(min_age_seconds=0)
    after = {p for p in store.rglob("*") if p.is_file()}
    assert held_names(store) == [] and all(p.name.startswith(".tmp-") for p in before - after)


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTORE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_add_stopped_while_it_holds_leaves_the_draft_to_close(tmp_path: Path, reads: list[str], sig: signal.Signals) -> None:
    """Stopped with its segments named and no index written: the close reads the files again;
    the named segments stay until gc."""
    store, src = tmp_path / "store", write_tree(tmp_path / "src", TREE)
    ds_id = Dataset.create("held", "p", store=str(store)).id
    _stop(_paused(store, BEFORE_INDEX, "add", "--id", ds_id, "--files", str(src)), sig)
    left = held_names(store)
    assert left and not any(n.endswith(".arrow") for n in left)
    assert Store(str(store)).verify(read_data=True) == []
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == len(TREE)
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert held_names(store) == left
    _gc_removes_only_temps(store)
    assert Store(str(store)).verify(read_data=True) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_close_stopped_while_it_commits_a_held_segment_is_finished_by_a_rerun(tmp_path: Path, reads: list[str],
                                                                               sig: signal.Signals) -> None:
    """Stopped with a pack's trailer appended to the held segment, before its rename: that
    segment is no longer what was held, so the rerun reads its files again (SIGINT lets the
    commit finish first); nothing held is left after it."""
    ds_id, store, src = add_and_hold(tmp_path)
    rc = _stop(_paused(store, BEFORE_RENAME, "close", "--id", ds_id), sig, may_finish=True)
    # SIGINT reaches the main thread in PackWriter.close, waiting for that commit: 130, not finalized.
    # Twice in clean-clone CI runs (never in ~300 runs elsewhere) the close instead went on to its end
    # and exited 0 with nothing on stderr: the interrupt never reached Python's handler (not
    # explained; a child started with SIGINT ignored or blocked is ruled out by the test below).
    # Exit 0 is then only accepted with the version final: never a success with the work undone.
    assert later(ds_id, store).is_final() == (rc == 0)
    assert Store(str(store)).verify(read_data=True) == []
    if rc:
        ds = later(ds_id, store)
        ds.upload(show_progress=False)
        ds.finalize()
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert held_names(store) == []
    _gc_removes_only_temps(store)
    assert Store(str(store)).verify(read_data=True) == []


@pytest.mark.parametrize("deaf", ["ignored", "blocked"])
def test_an_interrupted_close_stops_whatever_sigint_the_test_process_had(tmp_path: Path, reads: list[str], deaf: str) -> None:
    """SIGINT ignored (SIG_IGN) or blocked in this process when it starts the child survives
    exec, and Python sets its handler only over the default: the child sets Ctrl-C back to
    raising (``helpers.PAUSE``), so the close paused in a commit is still interrupted."""
    ds_id, store, _src = add_and_hold(tmp_path)
    if deaf == "ignored":
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        proc = _paused(store, BEFORE_RENAME, "close", "--id", ds_id)
    finally:
        if deaf == "ignored":
            signal.signal(signal.SIGINT, handler)
        else:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    _stop(proc, signal.SIGINT)
    assert not later(ds_id, store).is_final()


def test_two_closes_of_one_draft_at_once_store_each_pack_as_its_id_says(tmp_path: Path, reads: list[str]) -> None:
    """One close has taken the held segment and is stopped before it writes into it; another
    close of the draft runs meanwhile: it reads the files again (the segment is the first's),
    and when the first goes on, neither has written into the other's pack. The first, whose
    draft was finalized meanwhile, is refused at its save (``Registry.save_draft``)."""
    ds_id, store, src = add_and_hold(tmp_path)
    first = _paused(store, TAKEN, "close", "--id", ds_id)
    try:
        ds = later(ds_id, store)
        ds.upload(show_progress=False)
        ds.finalize()
    finally:
        _out, err = first.communicate("\n", timeout=60)
    assert first.returncode == 1 and f"draft {ds_id} (p/held) was changed by another process" in err, err
    assert len(reads) == len(TREE)
    assert Store(str(store)).verify(read_data=True) == []
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert held_names(store) == []
