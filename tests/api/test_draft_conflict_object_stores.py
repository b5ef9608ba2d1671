"""Two hosts saving one draft on S3, GCS and Azure (real servers): the other host's save lands
between this one's read of the draft and its write (``replace_if``), the moment a check made
by a separate read could not see. The store refuses the write; the save is then refused
(ConflictError: two adds) or merged (two uploads), and nothing either host added is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dagstore import ConflictError, Dataset, Store
from dagstore.core.backend import conditional
from helpers import noise, read_tree, write_tree

FIRST = {f"a/f{i}.bin": noise(f"first{i}", 300 + i) for i in range(12)}
SECOND = {f"b/g{i}.bin": noise(f"second{i}", 400 + i) for i in range(12)}


@pytest.fixture(params=["s3_server", "gcs_server", "azure_server"])
def root(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    server = request.getfixturevalue(request.param)
    return server.new_root("store"), dict(server.storage_options)


def _host(root: tuple[str, dict[str, Any]], cache: Path) -> Store:
    """A store handle with its own backend and cache, as on another host."""
    return Store(root[0], storage_options=root[1], cache_dir=str(cache))


def _racing(store: Store, other_save: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Run ``other_save`` once, on the next draft save of ``store``: after its read, before its write."""
    backend, ran = store.backend, []
    real = backend.replace_if

    def replace_if(key: str, data: bytes, unchanged: Callable[[bytes | None], bool]) -> bool:
        def check(current: bytes | None) -> bool:
            ok = unchanged(current)
            if ok and key.startswith("drafts/") and not ran:
                ran.append(True)
                other_save()
            return ok

        return real(key, data, check)

    monkeypatch.setattr(backend, "replace_if", replace_if)
    return ran


def _closed(store: Store, ds_id: str) -> dict[str, bytes]:
    ds = Dataset.get(dataset_id=ds_id, store=store)
    ds.upload(show_progress=False)
    ds.finalize()
    return read_tree(Dataset.get(dataset_id=ds_id, store=store).get_local_copy())


def test_an_add_whose_draft_another_host_saved_meanwhile_is_refused(root: tuple[str, dict[str, Any]], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    one_host, two_host = _host(root, tmp_path / "cache1"), _host(root, tmp_path / "cache2")
    ds_id = Dataset.create("d", "p", store=one_host).id
    one, two = Dataset.get(dataset_id=ds_id, store=one_host), Dataset.get(dataset_id=ds_id, store=two_host)
    first, second = write_tree(tmp_path / "first", FIRST), write_tree(tmp_path / "second", SECOND)
    ran = _racing(two_host, lambda: one.add_files(first, show_progress=False), monkeypatch)
    with pytest.raises(ConflictError, match=f"draft {ds_id} .*run the command again"):
        two.add_files(second, show_progress=False)
    assert ran == [True]
    reader = _host(root, tmp_path / "cache3")
    assert sorted(Dataset.get(dataset_id=ds_id, store=reader).list_files()) == sorted(FIRST)
    Dataset.get(dataset_id=ds_id, store=two_host).add_files(second, show_progress=False)  # the rerun adds to it
    assert _closed(one_host, ds_id) == {**FIRST, **SECOND}


def test_an_upload_whose_draft_another_host_uploaded_meanwhile_keeps_both_packs(
        root: tuple[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one_host, two_host = _host(root, tmp_path / "cache1"), _host(root, tmp_path / "cache2")
    ds = Dataset.create("d", "p", store=one_host)
    ds.add_files(write_tree(tmp_path / "first", FIRST), show_progress=False)
    one, two = Dataset.get(dataset_id=ds.id, store=one_host), Dataset.get(dataset_id=ds.id, store=two_host)
    monkeypatch.setattr(one_host, "pack_index", lambda be, only=None: {})  # one looked before two stored its pack
    ran = _racing(two_host, lambda: one.upload(show_progress=False, compression=1), monkeypatch)
    two.upload(show_progress=False, compression=19)  # another pack than one's: the merge must keep both
    assert ran == [True]
    saved = Dataset.get(dataset_id=ds.id, store=_host(root, tmp_path / "cache3"))._v
    assert set(saved.record.packs) == {*one._v.record.packs, *two._v.record.packs} and len(saved.record.packs) == 2
    assert not saved.require_draft().pending
    assert _closed(two_host, ds.id) == FIRST


def test_a_save_whose_answer_was_lost_is_saved_by_its_retry(root: tuple[str, dict[str, Any]], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The store took the draft's conditional write but its answer was lost: the retry is refused
    (the draft is no longer the version read), the save reads the draft again, finds its own
    save there and is done."""
    real, lost = conditional.versioned, []

    def versioned(fs: Any) -> conditional.Versioned | None:
        steps = real(fs)
        assert steps is not None

        async def write(fs: Any, path: str, data: bytes, token: str) -> bool:
            done = await steps.write(fs, path, data, token)
            if "/drafts/" in path and not lost:
                lost.append(done)
                raise ConnectionResetError("the answer was lost")
            return done

        return steps._replace(write=write)

    monkeypatch.setattr(conditional, "versioned", versioned)
    host = _host(root, tmp_path / "cache1")
    ds = Dataset.create("d", "p", store=host)
    ds.add_files(write_tree(tmp_path / "first", FIRST), show_progress=False)
    assert lost == [True]
    assert _closed(_host(root, tmp_path / "cache2"), ds.id) == FIRST
