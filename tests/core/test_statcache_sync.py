"""The stat cache held as columns (one row of names, stat keys and hashes per folder) and
sync_folder comparing a folder with a version as columns: what they must still guarantee."""

from __future__ import annotations

import marshal
import os
import sqlite3
import struct
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import dagstore.core.scan as scan_mod
import dagstore.core.statcache as statcache_mod
from dagstore import Dataset, InvalidPathError, Store
from dagstore.core.columns import entries_table
from dagstore.core.folderdiff import delta_problem
from dagstore.core.manifest import Entry
from dagstore.core.scan import StatCache, hash_files, scan
from dagstore.core.state import State
from helpers import read_tree, write_tree

OLD = 1_600_000_000 * 10**9  # an mtime long past the racy window


def _tree(root: Path, n: int = 40) -> Path:
    write_tree(root, {f"d{i % 4}/e{i % 3}/f{i}.txt": f"file {i}\n" * (i % 7 + 1) for i in range(n)})
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(OLD, OLD))
    return root


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths read by the hashing pass (the real functions, recorded)."""
    seen: list[str] = []
    real, real_small = scan_mod.hash_file, scan_mod.read_small  # small files are read whole, then hashed
    monkeypatch.setattr(scan_mod, "hash_file", lambda p, *a: seen.append(p) or real(p, *a))
    monkeypatch.setattr(scan_mod, "read_small", lambda p, *a: seen.append(p) or real_small(p, *a))
    return seen


def test_unchanged_files_are_found_by_a_new_cache_on_the_same_file(tmp_path: Path, hashed: list[str]) -> None:
    src = _tree(tmp_path / "src")
    files = scan(src)
    first = hash_files(files, StatCache(tmp_path / "sc.sqlite"), show_progress=False)
    assert len(hashed) == len(files)
    hashed.clear()
    assert hash_files(files, StatCache(tmp_path / "sc.sqlite"), show_progress=False) == first
    assert hashed == []


def test_hashes_remembered_a_batch_at_a_time_during_the_pass_are_all_found(tmp_path: Path, hashed: list[str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The hashing pass puts its hashes in the stat cache every ``_REMEMBER_BATCH`` files (a
    folder's files then reach it in two calls): every file is found afterwards, none hashed again."""
    monkeypatch.setattr(scan_mod, "_REMEMBER_BATCH", 300)
    src = _tree(tmp_path / "src", n=1200)  # 12 folders of 100 files: batches of 300 (checked every 256) cut folders
    files = scan(src)
    stored: list[int] = []
    real_store = StatCache.store
    monkeypatch.setattr(StatCache, "store", lambda self, items: stored.append(len(items)) or real_store(self, items))
    first = hash_files(files, StatCache(tmp_path / "sc.sqlite"), show_progress=False)
    assert len(stored) > 2 and sum(stored) == len(files) == 1200
    hashed.clear()
    assert hash_files(files, StatCache(tmp_path / "sc.sqlite"), show_progress=False) == first
    assert hashed == []


def test_a_changed_key_is_hashed_again_size_mtime_or_inode(tmp_path: Path, hashed: list[str]) -> None:
    src = _tree(tmp_path / "src")
    cache = StatCache(tmp_path / "sc.sqlite")
    hash_files(scan(src), cache, show_progress=False)
    a, b, c = src / "d0/e0/f0.txt", src / "d1/e1/f1.txt", src / "d2/e2/f2.txt"
    a.write_text("longer content than before\n")
    os.utime(a, ns=(OLD, OLD))  # same mtime, other size
    b.write_text(b.read_text().upper())
    os.utime(b, ns=(OLD + 1, OLD + 1))  # same size, other mtime
    data = c.read_bytes()
    fresh = c.with_name("fresh")
    fresh.write_bytes(data[::-1])  # a new inode (both exist at once), same size and mtime
    os.utime(fresh, ns=(OLD, OLD))
    os.replace(fresh, c)
    hashed.clear()
    out = hash_files(scan(src), cache, show_progress=False)
    assert sorted(hashed) == sorted(map(str, (a, b, c)))
    assert out[str(c)][0] == scan_mod.hash_file(str(c), len(data))[0]


