"""Library output goes through logging; verbose=True prints ClearML's messages on stdout."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dagstore import Dataset


def _draft(tmp_path: Path) -> tuple[Dataset, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    return Dataset.create("logs", "p", store=str(tmp_path / "store")), src


def test_quiet_calls_log_and_print_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    ds, src = _draft(tmp_path)
    with caplog.at_level(logging.INFO, logger="dagstore"):
        ds.add_files(src, show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
    assert capsys.readouterr().out == ""
    messages = [r.getMessage() for r in caplog.records if r.name == "dagstore"]
    assert "added or modified 1 of 1 files" in messages
    assert any(m.startswith("finalized p/logs version 1.0.0") for m in messages)


def test_verbose_prints_the_messages_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds, src = _draft(tmp_path)
    ds.add_files(src, verbose=True, show_progress=False)
    ds.upload(verbose=True, show_progress=False)
    ds.finalize(verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "added or modified 1 of 1 files"
    assert out[1].startswith("uploaded 1 blobs")
    assert out[2] == f"finalized p/logs version 1.0.0 ({ds.id})"
