"""An export to a place that cannot be written (``/proc``, ``/sys``, a path through a file, a
disk that refuses a write half-way) is one line naming the target as given — never the
temporary sibling — and leaves nothing behind: no temporary sibling, no folder made for it.
(These tests run as root too: ``/proc`` and ``/sys`` refuse new entries whoever asks.)"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.cli import main
from dagstore.errors import StorageError
from dagstore.export import ExportError, download_dataset, export_view, extract, jobs
from export_fixtures import detection_view, image_bytes, img_ann, make_view


def _left(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != "src")


@pytest.mark.parametrize("target,where", [
    ("/proc/x", re.escape("No such file or directory (making a new entry in /proc)")),
    ("/proc/x.zip", re.escape("No such file or directory (making a new entry in /proc)")),
    ("/proc/sub/x", re.escape("No such file or directory (/proc/sub)")),
    ("/sys/x", r"(Operation not permitted|Read-only file system) \(making a new entry in /sys\)"),  # as /sys is mounted
])
def test_a_place_that_takes_no_new_entries_is_one_line_naming_the_target(tmp_path: Path, target: str, where: str) -> None:
    view = detection_view(tmp_path / "src")
    with pytest.raises(StorageError) as exc:
        export_view(view, "coco", target)
    assert re.fullmatch(re.escape(f"cannot write the export to {target}: ") + where, str(exc.value)), str(exc.value)
    assert not os.path.lexists(target)


@pytest.mark.parametrize("target", ["afile/sub/out", "afile/out.zip"])
def test_a_path_through_a_file_is_refused_and_nothing_is_left(tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    view = detection_view(tmp_path / "src")
    (tmp_path / "afile").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=f"^cannot write the export to {target}: {tmp_path}/afile is not a folder$"):
        export_view(view, "coco", target)
    assert _left(tmp_path) == ["afile"]


@pytest.mark.parametrize("target", ["new/deeper/out", "new/deeper/out.zip"])
def test_the_folders_made_for_a_failed_export_are_removed(tmp_path: Path, target: str) -> None:
    (tmp_path / "keep").mkdir()
    view = make_view(tmp_path / "src", {"a.jpg": (image_bytes(8, 8), img_ann(8, 8))}, ["x"])
    for root in ("new", "keep"):
        with pytest.raises(ExportError, match="nothing of version .* is expressible in ASR_MANIFEST"):
            export_view(view, "asr_manifest", tmp_path / root / target.partition("/")[2])
    assert _left(tmp_path) == ["keep"] and list((tmp_path / "keep").iterdir()) == []


def _dataset(tmp_path: Path) -> Dataset:
    (tmp_path / "data/train/cat").mkdir(parents=True)
    (tmp_path / "data/train/cat/1.bin").write_bytes(os.urandom(300_000))
    ds = Dataset.create("big", "p")
    ds.add_files(tmp_path / "data", show_progress=False)
    ds.add_classes(["cat"])
    ds.set_annotation("train/cat/1.bin", {"split": "train", "labels": ["cat"]})
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_the_cli_says_one_line_naming_the_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = _dataset(tmp_path)
    for flag, target in (("--out", "/proc/x"), ("--zip", "/proc/x.zip")):
        assert main(["export", "run", ds.id, "-f", "FOLDERS", flag, target]) == 1
        err = capsys.readouterr().err
        assert err == f"dagstore: error: cannot write the export to {target}: No such file or directory (making a new entry in /proc)\n"


_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from dagstore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_refused_half_way_names_the_target_and_leaves_nothing(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    ds.export("FOLDERS", tmp_path / "warm")  # the local copy is made here, not under the limit
    target = tmp_path / "made" / "big.zip"
    proc = subprocess.run([sys.executable, "-c", _LIMITED, "export", "run", ds.id, "-f", "FOLDERS", "--zip", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == f"dagstore: error: cannot write the export to {target}: File too large\n"
    assert not (tmp_path / "made").exists()


def test_a_download_or_a_job_download_to_such_a_place_names_it_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=r"^cannot write the export to /proc/x: No such file or directory \(making a new entry in /proc\)$"):
        download_dataset(ds.id, extract_to_folder="/proc/x", export_format="FOLDERS")
    job = ds.create_export("FOLDERS").wait(timeout=60)
    jobs._children[-1].wait(timeout=60)  # the worker process, done
    assert job.status == "completed"
    (tmp_path / "made").mkdir()
    (tmp_path / "made/afile").write_bytes(b"")
    for target in ("/proc/x", "/proc/x.zip", "made/afile/x", "made/afile/x.zip"):
        with pytest.raises(StorageError, match=f"^cannot write the export to {target}: "):
            job.download(target)
    assert _left(tmp_path) == ["data", "made"] and sorted(p.name for p in (tmp_path / "made").iterdir()) == ["afile"]


def test_a_job_download_whose_extraction_fails_names_the_folder_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _dataset(tmp_path)
    job = ds.create_export("FOLDERS").wait(timeout=60)
    jobs._children[-1].wait(timeout=60)
    monkeypatch.chdir(tmp_path)

    def disk_full(zip_path: str, folder: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a write that names no path

    monkeypatch.setattr(extract, "extract_zip", disk_full)
    with pytest.raises(StorageError, match="^cannot write the export to made/out: No space left on device$"):
        job.download("made/out")
    assert _left(tmp_path) == ["data"]
