"""``replace_if`` on S3, GCS and Azure (real servers) is a compare and swap: a write by another
writer between its read and its write makes it refuse (False), that writer's bytes kept; the
store checks the version it read (ETag / generation) on the write itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dagstore.core.backend import FsspecBackend

KEY = "drafts/0123abcd.json"


@pytest.fixture(params=["s3_server", "gcs_server", "azure_server"])
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _backend(server: Any) -> FsspecBackend:
    return FsspecBackend(server.new_root("cas"), dict(server.storage_options))


def _meanwhile(server: Any, backend: FsspecBackend, change: str, seen: list[bytes | None]) -> Any:
    """An ``unchanged`` that lets another writer (its own client) ``change`` the key, then says yes."""
    other = server.fs()
    path = f"{backend.root}/{KEY}"

    def unchanged(current: bytes | None) -> bool:
        seen.append(current)
        if change == "delete":
            other.rm(path)
        else:
            other.pipe_file(path, change.encode())
        return True

    return unchanged


def test_a_write_by_another_writer_after_the_read_is_kept(server: Any) -> None:
    backend = _backend(server)
    backend.write(KEY, b"as read")
    seen: list[bytes | None] = []
    assert backend.replace_if(KEY, b"mine", _meanwhile(server, backend, "the other writer's", seen)) is False
    assert seen == [b"as read"]
    assert backend.read(KEY) == b"the other writer's"


def test_an_object_deleted_after_the_read_stays_deleted(server: Any) -> None:
    backend = _backend(server)
    backend.write(KEY, b"as read")
    assert backend.replace_if(KEY, b"mine", _meanwhile(server, backend, "delete", [])) is False
    assert not backend.exists(KEY)


def test_an_object_created_after_it_was_seen_absent_is_kept(server: Any) -> None:
    backend = _backend(server)
    seen: list[bytes | None] = []
    assert backend.replace_if(KEY, b"mine", _meanwhile(server, backend, "the other writer's", seen)) is False
    assert seen == [None] and backend.read(KEY) == b"the other writer's"


def test_the_same_bytes_written_meanwhile_are_a_change_too(server: Any) -> None:
    """Refused on the version, not the bytes (a save that finds its own bytes there is merged by
    ``Registry.save_draft``, which reads the draft again)."""
    backend = _backend(server)
    backend.write(KEY, b"as read")
    assert backend.replace_if(KEY, b"mine", _meanwhile(server, backend, "mine", [])) is False
    assert backend.read(KEY) == b"mine"


def test_concurrent_increments_are_none_lost(server: Any) -> None:
    """Writers on their own clients, as on other hosts, each adding 1 to a counter: every
    increment that ``replace_if`` reports done is in the final count."""
    root = server.new_root("counter")

    def add(_: int) -> int:
        backend, done = FsspecBackend(root, dict(server.storage_options)), 0
        while done < 5:
            try:
                seen: bytes | None = backend.read("n")
            except FileNotFoundError:
                seen = None
            done += backend.replace_if("n", b"%d" % (int(seen or 0) + 1), lambda cur: cur == seen)
        return done

    with ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(add, range(6))) == 30
    assert FsspecBackend(root, dict(server.storage_options)).read("n") == b"30"


def test_unchanged_objects_are_replaced_and_refusals_write_nothing(server: Any) -> None:
    backend = _backend(server)
    assert backend.replace_if(KEY, b"one", lambda cur: cur is None) is True
    assert backend.replace_if(KEY, b"two", lambda cur: cur == b"one") is True
    assert backend.replace_if(KEY, b"three", lambda cur: cur == b"one") is False
    assert backend.read(KEY) == b"two"
    assert backend.replace_if(KEY, b"three", lambda cur: cur == b"two") is True  # the new version's token
    assert backend.read(KEY) == b"three"
