"""An S3-compatible server that does not implement ``If-Match`` on PUT (501 NotImplemented, or
400 InvalidArgument naming the header: tests/servers/moto_atomic.py, by bucket name): a draft
save falls back to the two-step ``Backend.replace_if``, with one warning per process and store
(naming it, no credentials), remembered for the backend, instead of failing every save."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core.backend import FsspecBackend, conditional
from helpers import read_tree, write_tree
from servers.moto_atomic import NO_IF_MATCH_400, NO_IF_MATCH_501
from servers.storage import Server

KEY = "drafts/0123abcd.json"


@pytest.fixture(params=[NO_IF_MATCH_501, NO_IF_MATCH_400])
def url(request: pytest.FixtureRequest, s3_server: Server) -> str:
    """A store in a bucket whose PUTs with If-Match the server refuses."""
    return s3_server.new_root(prefix=request.param)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "If-Match" in r.getMessage()]


def test_the_server_refuses_if_match_there_and_writes_nothing(s3_server: Server, url: str) -> None:
    fs = s3_server.fs()
    path = f"{url.split('://', 1)[1]}/{KEY}"
    fs.pipe_file(path, b"as read")
    etag = fs.info(path)["ETag"]
    with pytest.raises(OSError) as err:
        fs.call_s3("put_object", Bucket=path.split("/", 1)[0], Key=path.split("/", 1)[1], Body=b"mine", IfMatch=etag)
    cause: Any = err.value.__cause__  # botocore's error, kept by s3fs
    assert cause.response["Error"]["Code"] in ("NotImplemented", "InvalidArgument")
    assert fs.cat_file(path) == b"as read"
    fresh = s3_server.new_root()  # any other bucket: as S3
    fs.pipe_file(f"{fresh.split('://', 1)[1]}/{KEY}", b"as read")
    assert FsspecBackend(fresh, dict(s3_server.storage_options)).replace_if(KEY, b"mine", lambda cur: cur == b"as read")


def test_replace_if_falls_back_to_two_steps_once_warned(s3_server: Server, url: str, caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    real = conditional.run
    monkeypatch.setattr(conditional, "run", lambda fs, step, *a: steps.append(step.__name__) or real(fs, step, *a))
    backend = FsspecBackend(url, dict(s3_server.storage_options))
    backend.write(KEY, b"as read")
    assert backend.replace_if(KEY, b"mine", lambda cur: cur == b"as read")
    assert steps == ["_s3_read", "_s3_write"] and backend.read(KEY) == b"mine"
    assert not backend.replace_if(KEY, b"other", lambda cur: cur == b"as read")  # still a compare (in two steps)
    assert backend.replace_if(KEY, b"again", lambda cur: cur == b"mine")
    assert steps == ["_s3_read", "_s3_write"]  # remembered: no conditional request since
    assert backend.read(KEY) == b"again"
    again = FsspecBackend(url, dict(s3_server.storage_options))  # another instance tries once, warns no more
    assert again.replace_if(KEY, b"last", lambda cur: cur == b"again")
    [warning] = warnings(caplog)
    assert url in warning and "concurrent saves of one draft" in warning
    assert "testing" not in warning  # the credentials


def test_a_draft_on_such_a_server_is_saved_and_closed(s3_server: Server, url: str, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    src = write_tree(tmp_path / "src", {"a.txt": b"alpha", "d/b.bin": b"beta" * 100})
    store = Store(url, storage_options=dict(s3_server.storage_options), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("n", "p", store=store)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=store).get_local_copy()) == read_tree(src)
    assert len(warnings(caplog)) == 1
