"""Two processes saving one draft at once: a save made after another process saved the draft
since this one read it is refused (ConflictError, nothing written), so that nothing the other
process reported is lost; a rerun then adds to what the other saved.

Each victim is the ``dagstore`` command in a subprocess stopped by a hook at that moment until the
test says go on (``helpers.paused_python``): no sleeping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.errors import ConflictError
from helpers import noise, paused_python, read_tree, write_tree
from test_upload_held_killed import CLI, HOOK, ROOT

FIRST = {f"a/f{i}.bin": noise(f"first{i}", 300 + i) for i in range(20)}
SECOND = {f"b/g{i}.bin": noise(f"second{i}", 400 + i) for i in range(20)}
# before its draft is saved (its files hashed)
BEFORE_SAVE = "from dagstore.core.store.registry import Registry\npause_at(Registry, 'save_draft')\n"
# while it holds the draft's lock, checked, before the new draft is named
LOCKED = "from dagstore.core.backend.local import LocalBackend\npause_at(LocalBackend, 'write', lambda s, k, d: k.startswith('drafts/'))\n"


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTORE_CACHE_DIR", str(tmp_path / "cache"))


def _add(ds_id: str, src: Path) -> list[str]:
    return ["add", "--id", ds_id, "--files", str(src)]


def _start(store: Path, args: list[str]) -> subprocess.Popen[str]:
    """``dagstore -q <args>`` in a subprocess, running."""
    env = {**os.environ, "DAGSTORE_URL": str(store), "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    return subprocess.Popen([sys.executable, "-c", "import sys\n" + CLI, "-q", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _run(store: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    proc = _start(store, args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _paused(store: Path, hook: str, args: list[str]) -> subprocess.Popen[str]:
    os.environ["DAGSTORE_URL"] = str(store)
    return paused_python(HOOK + hook + CLI, ["-q", *args], str(ROOT))


def _refused(out: str, err: str, ds_id: str) -> None:
    line = err.strip()
    assert "\n" not in line and f"draft {ds_id}" in line and "run the command again" in line, (out, err)


def _closed_copy(store: Path, ds_id: str) -> dict[str, bytes]:
    ds = Dataset.get(dataset_id=ds_id, store=str(store))
    ds.upload(show_progress=False)
    ds.finalize()
    return read_tree(Dataset.get(dataset_id=ds_id, store=str(store)).get_local_copy())


def test_an_add_that_saves_after_another_add_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first, second = write_tree(tmp_path / "first", FIRST), write_tree(tmp_path / "second", SECOND)
    ds_id = Dataset.create("d", "p", store=str(store)).id
    slow = _paused(store, BEFORE_SAVE, _add(ds_id, first))  # read the draft, hashed its files
    done = _run(store, _add(ds_id, second))
    assert done.returncode == 0, done.stderr
    out, err = slow.communicate("\n", timeout=120)
    assert slow.returncode != 0
    _refused(out, err, ds_id)
    assert sorted(Dataset.get(dataset_id=ds_id, store=str(store)).list_files()) == sorted(SECOND)
    again = _run(store, _add(ds_id, first))
    assert again.returncode == 0, again.stderr
    assert _closed_copy(store, ds_id) == {**FIRST, **SECOND}


def test_a_save_waiting_for_the_draft_lock_sees_the_save_that_held_it(tmp_path: Path) -> None:
    """The first add holds the draft's lock, its check passed; the second, which read the draft
    before, is let go on to its save first: it is refused whether it reached the lock before
    the first renamed the new draft (it waits, then reads that) or after."""
    store = tmp_path / "store"
    first, second = write_tree(tmp_path / "first", FIRST), write_tree(tmp_path / "second", SECOND)
    ds_id = Dataset.create("d", "p", store=str(store)).id
    holder = _paused(store, LOCKED, _add(ds_id, first))
    waiter = _paused(store, BEFORE_SAVE, _add(ds_id, second))
    assert waiter.stdin is not None
    waiter.stdin.write("\n")
    waiter.stdin.flush()
    _out, err = holder.communicate("\n", timeout=120)
    assert holder.returncode == 0, err
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode != 0
    _refused(out, err, ds_id)
    assert _closed_copy(store, ds_id) == FIRST


@pytest.mark.parametrize("url", ["local", "memory"])
def test_two_handles_of_one_draft_in_one_process(tmp_path: Path, url: str) -> None:
    """The check is the store's, whatever holds the draft: local stores and fsspec ones alike."""
    store = str(tmp_path / "store") if url == "local" else f"memory://h1-{tmp_path.name}/store"
    ds_id = Dataset.create("d", "p", store=store).id
    one, two = (Dataset.get(dataset_id=ds_id, store=store) for _ in range(2))
    one.add_files(write_tree(tmp_path / "first", FIRST), show_progress=False)
    with pytest.raises(ConflictError, match=f"draft {ds_id} .*run the command again"):
        two.add_files(write_tree(tmp_path / "second", SECOND), show_progress=False)
    assert sorted(Dataset.get(dataset_id=ds_id, store=store).list_files()) == sorted(FIRST)
    one.add_files(tmp_path / "second", show_progress=False)  # its own saves go on
    assert sorted(Dataset.get(dataset_id=ds_id, store=store).list_files()) == sorted({**FIRST, **SECOND})


def test_two_uploads_of_one_draft_are_merged(tmp_path: Path) -> None:
    """An upload that saves after another upload of the same draft saved: the two differ only in
    what each sent, so the stored draft takes in both's packs (here one: the same blobs make the
    same pack), nothing pending, and closes."""
    store = tmp_path / "store"
    ds = Dataset.create("d", "p", store=str(store))
    ds.add_files(write_tree(tmp_path / "first", FIRST), show_progress=False)
    slow = _paused(store, BEFORE_SAVE, ["upload", "--id", ds.id])  # its pack stored, the draft not yet saved
    done = _run(store, ["upload", "--id", ds.id])
    assert done.returncode == 0, done.stderr
    _out, err = slow.communicate("\n", timeout=120)
    assert slow.returncode == 0, err
    merged = Dataset.get(dataset_id=ds.id, store=str(store))
    assert merged._v.record.packs and not merged._v.require_draft().pending
    assert _closed_copy(store, ds.id) == FIRST


def test_two_uploads_into_other_packs_are_both_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two handles of one draft upload at other compression levels, the second before it could
    see the first's pack (other packs): its save takes in the first's pack too."""
    store = str(tmp_path / "store")
    ds = Dataset.create("d", "p", store=store)
    ds.add_files(write_tree(tmp_path / "first", FIRST), show_progress=False)
    one, two = (Dataset.get(dataset_id=ds.id, store=store) for _ in range(2))
    monkeypatch.setattr(two._v.store, "pack_index", lambda be, only=None: {})  # looked before one stored its pack
    one.upload(show_progress=False, compression=1)
    two.upload(show_progress=False, compression=19)
    saved = Dataset.get(dataset_id=ds.id, store=store)._v
    assert set(saved.record.packs) == {*one._v.record.packs, *two._v.record.packs} and len(saved.record.packs) == 2
    two.finalize()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=store).get_local_copy()) == FIRST
