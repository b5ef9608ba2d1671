"""Ctrl-C on the `dagstore` command is one line and exit code 130, also while it is still
importing (most of its start-up time): the console script named in pyproject.toml, run in a
subprocess the way pip's generated script runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dagstore.cli import app

ROOT = Path(__file__).resolve().parents[2]
LINE = "dagstore: error: interrupted"


def console_script() -> str:
    """The code of pip's `dagstore` script for the entry point pyproject.toml names."""
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["dagstore"]
    module, func = spec.split(":")
    return f"import re, sys\nfrom {module} import {func}\nsys.exit({func}())\n"


def test_ctrl_c_while_importing_is_one_line_and_130() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    # -X importtime reports each module as its import ends: once a module of the package is in,
    # the rest of the package and the CLI (most of a second) are still importing.
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-c", console_script(), "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if re.search(r"\|\s+dagstore\.", line):
            proc.send_signal(signal.SIGINT)
            break
    out, rest = proc.communicate(timeout=120)
    err = [ln for ln in (seen + rest.splitlines(keepends=True)) if not ln.startswith("import time:")]
    assert "Traceback" not in "".join(err), "".join(err)
    assert [ln.rstrip("\n") for ln in err] == [LINE]
    assert proc.returncode == 130 and out == ""


def test_main_s_own_handler_says_the_same(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(app.cli, "main", interrupted)
    assert app.main(["list"]) == 130
    assert capsys.readouterr().err == LINE + "\n"
