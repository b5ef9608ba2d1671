"""One read per file across processes where the store cannot hold content itself (object stores,
folders without unnamed files): ``add`` holds what it kept in this host's cache
(``Cache.held_folder``, ``core.stagehold.place``), and a later upload of the draft on this host
packs it from there without reading the files again; held content changed, gone or taken by
another upload means its files are read again, and the cache's clean-up removes what no upload took."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dagstore import Dataset, Store
from dagstore.core.backend import LocalBackend
from dagstore.core.cache import Cache
from dagstore.core.cache.eviction import HELD_AGE
from dagstore.errors import InvalidPathError
from helpers import paused_python, read_tree, write_tree
from servers.storage import Server
from test_upload_held import TREE, cli_counting_reads, spoil

Opener = Callable[[], Store]
ROOT = Path(__file__).resolve().parents[2]


def held_files(cache: Path) -> list[Path]:
    """Content held in the cache for later uploads: segments and indexes."""
    return sorted((cache / "held").rglob(".tmp-kept-*"))


@pytest.fixture
def remote(backend_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Opener]:
    """A fresh bucket: each call opens its store as a new process on this host would (as does a
    ``dagstore`` command, by the environment set here)."""
    url = backend_server.new_root()
    for k, v in {**backend_server.env, "DAGSTORE_URL": url, "DAGSTORE_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(k, v)
    opts = dict(backend_server.storage_options)
    yield lambda: Store(url, storage_options=opts, cache_dir=str(tmp_path / "cache"))
    backend_server.remove_bucket(url)


def add_and_hold(tmp_path: Path, store: Opener, tree: dict[str, bytes] = TREE) -> tuple[str, Path]:
    """A draft with ``tree`` added and held, as ``dagstore add`` leaves it: (id, source)."""
    src = write_tree(tmp_path / "src", tree)
    ds = Dataset.create("held", "p", store=store())
    ds.add_files(src, show_progress=False)
    assert ds.keep_for_later_upload() == len(tree)
    return ds.id, src


def close(ds_id: str, store: Opener) -> None:
    ds = Dataset.get(dataset_id=ds_id, store=store())
    ds.upload(show_progress=False)
    ds.finalize()


def close_reading_none(ds_id: str, store: Opener, src: Path, reads: list[str], cache: Path) -> None:
    """The draft closed without reading a file, from content the cache held, and none left there."""
    close(ds_id, store)
    assert reads == []
    check(ds_id, store, src)
    assert held_files(cache) == []


def check(ds_id: str, store: Opener, src: Path) -> None:
    """The version holds the source's bytes and its store verifies, every blob read."""
    assert read_tree(Dataset.get(dataset_id=ds_id, store=store()).get_local_copy()) == read_tree(src)
    assert store().verify(read_data=True) == []


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_dagstore_add_then_close_on_an_object_store_reads_each_file_once(tmp_path: Path, backend_server: Server) -> None:
    url = backend_server.new_root()
    src = write_tree(tmp_path / "src", TREE)
    run = cli_counting_reads(tmp_path, url, backend_server.env)
    run("create", "--project", "p", "--name", "n", "-q")
    run("add", "--files", str(src), "-q")
    assert len(held_files(tmp_path / "cache")) == 2  # one segment and its index
    run("close", "-q")
    assert not (tmp_path / "reads.txt").exists()
    out = tmp_path / "out"
    run("get", "--name", "n", "--copy", str(out), "-q")
    assert read_tree(out) == read_tree(src)
    assert held_files(tmp_path / "cache") == []
    backend_server.remove_bucket(url)


@pytest.mark.parametrize("backend_server", ["s3", "gcs", "azure"], indirect=True)
def test_a_later_upload_to_an_object_store_packs_what_the_cache_holds(tmp_path: Path, remote: Opener, reads: list[str]) -> None:
    ds_id, src = add_and_hold(tmp_path, remote)
    close_reading_none(ds_id, remote, src, reads, tmp_path / "cache")


