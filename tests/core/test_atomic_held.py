"""Held temps (``dagstore._atomic.HeldTemp``): making one removes the temps of that folder whose
owner is gone, never one still held, never what a link in a dead temp points to, and a temp that
another process's sweep takes between its making and its lock is made again under a new name.
(``flock`` locks of two opens conflict within one process too, so one process can play both.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dagstore import _atomic
from dagstore._atomic import HELD_PREFIX, HeldTemp, sweep_dead


def _held(folder: Path) -> set[Path]:
    return {p for p in folder.iterdir() if p.name.startswith(HELD_PREFIX)}


def test_only_the_temps_whose_lock_is_free_are_removed(tmp_path: Path) -> None:
    live = HeldTemp(tmp_path / "a", folder=True)
    live_file = HeldTemp(tmp_path / "b.zip", folder=False)
    dead = HeldTemp(tmp_path / "c", folder=True)
    (dead.path / "sub").mkdir()
    (dead.path / "sub" / "f").write_bytes(b"x")
    os.chmod(dead.path / "sub", 0o555)
    dead.release()  # as the kernel does when its process dies
    dead_file = HeldTemp(tmp_path / "d.zip", folder=False)
    dead_file.release()
    (tmp_path / ".tmp-plain").mkdir()  # an unheld temp (e.g. an atomic_write's) is not the sweep's
    new = HeldTemp(tmp_path / "e", folder=True)
    assert _held(tmp_path) == {live.path, live_file.path, new.path}
    assert (tmp_path / ".tmp-plain").is_dir()
    for h in (live, live_file, new):
        h.release()


def test_a_sweep_changes_nothing_a_link_points_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(b"keep")
    os.chmod(outside, 0o555)
    work = tmp_path / "work"
    dead = HeldTemp(work / "a", folder=True)
    (dead.path / "link").symlink_to(outside, target_is_directory=True)
    dead.release()
    (work / f"{HELD_PREFIX}planted").symlink_to(outside, target_is_directory=True)
    sweep_dead(work)
    assert not dead.path.exists() and (work / f"{HELD_PREFIX}planted").is_symlink()
    assert stat.S_IMODE(outside.stat().st_mode) == 0o555 and (outside / "keep.txt").read_bytes() == b"keep"


def test_a_temp_swept_before_its_lock_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, tried = _atomic._lock, []

    def swept_first(path: str | os.PathLike[str]) -> int | None:
        if not tried:  # another process's sweep runs between the mkdir and the lock
            tried.append(Path(path))
            sweep_dead(Path(path).parent)
        return real(path)

    monkeypatch.setattr(_atomic, "_lock", swept_first)
    held = HeldTemp(tmp_path / "a", folder=True)
    assert held.path != tried[0] and not tried[0].exists()
    assert _held(tmp_path) == {held.path}
    monkeypatch.setattr(_atomic, "_lock", real)
    sweep_dead(tmp_path)
    assert held.path.is_dir()  # still held
    held.release()