def test_a_file_changed_in_the_same_mtime_tick_is_never_served_stale(tmp_path: Path, hashed: list[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The racy-git rule: a file modified less than 2 s before it was hashed is not remembered,
    so rewriting it with the same size and mtime is still seen."""
    monkeypatch.setattr(statcache_mod, "_RACY_SECONDS", 3600.0)  # "just written" whatever a loaded machine's delays
    src = write_tree(tmp_path / "src", {"a.txt": "one"})
    cache = StatCache(tmp_path / "sc.sqlite")
    st = os.stat(src / "a.txt")
    first = hash_files(scan(src), cache, show_progress=False)[str(src / "a.txt")][0]
    (src / "a.txt").write_text("two")
    os.utime(src / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(src / "a.txt").st_ino == st.st_ino and os.stat(src / "a.txt").st_mtime_ns == st.st_mtime_ns
    second = hash_files(scan(src), cache, show_progress=False)[str(src / "a.txt")][0]
    assert second != first and len(hashed) == 2


def test_a_same_size_rewrite_with_its_mtime_restored_is_hashed_again(tmp_path: Path, hashed: list[str]) -> None:
    """``touch -d`` / ``os.utime`` can put back size and mtime, never the change time."""
    src = _tree(tmp_path / "src")
    cache = StatCache(tmp_path / "sc.sqlite")
    first = hash_files(scan(src), cache, show_progress=False)
    victim = src / "d1/e1/f1.txt"
    before = os.stat(victim)
    while time.time_ns() < before.st_ctime_ns + 50_000_000:  # past the change time's clock tick, on any machine
        time.sleep(0.01)
    victim.write_bytes(victim.read_bytes().upper())  # in place: same inode, same size
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(victim)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert after.st_ctime_ns != before.st_ctime_ns
    hashed.clear()
    second = hash_files(scan(src), StatCache(tmp_path / "sc.sqlite"), show_progress=False)
    assert hashed == [str(victim)]
    assert second[str(victim)] != first[str(victim)] and second[str(victim)][0] == scan_mod.hash_file(str(victim), after.st_size)[0]
    assert {p: h for p, h in second.items() if p != str(victim)} == {p: h for p, h in first.items() if p != str(victim)}
    hashed.clear()
    assert hash_files(scan(src), StatCache(tmp_path / "sc.sqlite"), show_progress=False) == second and hashed == []


def test_a_file_whose_change_time_is_unknown_is_never_remembered(tmp_path: Path, hashed: list[str]) -> None:
    src = _tree(tmp_path / "src", 4)
    cache = StatCache(tmp_path / "sc.sqlite")
    files = [f._replace(ctime_ns=0) for f in scan(src)]
    hash_files(files, cache, show_progress=False)
    hashed.clear()
    hash_files(files, cache, show_progress=False)
    hash_files(scan(src), cache, show_progress=False)
    assert len(hashed) == 2 * len(files)


def test_rows_of_the_earlier_releases_have_no_change_time_and_are_misses(tmp_path: Path, hashed: list[str]) -> None:
    """Format-2 rows (32-byte keys) and the first release's table are never hits: a file
    rewritten with its mtime restored since they were written would be served their hash."""
    src = _tree(tmp_path / "src", 6)
    files = scan(src)
    want = hash_files(files, None, show_progress=False)
    db = sqlite3.connect(tmp_path / "sc.sqlite")
    db.execute("CREATE TABLE folders (dir TEXT PRIMARY KEY, entries BLOB)")
    db.execute("CREATE TABLE folder_columns (dir TEXT PRIMARY KEY, entries BLOB)")
    first: dict[str, dict[str, tuple[int, int, int, int, str]]] = {}
    for f in files:
        d, _, name = f.path.rpartition("/")
        first.setdefault(d, {})[name] = (f.dev, f.ino, f.size, f.mtime_ns, want[f.path][0])
    second = {d: (2, b"\0".join(map(os.fsencode, rows)), b"".join(struct.pack("<3Qq", *r[:4]) for r in rows.values()),
                  bytes.fromhex("".join(r[4] for r in rows.values()))) for d, rows in first.items()}
    with db:
        db.executemany("INSERT INTO folders VALUES (?, ?)", [(d, marshal.dumps(r)) for d, r in first.items()])
        db.executemany("INSERT INTO folder_columns VALUES (?, ?)", [(d, marshal.dumps(r)) for d, r in second.items()])
    before = sorted(db.execute("SELECT dir, entries FROM folders"))
    db.close()
    hashed.clear()
    assert hash_files(files, StatCache(tmp_path / "sc.sqlite"), show_progress=False) == want
    assert sorted(hashed) == sorted(f.path for f in files)  # every file hashed again, then remembered anew
    hashed.clear()
    assert hash_files(scan(src), StatCache(tmp_path / "sc.sqlite"), show_progress=False) == want
    assert hashed == []
    with sqlite3.connect(tmp_path / "sc.sqlite") as db:  # the first release's rows stay as it wrote them
        assert sorted(db.execute("SELECT dir, entries FROM folders")) == before
        assert {marshal.loads(e)[0] for (e,) in db.execute("SELECT entries FROM folder_columns")} == {3}


@pytest.mark.parametrize("row", [b"not marshal", marshal.dumps((3, b"a\0b", b"\0" * 40, b"\0" * 16)),
                                 marshal.dumps((3, b"a", b"\0" * 40, b"\0" * 15)), marshal.dumps((3, b"a", b"\0" * 32, b"\0" * 16)),
                                 marshal.dumps({"a": (1, 2)}), marshal.dumps((9, b"a", b"\0" * 40, b"\0" * 16)), marshal.dumps({})])
def test_a_damaged_row_is_a_miss_not_an_error(tmp_path: Path, hashed: list[str], row: bytes) -> None:
    src = _tree(tmp_path / "src", 6)
    files = scan(src)
    cache = StatCache(tmp_path / "sc.sqlite")
    want = hash_files(files, cache, show_progress=False)
    d = files[0].path.rpartition("/")[0]
    with sqlite3.connect(tmp_path / "sc.sqlite") as db:
        db.execute("UPDATE folder_columns SET entries = ? WHERE dir = ?", (row, d))
    hashed.clear()
    assert hash_files(files, StatCache(tmp_path / "sc.sqlite"), show_progress=False) == want
    assert sorted(hashed) == sorted(f.path for f in files if f.path.rpartition("/")[0] == d)


def test_names_that_are_not_utf8_are_cached_by_their_bytes(tmp_path: Path, hashed: list[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    raw = os.fsencode(str(src)) + b"/caf\xe9.txt"
    with open(raw, "wb") as f:
        f.write(b"latin-1 name")
    os.utime(raw, ns=(OLD, OLD))
    cache = StatCache(tmp_path / "sc.sqlite")
    files = scan(src)
    first = hash_files(files, cache, show_progress=False)
    hashed.clear()
    assert hash_files(files, cache, show_progress=False) == first and hashed == []


# -- sync_folder -------------------------------------------------------------------------------


def _final(st: Store, folder: Path) -> Dataset:
    ds = Dataset.create("d", "p", store=st)
    ds.add_files(folder, show_progress=False)
    ds.finalize(auto_upload=True)
    return ds


def test_sync_hashes_only_what_changed_and_counts_it(tmp_path: Path, hashed: list[str]) -> None:
    src = _tree(tmp_path / "src")
    st = Store(str(tmp_path / "store"))
    parent = _final(st, src)
    (src / "d0/e0/f0.txt").write_text("changed")
    (src / "d1/e1/f1.txt").unlink()
    write_tree(src / "new", {"x.txt": "x"})
    hashed.clear()
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    assert child.sync_folder(src, show_progress=False) == (1, 1, 1)
    assert sorted(hashed) == [str(src / "d0/e0/f0.txt"), str(src / "new/x.txt")]
    child.finalize(auto_upload=True)
    assert (child.list_added_files(), child.list_modified_files(), child.list_removed_files()) == (
        ["new/x.txt"], ["d0/e0/f0.txt"], ["d1/e1/f1.txt"])
    assert read_tree(child.get_local_copy()) == read_tree(src)


def test_sync_replaces_a_link_at_the_same_path(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", 6)
    st = Store(str(tmp_path / "store"))
    parent = Dataset.create("d", "p", store=st)
    parent.add_files(src, show_progress=False)
    parent.remove_files("d0/e0/f0.txt")
    parent.add_external_files(f"file://{src}/d0/e0/f0.txt", dataset_path="d0/e0")
    parent.finalize(auto_upload=True)
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    assert child.sync_folder(src, show_progress=False) == (0, 0, 1)
    child.finalize(auto_upload=True)
    assert child.list_modified_files() == ["d0/e0/f0.txt"]
    assert read_tree(child.get_local_copy()) == read_tree(src)


def test_sync_after_staging_in_the_same_draft_compares_with_the_draft(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", 6)
    other = write_tree(tmp_path / "other", {"o.txt": "o"})
    st = Store(str(tmp_path / "store"))
    parent = _final(st, src)
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    child.add_files(other, dataset_path="extra", show_progress=False)
    (src / "d0/e0/f0.txt").write_text("changed")
    assert child.sync_folder(src, show_progress=False) == (1, 0, 1)  # extra/o.txt is not in the folder
    assert "extra/o.txt" not in child.list_files()


def test_sync_into_a_folder_that_is_a_file_of_the_version_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", 6)
    st = Store(str(tmp_path / "store"))
    parent = _final(st, src)
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    small = write_tree(tmp_path / "small", {"z.txt": "z"})
    for where in ("d0/e0/f0.txt", "d0/e0/f0.txt/deeper"):
        with pytest.raises(InvalidPathError, match="'d0/e0/f0.txt' is both a file and a folder"):
            child.sync_folder(small, dataset_path=where, show_progress=False)
    assert Dataset.get(child.id, store=st).list_files() == parent.list_files()
    assert child.sync_folder(small, dataset_path="d0/e0", show_progress=False) == (1, 1, 0)  # the folder's file goes


def test_sync_refuses_a_name_too_long_and_a_name_not_utf8_changing_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", 6)
    st = Store(str(tmp_path / "store"))
    parent = _final(st, src)
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    small = write_tree(tmp_path / "small", {"y.txt": "y"})
    with pytest.raises(InvalidPathError, match="name of 300 bytes; the limit is 255"):
        child.sync_folder(small, dataset_path="p" * 300, show_progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    with open(os.fsencode(str(bad)) + b"/caf\xe9.txt", "wb") as f:
        f.write(b"x")
    with pytest.raises(InvalidPathError, match="not valid UTF-8"):
        child.sync_folder(bad, show_progress=False)
    assert Dataset.get(child.id, store=st).list_files() == parent.list_files()


def test_a_synced_child_has_the_manifest_of_the_release_before_the_columnar_sync(tmp_path: Path) -> None:
    """Manifest keys (the hash of the manifest bytes) pinned from the release before this change."""

    def put(rel: str, data: bytes, mtime: int = OLD) -> None:
        p = tmp_path / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, ns=(mtime, mtime))

    for i in range(60):
        put(f"d{i % 4}/e{i % 3}/f{i}.txt", f"file {i}\n".encode() * (i % 7 + 1))
    st = Store(str(tmp_path / "store"))
    parent = _final(st, tmp_path / "src")
    put("d0/e0/f0.txt", b"changed", OLD + 10**9)
    put("d1/e1/f1.txt", b"FILE 1\n" * 2, OLD + 10**9)  # same size, new mtime
    os.unlink(tmp_path / "src/d2/e2/f2.txt")
    put("new/x.txt", b"x")
    put("d3/new.txt", b"y" * 100)
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    assert child.sync_folder(tmp_path / "src", show_progress=False) == (1, 2, 2)
    child.finalize(auto_upload=True)
    assert parent._v.record.manifest == "manifests/d936b2912597c2667ebc170cc688c5b8"
    assert child._v.record.manifest == "manifests/f05570dc61b73915868dedb0b095a052"
    assert child._v.record.stats == {"files": 61, "bytes": 1918, "added": 2, "modified": 2, "removed": 1}


# -- finalize's checkout check of a delta over one parent ----------------------------------------


def _state(paths: list[str]) -> State:
    return State().apply(entries_table({p: Entry("0" * 32, 1) for p in paths}), "parent")


@pytest.mark.parametrize("parent, entries, removed", [
    (["a/b.txt", "c.txt"], ["a/b.txt/d"], []),  # a new path under a file of the parent
    (["a/b.txt", "c.txt"], ["a"], []),  # a new path where the parent has a folder
    (["a/b.txt", "c.txt"], ["a"], ["a/b.txt"]),  # ... whose files are all removed: fine
    (["a/b.txt", "a/c.txt"], ["a"], ["a/b.txt"]),  # ... not all removed
    (["a", "c.txt"], ["a/x"], ["a"]),  # the file is removed: fine
    (["a", "c.txt"], ["a/x", "a"], []),  # the file is modified, and a folder
    (["x.txt"], ["n/m", "n"], []),  # two new paths clash
    (["x.txt"], ["n/m", "n/o/p"], []),  # no clash
    (["x.txt"], ["q" * 300], []),  # a name too long
    (["a/b/c", "z"], ["a/b", "z/y"], ["z"]),  # the smallest clash is named
    ([], ["a", "a/b"], []),
])
def test_the_delta_check_answers_as_the_check_of_the_whole_state(parent: list[str], entries: list[str], removed: list[str]) -> None:
    base = _state(parent)
    whole = base.apply(entries_table({p: Entry("1" * 32, 2) for p in entries}, removed), "child").tree_problem()
    assert delta_problem(base, dict.fromkeys(entries), set(removed)) == whole
    assert (whole is None) == ((parent, entries, removed) in (
        (["a/b.txt", "c.txt"], ["a"], ["a/b.txt"]), (["a", "c.txt"], ["a/x"], ["a"]), (["x.txt"], ["n/m", "n/o/p"], [])))


def test_finalize_refuses_a_draft_whose_paths_clash_and_publishes_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", 6)
    st = Store(str(tmp_path / "store"))
    parent = _final(st, src)
    child = Dataset.create("d", "p", parent_datasets=[parent.id], store=st)
    e = parent._v.current()["d0/e0/f0.txt"]
    child._v.require_draft().delta.entries["d0/e0/f0.txt/inner"] = Entry(e.hash, e.size)  # as a hand-edited draft
    child._v.record = replace(child._v.record, packs=parent._v.record.packs)  # its content is stored
    child._v.save()
    with pytest.raises(InvalidPathError, match="cannot be finalized: 'd0/e0/f0.txt' is both a file and a folder"):
        Dataset.get(child.id, store=st).finalize()
    assert not Dataset.get(child.id, store=st).is_final()


def test_a_new_stat_cache_opened_while_another_connection_converts_it(tmp_path: Path) -> None:
    """Two processes opening a new stat cache at once (Dask workers on one machine) both convert
    it to WAL; SQLite answers "database is locked" at once to the one that loses instead of
    waiting, so it must wait and retry, not fail the ingestion (seen in a two-worker run)."""
    db = tmp_path / "sc.sqlite"
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the lock a converting opener holds
    release = threading.Timer(0.5, holder.execute, ("ROLLBACK",))
    release.start()
    try:
        cache = StatCache(db)
    finally:
        release.join()
        holder.close()
    src = _tree(tmp_path / "src", 8)
    assert hash_files(scan(src), cache, show_progress=False) == hash_files(scan(src), StatCache(db), show_progress=False)
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_threads_storing_one_folder_lose_none_of_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing threads share folders (files dealt out in turn) and each stores its hashes as
    it goes: a thread storing while another merges the same folder's row loses nothing."""
    files = [f for f in scan(_tree(tmp_path / "src")) if f.rel.startswith("d0/e0/")][:2]
    cache = StatCache(tmp_path / "sc.sqlite")
    loaded = threading.Event()
    real_load, real_merged = StatCache._load, statcache_mod._merged
    second = threading.Thread(target=cache.store, args=([(files[1], "22" * 16)],))

    def load(self: StatCache, dirs: Any) -> Any:
        out = real_load(self, dirs)
        if threading.current_thread() is second:
            loaded.set()
        return out

    def merged(row: Any, *new: Any) -> Any:
        if second.ident is None:  # the first merge: the other thread stores the same folder meanwhile
            second.start()
            loaded.wait(0.5)  # it reads the row now, unless kept out until this merge is written
        return real_merged(row, *new)

    monkeypatch.setattr(StatCache, "_load", load)
    monkeypatch.setattr(statcache_mod, "_merged", merged)
    cache.store([(files[0], "11" * 16)])
    second.join()
    assert len(files) == 2 and cache.known(files) == ["11" * 16, "22" * 16]
