"""What a new user reads and runs first (README, docs/quickstart.md, docs/cli.md): help texts
that say what the verb does, run as the installed `dagstore` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert DAGSTORE
    return subprocess.run([DAGSTORE, *args], capture_output=True, text=True, timeout=120, check=False)


def test_delete_help_does_not_promise_the_highest_version() -> None:
    # delete never picks one of several versions (docs/cli.md, `delete`); get still does
    delete_help, get_help = run("delete", "--help"), run("get", "--help")
    assert delete_help.returncode == get_help.returncode == 0
    assert "default: the highest" not in " ".join(delete_help.stdout.split())
    assert "none is picked for you" in " ".join(delete_help.stdout.split())
    assert "exact version (default: the highest)" in " ".join(get_help.stdout.split())


def test_close_disable_upload_with_pending_content_says_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    assert run("create", "--project", "p", "--name", "n").returncode == 0
    assert run("add", "--files", str(tmp_path / "data")).returncode == 0
    res = run("close", "--disable-upload")
    assert res.returncode == 1 and res.stdout == ""
    line, = res.stderr.strip().splitlines()[-1:]
    assert "has 1 file not uploaded yet" in line and "`dagstore upload`" in line and "Traceback" not in res.stderr
    assert run("close").returncode == 0


def test_reading_a_dataset_that_is_only_a_draft_names_the_draft(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    draft_id = run("create", "--project", "vision", "--name", "dogs").stdout.strip().splitlines()[-1].removeprefix("id: ")
    assert run("add", "--files", str(tmp_path / "a.txt")).returncode == 0
    for args in (["list", "--project", "vision", "--name", "dogs"], ["get", "--id", "vision/dogs@1.0.0"]):
        res = run(*args)
        assert res.returncode == 1 and res.stdout == ""
        assert res.stderr.strip().splitlines()[-1] == (
            f"dagstore: error: vision/dogs 1.0.0 is a draft (id {draft_id}), not a final version yet; "
            f"close it first (`dagstore close --id {draft_id[:12]}`)")
    missing = run("get", "--project", "vision", "--name", "dogz")
    assert missing.returncode == 1 and "no dataset matches vision/dogz" in missing.stderr


def test_a_typo_in_a_dataset_name_suggests_the_nearest(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.txt").write_text("a")
    assert run("sync", "--project", "vision", "--name", "cats", "--folder", str(tmp_path / "cats")).returncode == 0
    for args, hint in ((["get", "--project", "vision", "--name", "cat"], "vision/cats"),
                       (["list", "--id", "visoin/cats"], "vision/cats"),
                       (["get", "--name", "cast"], "vision/cats")):
        res = run(*args)
        assert res.returncode == 1 and res.stderr.strip().endswith(f"(did you mean {hint}?)"), res.stderr
    far = run("get", "--project", "vision", "--name", "zzzz")
    assert far.returncode == 1 and "did you mean" not in far.stderr


def test_sync_by_a_name_two_projects_hold_needs_the_project(tmp_path: Path) -> None:
    for project, content in (("p1", "one"), ("p2", "two")):
        (tmp_path / project).mkdir()
        (tmp_path / project / "f.txt").write_text(content)
        assert run("sync", "--project", project, "--name", "imgs", "--folder", str(tmp_path / project)).returncode == 0
    (tmp_path / "p1" / "g.txt").write_text("new")
    res = run("sync", "--name", "imgs", "--folder", str(tmp_path / "p1"))
    assert res.returncode == 1 and res.stderr.strip().splitlines()[-1] == (
        "dagstore: error: a dataset named imgs is in several projects (p1, p2); give its project (--project)")
    assert [r.split()[1:3] for r in run("search").stdout.splitlines()[1:]] == [["p2/imgs", "1.0.0"], ["p1/imgs", "1.0.0"]]
    assert run("sync", "--project", "p1", "--name", "imgs", "--folder", str(tmp_path / "p1")).stdout.startswith("closed p1/imgs 1.0.1")


def test_sync_by_a_name_one_project_holds_as_a_draft_only_goes_to_that_project(tmp_path: Path) -> None:
    assert run("create", "--project", "p1", "--name", "drafty").returncode == 0
    (tmp_path / "f.txt").write_text("one")
    res = run("sync", "--name", "drafty", "--folder", str(tmp_path))
    assert res.returncode == 0 and res.stdout.startswith("closed p1/drafty "), res.stdout + res.stderr
