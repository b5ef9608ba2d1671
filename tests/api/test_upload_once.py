"""One read per file: upload packs the small files' bytes that add_files read and hashed, and
still refuses a file changed between add_files and upload."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from dagstore.core import packs, staging, statcheck, transfer
from dagstore.core.backend.local import LocalBackend
from dagstore.core.hashing import hash_bytes
from dagstore.core.scan import LocalFile
from dagstore.core.ops import commit, lookup, stage
from dagstore.errors import InvalidPathError
from helpers import read_tree, write_tree

TREE = {"a.txt": "alpha\n" * 50, "b.bin": "b" * 3000, "sub/c.csv": "x,y\n1,2\n" * 40, "sub/same.txt": "alpha\n" * 50}


def draft_of(tmp_path: Path) -> tuple[Dataset, Path]:
    src = write_tree(tmp_path / "src", TREE)
    ds = Dataset.create("once", "p", store=str(tmp_path / "store"))
    ds.add_files(src, show_progress=False)
    return ds, src


def test_upload_packs_what_add_files_read_without_reading_again(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []
    assert read_tree(Dataset.get(dataset_id=ds.id, store=str(tmp_path / "store")).get_local_copy()) == read_tree(src)


def test_upload_releases_the_bytes_add_files_kept(tmp_path: Path, reads: list[str]) -> None:
    v = lookup.new_draft(Store(str(tmp_path / "store")), "once", "p", None, [], None, None, None)
    stage.add_files(v, write_tree(tmp_path / "src", TREE), None, None, None, True, None, False)
    assert v.staged is not None
    commit.upload(v, False, None, None, None, None, 3)
    assert v.staged is None and reads == []


def test_an_add_files_refused_after_hashing_keeps_no_content(tmp_path: Path, reads: list[str]) -> None:
    """A folder refused after its files were hashed and kept (a file of the draft where it needs a
    folder): the spool the call made is given back, and a later add_files and upload work."""
    v = lookup.new_draft(Store(str(tmp_path / "store")), "once", "p", None, [], None, None, None)
    stage.add_files(v, write_tree(tmp_path / "one", {"sub": "a file"}), None, None, None, True, None, False)
    commit.upload(v, False, None, None, None, None, 3)
    assert v.staged is None
    with pytest.raises(InvalidPathError, match="sub"):
        stage.add_files(v, write_tree(tmp_path / "src", TREE), None, None, None, True, None, False)
    assert v.staged is None  # the refused call's spool is gone, not left for upload to skip
    assert sorted(v.current().paths()) == ["sub"]
    stage.add_files(v, write_tree(tmp_path / "two", {"d.txt": "delta\n" * 40}), None, None, None, True, None, False)
    assert v.staged is not None
    commit.upload(v, False, None, None, None, None, 3)
    assert reads == []


def test_a_refused_add_files_raises_its_own_error_when_its_spool_also_failed(tmp_path: Path, reads: list[str],
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal is the error the user sees, not the spool's encoder failure met while closing it."""
    v = lookup.new_draft(Store(str(tmp_path / "store")), "once", "p", None, [], None, None, None)
    stage.add_files(v, write_tree(tmp_path / "one", {"sub": "a file"}), None, None, None, True, None, False)
    commit.upload(v, False, None, None, None, None, 3)

    def broken(blobs: list[bytes], level: int | None) -> list[tuple[bytes, int]]:
        raise RuntimeError("encoder broke")

    monkeypatch.setattr(staging, "encode_blobs", broken)
    with pytest.raises(InvalidPathError, match="sub"):
        stage.add_files(v, write_tree(tmp_path / "src", TREE), None, None, None, True, None, False)
    assert v.staged is None and sorted(v.current().paths()) == ["sub"]


def next_ctime_tick(path: Path, probe: Path) -> None:
    """Wait until a change made now gets a later change time than ``path``'s (``probe``: a scratch
    file): the kernel stamps changes with a coarse clock (a few ms), so a fast machine can rewrite
    a file in the very tick it was created in, and then nothing tells the two apart."""
    while True:
        probe.touch()
        if os.stat(probe).st_ctime_ns > os.stat(path).st_ctime_ns:
            probe.unlink()
            return


