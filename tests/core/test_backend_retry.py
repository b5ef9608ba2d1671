"""The fsspec backend's retries: transient errors are retried with backoff, others are not,
and the final error names the store without credentials."""

from __future__ import annotations

import pytest

import dagstore.core.backend.retry as backend_mod
from dagstore.core.backend import FsspecBackend
from dagstore.errors import StorageError


@pytest.fixture
def be(monkeypatch):
    monkeypatch.setattr(backend_mod.time, "sleep", lambda s: None)
    b = FsspecBackend("memory://retry-test/store", {})
    b.write("x/obj", b"data")
    return b


def flaky(real, failures: list[BaseException]):
    def call(*args, **kwargs):
        if failures:
            raise failures.pop(0)
        return real(*args, **kwargs)
    return call


def test_transient_errors_are_retried(be, monkeypatch):
    monkeypatch.setattr(be.fs, "cat_file", flaky(be.fs.cat_file, [ConnectionError("reset"), TimeoutError("slow")]))
    assert be.read("x/obj") == b"data"


def test_missing_objects_are_not_retried(be, monkeypatch):
    calls = []
    monkeypatch.setattr(be.fs, "cat_file", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(FileNotFoundError("x")))
    with pytest.raises(FileNotFoundError):
        be.read("x/obj")
    assert calls == [1]


def test_persistent_failure_becomes_a_storage_error_without_secrets(monkeypatch):
    monkeypatch.setattr(backend_mod.time, "sleep", lambda s: None)
    b = FsspecBackend("memory://user:hunter2@retry-test/store?sig=SECRET", {})
    monkeypatch.setattr(b.fs, "cat_file", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("down")))
    with pytest.raises(StorageError) as exc:
        b.read("x/obj")
    assert "hunter2" not in str(exc.value) and "SECRET" not in str(exc.value)
    assert "after retries" in str(exc.value)


def test_exists_is_retried(be, monkeypatch):
    monkeypatch.setattr(be.fs, "info", flaky(be.fs.info, [ConnectionError("reset")]))
    assert be.exists("x/obj")
    monkeypatch.setattr(be.fs, "info", flaky(be.fs.info, [TimeoutError("slow")]))
    assert not be.exists("x/none")


def test_pack_commits_are_retried_and_resend_every_piece(be, monkeypatch):
    real_open = be.fs.open
    failures = [ConnectionError("reset during upload")]

    def open_(path, mode="rb", **kw):
        if "w" in mode and failures:
            raise failures.pop(0)
        return real_open(path, mode, **kw)

    monkeypatch.setattr(be.fs, "open", open_)
    spool = be.open_spool("packs")
    spool.write(b"first ")
    spool.write(b"second")
    spool.commit("packs/ab/abcd")
    assert be.read("packs/ab/abcd") == b"first second"
    assert failures == []
