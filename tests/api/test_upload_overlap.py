"""Upload does its three kinds of work at once: small files kept by add_files are packed from
the staging spool while encode threads read the other small files again (checking each against
its hash) and put threads copy the large files; a failure in any of them fails the upload
cleanly, and a retry after adding the file again completes it."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from dagstore import Dataset
from dagstore.core import staging, transfer
from dagstore.core.backend.local import LocalBackend
from dagstore.core.records import Draft
from dagstore.errors import InvalidPathError
from helpers import noise, read_tree, write_tree

WAIT = 30  # seconds: only a missing overlap waits this long (then the test fails)


def _tree() -> dict[str, bytes]:
    """Small files (kept), files of 32 KiB to 4 MiB (read again at upload), large files (objects)."""
    files = {f"small/{i:03d}.txt": b"row %d\n" % i * (50 + i) for i in range(300)}
    files |= {f"mid/{i:02d}.bin": noise(f"m{i}", (40 << 10) + 7919 * i) for i in range(12)}
    files |= {f"mid/{i:02d}.json": b'{"k": %d}\n' % i * (9000 + 100 * i) for i in range(6)}
    files |= {"big/a.bin": noise("a", (4 << 20) + 1), "big/b.bin": noise("b", 5 << 20)}
    return files


@pytest.fixture
def kept_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are kept by add_files however recently they were written."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))


def test_kept_files_are_packed_while_the_others_are_read_again_and_the_large_ones_copied(
    tmp_path: Path, kept_now: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoding, copying = threading.Event(), threading.Event()
    encoded: list[str] = []
    real_encode, real_read, real_put = transfer._encode, staging.Staged.read, LocalBackend.put_file

    def encode(chunk: list[transfer.Pending], level: int | None) -> Any:
        encoding.set()
        encoded.extend(os.path.basename(p.local_path) for p in chunk)
        return real_encode(chunk, level)

    def read(self: staging.Staged, blobs: Any) -> Iterator[Any]:
        # the kept blobs are packed only once the other two kinds of work have begun:
        # an upload doing them one after another never gets here in time
        assert encoding.wait(WAIT), "the files read again were not encoded beside the kept ones"
        assert copying.wait(WAIT), "the large files were not copied beside the small ones"
        yield from real_read(self, blobs)

    def put_file(self: LocalBackend, local: str, key: str, callback: Any = None) -> None:
        copying.set()
        real_put(self, local, key, callback)

    monkeypatch.setattr(transfer, "_encode", encode)
    monkeypatch.setattr(staging.Staged, "read", read)
    monkeypatch.setattr(LocalBackend, "put_file", put_file)
    src = write_tree(tmp_path / "src", _tree())
    ds = Dataset.create("overlap", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    assert sorted(encoded) == sorted(os.path.basename(p) for p, d in _tree().items() if staging.KEEP_BELOW <= len(d) < 4 << 20)
    assert ds.record.stats["files"] == len(_tree()) and len(ds.record.objects) == 2
    assert read_tree(Dataset.get(dataset_id=ds.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == _tree()


def test_small_slices_bound_the_bytes_each_encode_thread_holds() -> None:
    items = [transfer.Pending(f"{i:032x}", size, f"/x/{i}", 0) for i, size in enumerate([3 << 20] * 12 + [100] * 300)]
    slices = transfer._slices(items)
    assert [p for s in slices for p in s] == items
    assert all(len(s) <= transfer._SLICE and sum(p.size for p in s[:-1]) < transfer._SLICE_BYTES for s in slices)
    assert [len(s) for s in slices] == [6, 6, 128, 128, 44]  # six 3 MiB files pass 16 MiB; then 128 files at most
    assert transfer._slices([]) == []


@pytest.mark.parametrize(("which", "same_mtime"), [("mid/03.bin", True), ("big/b.bin", False), ("big/a.bin", True)])
def test_a_file_changed_after_add_files_fails_the_upload_and_nothing_is_left_half_done(
    tmp_path: Path, kept_now: None, which: str, same_mtime: bool
) -> None:
    src = write_tree(tmp_path / "src", _tree())
    store = tmp_path / "store"
    ds = Dataset.create("overlap", "p", store=str(store))
    ds.add_files(src, show_progress=False)
    path = src / which
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    if same_mtime:  # same size and mtime: the hash tells a mid-size file, the change time a large one
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(path).st_ctime_ns != st.st_ctime_ns  # utime itself moves it
    with pytest.raises(InvalidPathError) as exc:
        ds.upload(show_progress=False)
    assert str(exc.value) == f"{path}: changed after it was added; add it again before uploading"
    assert ds.is_dirty() and not ds.is_final()
    assert not list(store.rglob(".tmp-*"))  # every spool of the failed upload was dropped
    assert not (store / "versions").exists() or not list((store / "versions").iterdir())
    ds.add_files(src, show_progress=False)  # the changed file added again: the upload completes
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=str(store)).get_local_copy(show_progress=False)) == read_tree(src)



def test_a_large_file_whose_change_time_alone_moved_is_hashed_again_and_uploaded(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", _tree())
    store = tmp_path / "store"
    ds = Dataset.create("overlap", "p", store=str(store))
    ds.add_files(src, show_progress=False)
    path = src / "big/a.bin"
    st = os.stat(path)
    os.chmod(path, 0o600)  # a new change time, the same content
    assert os.stat(path).st_ctime_ns != st.st_ctime_ns
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=str(store)).get_local_copy(show_progress=False)) == _tree()


def test_a_draft_saved_without_change_times_still_uploads(tmp_path: Path) -> None:
    """A draft of an older release lists ``[local file, mtime_ns]``: its change time is not known
    (0), so its large files are checked by size and mtime as before."""
    src = write_tree(tmp_path / "src", _tree())
    ds = Dataset.create("overlap", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    draft = ds._v.require_draft()
    old = Draft.from_bytes(zstandard.ZstdCompressor().compress(json.dumps(
        {**json.loads(zstandard.ZstdDecompressor().decompress(draft.to_bytes(), max_output_size=1 << 26)),
         "pending": {k: v[:2] for k, v in draft.pending.items()}}).encode()))
    assert old.pending == {k: (v[0], v[1], 0) for k, v in draft.pending.items()} and all(v[2] for v in draft.pending.values())
    draft.pending = old.pending
    os.chmod(src / "big/a.bin", 0o600)  # not seen without a change time: uploaded as before
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == _tree()

def _slow_first_slice(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
    """The encode call of the slice holding the first path finishes last (or fails)."""
    real = transfer._encode

    def encode(chunk: list[transfer.Pending], level: int | None) -> Any:
        if any(p.local_path.endswith("f0000.bin") for p in chunk):
            threading.Event().wait(0.5)
            if fail:
                raise InvalidPathError(f"{chunk[0].local_path}: changed after it was added")
        return real(chunk, level)

    monkeypatch.setattr(transfer, "_encode", encode)


def _recent_tree(root: Path) -> Path:
    """600 small files just written: add_files keeps none (too recent), so upload encodes them all."""
    write_tree(root, {f"f{i:04d}.bin": noise(f"s{i}", 2000 + 13 * i) for i in range(600)})
    return root


def test_encoded_slices_are_packed_in_path_order_whichever_thread_finishes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_first_slice(monkeypatch)
    src = _recent_tree(tmp_path / "src")
    ds = Dataset.create("d", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False, chunk_size=0.25, max_workers=2)
    ds.finalize()
    where = ds.store.locations(ds.store.chain(ds.id))
    packs = [where[e.hash][1].pack for e in sorted(ds.file_entries, key=lambda e: e.relative_path)]
    runs = 1 + sum(a != b for a, b in zip(packs, packs[1:]))
    assert len(set(packs)) >= 4 and runs == len(set(packs)), "a pack's files are not one run of the path order"
    assert read_tree(ds.get_local_copy(show_progress=False)) == read_tree(src)


def test_a_failed_slice_fails_the_upload_without_leaving_later_slices_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_first_slice(monkeypatch, fail=True)
    src = _recent_tree(tmp_path / "src")
    ds = Dataset.create("d", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ds.upload(show_progress=False, chunk_size=0.25, max_workers=2)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(WAIT)
    assert not t.is_alive(), "the upload hung: later slices waited for a slice that failed"
    assert len(errors) == 1 and isinstance(errors[0], InvalidPathError), errors
    assert not ds.is_final() and ds.is_dirty()