def test_a_file_changed_after_add_files_is_refused_even_with_its_size_and_mtime_restored(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    st = os.stat(src / "b.bin")
    next_ctime_tick(src / "b.bin", tmp_path / "tick")
    (src / "b.bin").write_text("B" * 3000)
    os.utime(src / "b.bin", ns=(st.st_atime_ns, st.st_mtime_ns))  # only the change time tells
    with pytest.raises(InvalidPathError, match="b.bin: changed after it was added"):
        ds.upload(show_progress=False)
    assert reads == ["b.bin"]
    assert ds.is_dirty()


def test_a_touched_but_unchanged_file_is_read_again_and_uploaded(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    os.utime(src / "sub" / "c.csv", ns=(10**18, 10**18))
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == ["c.csv"]
    assert read_tree(ds.get_local_copy()) == read_tree(src)


def test_recently_changed_files_and_other_compression_levels_are_read_at_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = transfer.read_small
    monkeypatch.setattr(transfer, "read_small", lambda path, size: seen.append(os.path.basename(path)) or real(path, size))
    monkeypatch.setattr(staging, "RACY_NS", 3600 * 10**9)  # "recently" = within the hour: no machine is too slow
    ds, src = draft_of(tmp_path)  # just written: within RACY_NS, an edit could keep the same stat
    ds.upload(show_progress=False)
    assert sorted(seen) == ["a.txt", "b.bin", "c.csv"]  # same.txt has a.txt's content: sent once
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))
    seen.clear()
    other, _ = draft_of(tmp_path / "again")
    other.upload(show_progress=False, compression=False)
    assert sorted(seen) == ["a.txt", "b.bin", "c.csv"]
    other.finalize()
    assert read_tree(other.get_local_copy()) == read_tree(src)


def test_past_its_budget_the_draft_keeps_nothing_more_and_upload_reads_the_rest(tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "DEFAULT_BUDGET", 3100)
    ds, src = draft_of(tmp_path)
    ds.upload(show_progress=False)
    ds.finalize()
    assert 1 <= len(reads) < 3
    assert read_tree(ds.get_local_copy()) == read_tree(src)


def test_a_file_deleted_after_add_files_is_refused(tmp_path: Path, reads: list[str]) -> None:
    ds, src = draft_of(tmp_path)
    (src / "a.txt").unlink()
    with pytest.raises(InvalidPathError, match="a.txt: cannot read"):
        ds.upload(show_progress=False)


