"""A local export killed with SIGKILL half-way leaves its held temporary sibling
(`.tmp-held-*`); the next export beside it removes it, and never the temporary sibling of an
export still running. The exports run in a subprocess that stops in its first write until the
test says go on (a hook on the sink, signalled through a pipe): no sleeping."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from dagstore.export import export_view
from export_fixtures import detection_view
from helpers import paused_python

TESTS = Path(__file__).resolve().parents[1]

CHILD = """
import sys
from pathlib import Path
from dagstore.export import export_view, sinks
from export_fixtures import detection_view

view = detection_view(Path(sys.argv[1]))
paused = []

def hooked(real):
    def call(self, *args, **kwargs):
        if not paused:
            paused.append(1)
            pause()
        return real(self, *args, **kwargs)
    return call

for cls in (sinks.FolderSink, sinks.ZipSink):
    cls.write, cls.add_media = hooked(cls.write), hooked(cls.add_media)
export_view(view, "coco", sys.argv[2])
"""


def _paused_export(src: Path, target: Path) -> subprocess.Popen[str]:
    return paused_python(CHILD, [str(src), str(target)], str(TESTS))


def _temps(folder: Path) -> set[Path]:
    return {p for p in folder.iterdir() if p.name.startswith(".tmp-")}


@pytest.mark.parametrize("name", ["out", "out.zip"])
def test_a_killed_export_s_temp_is_removed_by_the_next_and_a_live_one_s_is_kept(tmp_path: Path, name: str) -> None:
    work = tmp_path / "work"
    killed = _paused_export(tmp_path / "src1", work / name)
    [dead] = _temps(work)
    live = _paused_export(tmp_path / "src2", work / f"live-{name}")
    [kept] = _temps(work) - {dead}
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert _temps(work) == {dead, kept}

    export_view(detection_view(tmp_path / "src3"), "coco", work / f"next-{name}")
    assert _temps(work) == {kept}  # the dead export's temp is gone, the live one's is not
    out, err = live.communicate("\n", timeout=120)
    assert live.returncode == 0, err
    assert _temps(work) == set()
    assert sorted(p.name for p in work.iterdir()) == [f"live-{name}", f"next-{name}"]