@pytest.mark.parametrize("content", ["same", "changed"])
@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_a_file_changed_after_add_is_read_again(tmp_path: Path, remote: Opener, reads: list[str], content: str) -> None:
    """Rewritten with its size and mtime put back: its change time differs, so it is read again,
    stored if its content is the same and refused if not, never taken from the held bytes."""
    ds_id, src = add_and_hold(tmp_path, remote)
    f = src / "d1" / "f1.bin"
    st = f.stat()
    data = f.read_bytes()
    f.write_bytes(data if content == "same" else bytes(b ^ 1 for b in data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    if content == "changed":
        with pytest.raises(InvalidPathError, match="f1.bin"):
            close(ds_id, remote)
    else:
        close(ds_id, remote)
        check(ds_id, remote, src)
    assert reads == ["f1.bin"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_held_content_changed_or_gone_in_the_cache_is_read_again(tmp_path: Path, remote: Opener, reads: list[str], damage: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    ds_id, src = add_and_hold(tmp_path, remote)
    [seg] = (p for p in held_files(tmp_path / "cache") if p.suffix != ".arrow")
    spoil(seg, damage)
    close(ds_id, remote)
    assert sorted(reads) == sorted(os.path.basename(p) for p in TREE)
    check(ds_id, remote, src)
    assert held_files(tmp_path / "cache") == []  # the changed segment too: removed by the upload that found it changed
    if damage != "remove":
        assert "changed since it was held" in caplog.text


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_two_uploads_of_one_draft_at_once_take_the_held_segment_once(tmp_path: Path, remote: Opener, reads: list[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Both open the held content: the segment is the first's (its flock), the other reads the files."""
    ds_id, src = add_and_hold(tmp_path, remote)
    a, b = Dataset.get(dataset_id=ds_id, store=remote()), Dataset.get(dataset_id=ds_id, store=remote())
    a._v.kept()
    b._v.kept()
    monkeypatch.setattr(b._v.store, "pack_index", lambda be, only=None: {})  # b looked before a stored its pack
    a.upload(show_progress=False)
    assert reads == []
    b.upload(show_progress=False)
    b.finalize()
    assert sorted(reads) == sorted(os.path.basename(p) for p in TREE)
    check(ds_id, remote, src)
    assert held_files(tmp_path / "cache") == []


def test_a_folder_without_unnamed_files_holds_in_the_cache(tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A local store where ``O_TMPFILE`` fails (NFS, FUSE...): held in the cache, nothing in the store."""
    store = tmp_path / "store"
    real = LocalBackend.open_file_spool
    monkeypatch.setattr(LocalBackend, "open_file_spool", lambda self, prefix: None if self.root == store else real(self, prefix))

    def opener() -> Store:
        return Store(str(store), cache_dir=str(tmp_path / "cache"))

    ds_id, src = add_and_hold(tmp_path, opener)
    assert len(held_files(tmp_path / "cache")) == 2
    assert list(store.rglob(".tmp-*")) == []
    close_reading_none(ds_id, opener, src, reads, tmp_path / "cache")


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_the_cache_removes_held_content_no_upload_took_for_a_week(tmp_path: Path, remote: Opener, reads: list[str]) -> None:
    """``reclaim_leftovers`` (from eviction, and before builds) removes held content older than
    ``HELD_AGE`` (its draft closed elsewhere, deleted, abandoned), never a segment an upload has
    taken (its flock), then the folders left empty."""
    ds_id, src = add_and_hold(tmp_path, remote)
    cache = Cache(tmp_path / "cache")
    held = held_files(tmp_path / "cache")
    assert cache.reclaim_leftovers() == 0 and held_files(tmp_path / "cache") == held  # young: kept
    old = time.time() - HELD_AGE - 60
    ds = Dataset.get(dataset_id=ds_id, store=remote())
    ds._v.kept()  # taken: the segment is open and locked
    for p in held:
        os.utime(p, (old, old))
    assert cache.reclaim_leftovers() == 1  # the index only
    assert [p.suffix for p in held_files(tmp_path / "cache")] == [""]
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []  # the taken segment was left to its taker
    check(ds_id, remote, src)

    ds_id, src = add_and_hold(tmp_path / "two", remote, {k: v + b"2" for k, v in TREE.items()})  # content the store lacks
    for p in held_files(tmp_path / "cache"):
        os.utime(p, (old, old))
    assert cache.reclaim_leftovers() == 2
    assert not (tmp_path / "cache" / "held").exists() or list((tmp_path / "cache" / "held").iterdir()) == []
    close(ds_id, remote)
    assert len(reads) == len(TREE)
    check(ds_id, remote, src)


def killed_cli(hook: str, *args: str) -> None:
    """The ``dagstore`` command, paused by ``hook`` (code calling ``pause()``) and then killed (SIGKILL)."""
    code = f"import sys\nfrom dagstore.core import staging\nstaging.RACY_NS = -(10**12)\n{hook}\nfrom dagstore.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    proc = paused_python(code, ["-q", *args], str(ROOT))
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -9


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_a_close_killed_after_it_took_the_held_content_leaves_it_to_the_rerun(tmp_path: Path, remote: Opener, reads: list[str]) -> None:
    """Killed while it packs what it took from the cache: its lock dies with it, the held
    content is still named and whole, so the rerun packs it without reading the files."""
    ds_id, src = add_and_hold(tmp_path, remote)
    killed_cli("real = staging.Staged.read\ndef read(*a, **k):\n    pause()\n    return real(*a, **k)\nstaging.Staged.read = read",
               "close", "--id", ds_id)
    assert len(held_files(tmp_path / "cache")) == 2
    close_reading_none(ds_id, remote, src, reads, tmp_path / "cache")


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_an_add_killed_while_it_holds_leaves_segments_the_cache_removes(tmp_path: Path, remote: Opener, reads: list[str]) -> None:
    """Killed with its segment named in the cache and no index: the close reads the files again,
    and the named segment, which no upload can take, goes with the cache's clean-up."""
    src = write_tree(tmp_path / "src", TREE)
    ds_id = Dataset.create("held", "p", store=remote()).id
    killed_cli("from dagstore.core.backend.local import LocalBackend\nreal = LocalBackend.write\n"
               "def write(self, key, data):\n    if key.endswith('.arrow'):\n        pause()\n    return real(self, key, data)\n"
               "LocalBackend.write = write", "add", "--id", ds_id, "--files", str(src))
    [left] = held_files(tmp_path / "cache")
    close(ds_id, remote)
    assert len(reads) == len(TREE)
    check(ds_id, remote, src)
    cache = Cache(tmp_path / "cache")
    assert cache.reclaim_leftovers() == 0 and held_files(tmp_path / "cache") == [left]
    old = time.time() - HELD_AGE - 60
    os.utime(left, (old, old))
    assert cache.reclaim_leftovers() == 1 and held_files(tmp_path / "cache") == []


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_gc_removes_what_the_cache_holds_for_a_draft_closed_on_another_host(tmp_path: Path, remote: Opener, reads: list[str]) -> None:
    """The store's gc knows its drafts: content this host holds for one no longer there goes
    once ``--min-age`` old (reported, not removed, with dry_run), never a segment an upload has
    open, never a live draft's."""
    gone, _ = add_and_hold(tmp_path, remote)
    gone_files = held_files(tmp_path / "cache")
    live, src = add_and_hold(tmp_path / "two", remote, {k: v + b"2" for k, v in TREE.items()})
    st = remote()
    elsewhere = Store(st.url, storage_options=st.storage_options, cache_dir=str(tmp_path / "other-host"))
    close(gone, lambda: elsewhere)
    assert len(reads) == len(TREE)  # the other host read them
    reads.clear()
    assert remote().gc(min_age_seconds=3600).held == []  # held just now
    assert sorted(remote().gc(dry_run=True, min_age_seconds=0).held) == [str(p) for p in gone_files]
    assert len(held_files(tmp_path / "cache")) == 4
    [seg] = (p for p in gone_files if p.suffix != ".arrow")
    taken = LocalBackend(seg.parents[1], writeback=False).open_held_spool(f"packs/{seg.name}")
    assert taken is not None
    assert remote().gc(min_age_seconds=0).held == [str(p) for p in gone_files if p != seg]  # the taken segment stays
    taken.release()
    assert remote().gc(min_age_seconds=0).held == [str(seg)]
    assert len(held_files(tmp_path / "cache")) == 2  # the live draft's
    close_reading_none(live, remote, src, reads, tmp_path / "cache")


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_deleting_a_draft_removes_what_the_cache_holds_for_it(tmp_path: Path, remote: Opener, reads: list[str]) -> None:
    deleted, _ = add_and_hold(tmp_path, remote)
    deleted_files = held_files(tmp_path / "cache")
    live, src = add_and_hold(tmp_path / "two", remote, {k: v + b"2" for k, v in TREE.items()})
    remote().delete_version(deleted)
    assert [p for p in deleted_files if p.exists()] == []
    assert len(held_files(tmp_path / "cache")) == 2
    close_reading_none(live, remote, src, reads, tmp_path / "cache")