def test_a_staging_spool_on_a_full_disk_only_means_upload_reads_the_files(tmp_path: Path, reads: list[str]) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode:
        pytest.fail(f"cannot mount a small tmpfs at {disk}: {r.stderr.strip()}")
    try:
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # fill it: the spool's first write gets ENOSPC
            with pytest.raises(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        v = lookup.new_draft(Store(str(tmp_path / "store")), "once", "p", None, [], None, None, None)
        v.staged = staging.Staged(spool_dir=disk)
        src = write_tree(tmp_path / "src", TREE)
        stage.add_files(v, src, None, None, None, True, None, False)
        commit.upload(v, False, None, None, None, None, 3)
        commit.finalize(v)
        assert sorted(reads) == ["a.txt", "b.bin", "c.csv"]  # read again (same.txt has a.txt's content)
        assert read_tree(Dataset.get(dataset_id=v.id, store=str(tmp_path / "store")).get_local_copy(show_progress=False)) == read_tree(src)
        assert os.listdir(disk) == ["filler"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_the_spool_is_read_back_in_large_reads_and_holds_no_file_after_close(tmp_path: Path, reads: list[str]) -> None:
    kept = staging.Staged(spool_dir=tmp_path)
    files = []
    for i in range(700):  # several batches
        p = tmp_path / "src" / f"{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"line %d\n" % i * (i % 50 + 20))
        st = os.stat(p)
        f = LocalFile(str(p), p.name, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)
        files.append((f, p.read_bytes()))
        kept.keep_many([(f, hash_bytes(p.read_bytes()), p.read_bytes())])
    kept.settle()
    assert [e.name for e in os.scandir(tmp_path)] == ["src"]  # the spool has no name
    items = [transfer.Pending(hash_bytes(data), len(data), f.path, f.mtime_ns, f.ctime_ns) for f, data in files]
    other = transfer.Pending(hash_bytes(b"other"), 5, files[0][0].path, 0)  # another content than the one kept
    held, stats, rest = kept.held([*items, other], 1)
    assert held == items and rest == [other] and len(stats) == len(items)
    assert kept.held(items, 3) == ([], [], items)  # kept at level 1 only
    segments, again = kept.packs(held, LocalBackend(str(tmp_path / "store")), packs.DEFAULT_PACK_SIZE)
    assert again == [] and [pack for pack, _k in segments] == [None]  # a spool in the cache folder: read back
    locs = segments[0][1]
    assert sorted(k.hash for k in locs) == sorted(p.hash for p in items) and [k.size for k in locs] == [p.size for p in items]
    assert statcheck.changed(held, stats) == []
    runs = list(kept.read(locs))
    got = {}
    for data, run in runs:
        pos = 0
        for k in run:
            got[k.hash] = bytes(data[pos : pos + k.length])
            pos += k.length
        assert pos == len(data)
    assert len(runs) == 1  # 700 small blobs stored back to back: one read of the spool, one run
    every_other = locs[::2]  # gaps between them: one run each
    assert [(bytes(data), [k.hash for k in run]) for data, run in kept.read(every_other)] == [(got[k.hash], [k.hash]) for k in every_other]
    for loc, (_f, data) in zip(locs, files):
        assert packs.decode_blob(loc.hash, got[loc.hash], packs.BlobLocation("-", 0, loc.length, len(data), loc.codec)) == data
    os.utime(files[3][0].path, ns=(10**18, 10**18))
    os.unlink(files[5][0].path)
    gone = transfer.Pending(items[0].hash, items[0].size, str(tmp_path / "not-there" / "0.txt"), 0)  # its folder cannot be opened
    assert statcheck.changed([gone, *held[:8]], [stats[0], *stats[:8]]) == [0, 4, 6]  # positions in the list given
    kept.close()
    assert kept.held(items, 1) == ([], [], items)


def test_the_stat_check_names_files_in_their_folders_in_any_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of several folders, interleaved, a file named relative to the current folder and one
    in a folder replaced after the first was opened: each is checked, each change is found."""
    monkeypatch.chdir(tmp_path)
    names = [f"d{i % 3}/f{i}" for i in range(12)] + ["top"]
    for n in names:
        (tmp_path / n).parent.mkdir(exist_ok=True)
        (tmp_path / n).write_bytes(n.encode())
    items = [transfer.Pending("h", 0, str(tmp_path / n) if n != "top" else n, 0) for n in names]

    def stat_of(p: transfer.Pending) -> bytes:
        st = os.stat(p.local_path)
        return statcheck.STAT.pack(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)

    stats = [stat_of(p) for p in items]
    assert statcheck.changed(items, stats) == []
    (tmp_path / "d1/f4").write_bytes(b"longer content")  # another size
    next_ctime_tick(tmp_path / "top", tmp_path / "tick")
    (tmp_path / "top").write_bytes(b"tip")  # same size, a later change time
    os.rename(tmp_path / "d2", tmp_path / "old")
    (tmp_path / "d2").mkdir()  # the same names, another folder: other inodes
    for n in names:
        if n.startswith("d2/"):
            (tmp_path / n).write_bytes(n.encode())
    assert statcheck.changed(items, stats) == [2, 4, 5, 8, 11, 12]
    check = statcheck.StatCheck(items, stats)  # the same in chunks, from two threads
    monkeypatch.setattr(statcheck, "_CHECK", 5)
    threads = [threading.Thread(target=check.run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert check.changed() == [2, 4, 5, 8, 11, 12]


def test_a_view_of_the_spool_stays_valid_while_the_next_read_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload's pack writer writes one run while the next is read: the reads alternate between
    two buffers, so a view is not overwritten by the read after it."""
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))
    monkeypatch.setattr(staging, "_READ", 2048)  # a read of a few blobs: many reads
    kept = staging.Staged(level=None, spool_dir=tmp_path)
    items = []
    for i in range(60):
        p = tmp_path / f"{i}.bin"
        p.write_bytes(os.urandom(300 + i))
        st = os.stat(p)
        items.append((LocalFile(str(p), p.name, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns), hash_bytes(p.read_bytes()), p.read_bytes()))
    kept.keep_many(items)
    kept.settle()
    want = {h: data for _f, h, data in items}
    (segment, locs), = kept.packs(kept.held([transfer.Pending(h, len(d), f.path, 0) for f, h, d in items], None)[0], LocalBackend(str(tmp_path / "store")), packs.DEFAULT_PACK_SIZE)[0]
    assert segment is None
    runs = kept.read(locs)
    before = next(runs)
    reads = 1
    for data, run in runs:
        assert bytes(before[0]) == b"".join(want[k.hash] for k in before[1])  # the previous view, after this read
        before, reads = (data, run), reads + 1
    assert reads > 10
    kept.close()
