"""What a new user reads and runs first (README, docs/quickstart.md, docs/cli.md): help texts
that say what the verb does, run as the installed `dagstore` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

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
