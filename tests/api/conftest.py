"""Fixtures of the API tests."""

from __future__ import annotations

import os

import pytest

from dagstore.core import staging, transfer


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Files that upload reads (and verifies) again; files are kept however recent they are."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))
    seen: list[str] = []
    real = transfer.read_small
    monkeypatch.setattr(transfer, "read_small", lambda path, size: seen.append(os.path.basename(path)) or real(path, size))
    return seen
