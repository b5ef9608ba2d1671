"""Full disks, for real: a small tmpfs mounted by the test (fails, never skips, if it cannot be
made), filled to leave several amounts of free space. A write that hits ENOSPC must be a
one-line StorageError naming the path that filled, publish nothing, leave no temporary file,
keep every existing version readable, and be retryable once space is freed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagstore import DagstoreError, Dataset, StorageError, Store
from dagstore.core import staging, transfer
from helpers import read_tree, write_tree

KiB, MiB = 1 << 10, 1 << 20


class SmallDisk:
    """A tmpfs of ``size`` bytes at ``path``; ``leave(n)`` fills it up to ``n`` bytes free."""

    def __init__(self, path: Path, size: int):
        self.path = path
        path.mkdir(parents=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
        if r.returncode:
            pytest.fail(f"cannot mount a {size}-byte tmpfs at {path}: {r.stderr.strip()}")
        self.filler = path / "filler"

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def leave(self, nbytes: int) -> None:
        self.filler.unlink(missing_ok=True)
        want = max(0, self.free() - nbytes)
        with open(self.filler, "wb") as f:
            while want > 0:
                n = min(want, 4 * MiB)
                try:
                    f.write(b"\0" * n)
                    f.flush()
                except OSError:
                    break
                want -= n
        assert abs(self.free() - nbytes) <= 8 * KiB or nbytes == 0, (self.free(), nbytes)

    def release(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk", 16 * MiB)
    try:
        yield disk
    finally:
        disk.unmount()


def _temps(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.name.startswith((".tmp-", ".trash-")))


def _payload(tmp_path: Path) -> dict[str, bytes]:
    files = {f"small/{i:02d}.bin": os.urandom(50 * KiB) for i in range(40)}  # 2 MB in packs
    files["large.bin"] = os.urandom(5 * MiB)
    return files


FREE = [0, 16 * KiB, 256 * KiB, 1 * MiB, 3 * MiB, 6 * MiB, 15 * MiB]


@pytest.mark.parametrize("free", FREE, ids=lambda n: f"{n // KiB}KiB-free")
def test_a_full_store_disk_is_a_clear_error_that_publishes_nothing(tmp_path: Path, small_disk: SmallDisk, free: int) -> None:
    url = str(small_disk.path / "store")
    cache = str(tmp_path / "cache")
    st = Store(url, cache_dir=cache)
    old = Dataset.create(dataset_name="old", dataset_project="p", store=st)
    old.add_files(str(write_tree(tmp_path / "old", {"o.txt": "old"})), show_progress=False)
    old.finalize(auto_upload=True)
    payload = _payload(tmp_path)
    src = write_tree(tmp_path / "src", payload)

    small_disk.leave(free)
    draft_id = None
    try:
        ds = Dataset.create(dataset_name="new", dataset_project="p", store=st)
        draft_id = ds.id
        ds.add_files(str(src), show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
        outcome = "ok"
    except DagstoreError as exc:
        assert isinstance(exc, StorageError), f"{type(exc).__name__}: {exc}"
        msg = str(exc)
        assert "\n" not in msg and "No space left" in msg and url in msg and "nothing was published" in msg, msg
        outcome = "error"
    assert free < 15 * MiB or outcome == "ok"  # with room for all of it, it just works
    assert free > 1 * MiB or outcome == "error"

    assert _temps(small_disk.path) == []
    fresh = Store(url, cache_dir=str(tmp_path / "cache2"))
    finals = {d["name"] for d in Dataset.list_datasets(store=fresh)}
    assert finals == ({"old", "new"} if outcome == "ok" else {"old"})
    assert read_tree(Dataset.get(dataset_id=old.id, store=fresh).get_local_copy(show_progress=False)) == {"o.txt": b"old"}
    assert fresh.verify(read_data=True) == []

    if outcome == "error":  # free the space and retry: it completes, nothing was lost
        small_disk.release()
        if draft_id is not None and Store(url, cache_dir=cache).load_draft(draft_id) is not None:
            ds = Dataset.get(dataset_id=draft_id, store=Store(url, cache_dir=cache))
            ds.add_files(str(src), show_progress=False)
        else:
            ds = Dataset.create(dataset_name="new", dataset_project="p", store=Store(url, cache_dir=cache))
            ds.add_files(str(src), show_progress=False)
        ds.upload(show_progress=False)
        ds.finalize()
    got = read_tree(Dataset.get(dataset_project="p", dataset_name="new", store=Store(url, cache_dir=str(tmp_path / "c3"))).get_local_copy(show_progress=False))
    assert got == payload
    assert _temps(small_disk.path) == []


@pytest.mark.parametrize("free", [0, 64 * KiB, 1 * MiB, 3 * MiB, 14 * MiB], ids=lambda n: f"{n // KiB}KiB-free")
def test_a_full_cache_disk_is_a_clear_error_and_leaves_nothing(tmp_path: Path, small_disk: SmallDisk, free: int) -> None:
    url = str(tmp_path / "store")
    payload = _payload(tmp_path)
    st = Store(url, cache_dir=str(tmp_path / "c0"))
    ds = Dataset.create(dataset_name="d", dataset_project="p", store=st)
    ds.add_files(str(write_tree(tmp_path / "src", payload)), show_progress=False)
    ds.finalize(auto_upload=True)

    cache = small_disk.path / "cache"
    small_disk.leave(free)
    reader = Dataset.get(dataset_id=ds.id, store=Store(url, cache_dir=str(cache)))
    assert reader.read_bytes("small/00.bin") == payload["small/00.bin"]  # reading in place needs no cache space
    try:
        folder = reader.get_local_copy(show_progress=False)
        assert read_tree(folder) == payload
        outcome = "ok"
    except DagstoreError as exc:
        assert isinstance(exc, StorageError), f"{type(exc).__name__}: {exc}"
        msg = str(exc)
        assert "\n" not in msg and "No space left" in msg and str(cache) in msg, msg
        outcome = "error"
    assert free < 14 * MiB or outcome == "ok"
    assert free > 3 * MiB or outcome == "error"
    assert _temps(small_disk.path) == []
    if outcome == "error":
        assert not (cache / "versions" / ds.id).exists()
        small_disk.release()
        folder = Dataset.get(dataset_id=ds.id, store=Store(url, cache_dir=str(cache))).get_local_copy(show_progress=False)
        assert read_tree(folder) == payload
    assert _temps(small_disk.path) == []


def test_a_draft_that_cannot_be_saved_keeps_its_previous_state(tmp_path: Path, small_disk: SmallDisk) -> None:
    url = str(small_disk.path / "store")
    st = Store(url, cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create(dataset_name="d", dataset_project="p", store=st)
    ds.add_files(str(write_tree(tmp_path / "one", {"a.txt": "a"})), show_progress=False)
    many = write_tree(tmp_path / "many", {f"f{i:05d}-{'x' * 150}.txt": str(i) for i in range(3000)})
    small_disk.leave(0)
    with pytest.raises(StorageError) as exc:
        ds.add_files(str(many), show_progress=False)
    assert "\n" not in str(exc.value) and "No space left" in str(exc.value)
    small_disk.release()
    assert Dataset.get(dataset_id=ds.id, store=Store(url, cache_dir=str(tmp_path / "c2"))).list_files() == ["a.txt"]
    assert _temps(small_disk.path) == []


@pytest.mark.parametrize("free", [1050 * KiB, 1100 * KiB, 1150 * KiB], ids=lambda n: f"{n // KiB}KiB-free")
def test_a_full_disk_between_packs_leaves_no_pack_temp_file(tmp_path: Path, small_disk: SmallDisk, free: int) -> None:
    """Several 1 MB packs: the index of one fails while the next is being filled (issue 20:
    a 1 MB ``packs/.tmp-*`` was left behind at ~1.1 MB free)."""
    st = Store(str(small_disk.path / "store"), cache_dir=str(tmp_path / "cache"))
    src = write_tree(tmp_path / "src", {f"s/{i:03d}.bin": os.urandom(60 * KiB) for i in range(60)})
    small_disk.leave(free)
    ds = Dataset.create(dataset_name="n", dataset_project="p", store=st)
    ds.add_files(str(src), show_progress=False)
    with pytest.raises(StorageError, match="No space left"):
        ds.upload(show_progress=False, chunk_size=1)
    assert _temps(small_disk.path) == []


def _kept_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """~13 MB of small files that add_files keeps (spooled into the store's unnamed files), and
    the list of files upload reads again."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))  # kept however new
    reads: list[str] = []
    real = transfer.read_small
    monkeypatch.setattr(transfer, "read_small", lambda path, size: reads.append(path) or real(path, size))
    return write_tree(tmp_path / "src", {f"s/{i:04d}.bin": os.urandom(3000 + i) for i in range(3000)}), reads


def test_a_store_disk_that_fills_up_while_add_files_spools_only_means_upload_reads_the_files(
    tmp_path: Path, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, reads = _kept_tree(tmp_path, monkeypatch)
    st = Store(str(small_disk.path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("spool", "p", store=st)
    small_disk.leave(2 * MiB)  # room for the draft, not for the spool
    ds.add_files(src, show_progress=False)
    ds._v.staged.settle()  # the spool gave up: what it had written is given back
    assert small_disk.free() > 1 * MiB and _temps(small_disk.path / "store") == []
    small_disk.release()
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == 3000  # every file read again
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == read_tree(src)


def test_a_full_disk_when_spooled_packs_are_committed_publishes_nothing_and_a_retry_reads_the_files(
    tmp_path: Path, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, reads = _kept_tree(tmp_path, monkeypatch)
    store = small_disk.path / "store"
    st = Store(str(store), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("spool", "p", store=st)
    ds.add_files(src, show_progress=False)
    ds._v.staged.settle()
    small_disk.leave(0)  # the spooled pack is whole, but its header, index or record cannot be written now
    with pytest.raises(StorageError, match="nothing was published"):
        ds.upload(show_progress=False, retries=1)
    assert _temps(store) == [] and ds.is_dirty()
    assert not (store / "versions").exists() or not list((store / "versions").iterdir())
    small_disk.release()
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == 3000  # the spooled pack was dropped with the failed upload: the files are read again
    assert Store(str(store), cache_dir=str(tmp_path / "check")).verify(read_data=True) == []
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == read_tree(src)


def test_a_full_disk_at_the_first_of_several_spooled_packs_gives_back_the_others(
    tmp_path: Path, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upload takes every adoptable segment of the spool at once: when the first one's commit
    fails, the others (unnamed files of the store) are closed too, their space given back."""
    src, reads = _kept_tree(tmp_path, monkeypatch)
    store = small_disk.path / "store"
    st = Store(str(store), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("spool", "p", store=st)
    v = ds._v
    v.staged = staging.Staged(spool_dir=v.store.cache.root, store=v.store.content_backend(v.record), pack_size=1 * MiB)
    ds.add_files(src, show_progress=False)
    ds._v.staged.settle()
    held = small_disk.free()
    small_disk.leave(0)  # the first segment's header cannot be written
    with pytest.raises(StorageError, match="nothing was published"):
        ds.upload(show_progress=False, chunk_size=1, retries=1)
    small_disk.release()
    assert small_disk.free() > held + 10 * MiB  # every segment's space given back, not only the first one's
    assert _temps(store) == [] and ds.is_dirty()
    ds.upload(show_progress=False, chunk_size=1)
    ds.finalize()
    assert Store(str(store), cache_dir=str(tmp_path / "check")).verify(read_data=True) == []
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == read_tree(src)
