"""One read per file across processes: what ``add`` read and kept is held for an upload by a later
process (``core.stagehold``), which packs it without reading the files again; a held file changed
since, or held content changed or gone, is read again or refused, never stored wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core import stagehold
from dagstore.errors import InvalidPathError
from helpers import noise, read_tree, write_tree

TREE = {f"d{i % 3}/f{i}.bin": noise(f"held{i}", 500 + 37 * i) for i in range(40)}


def held_names(store: Path) -> list[str]:
    return sorted(n for n in os.listdir(store / "packs") if n.startswith(".tmp-kept-")) if (store / "packs").is_dir() else []


def add_and_hold(tmp_path: Path, tree: dict[str, bytes] = TREE) -> tuple[str, Path, Path]:
    """A draft with ``tree`` added and held, as ``dagstore add`` leaves it: (id, store, source)."""
    store, src = tmp_path / "store", write_tree(tmp_path / "src", tree)
    ds = Dataset.create("held", "p", store=str(store))
    ds.add_files(src, show_progress=False)
    assert ds.keep_for_later_upload() == len(tree)
    return ds.id, store, src


def edit_index(store: Path, ds_id: str, edit: Callable[[dict[str, Any]], object]) -> None:
    """Change the metadata of a draft's held index in place (its rows unchanged)."""
    import pyarrow as pa

    path = store / stagehold.index_key(ds_id)
    reader = pa.ipc.open_file(pa.BufferReader(path.read_bytes()))
    table = reader.read_all()
    meta = json.loads(reader.schema.metadata[b"dagstore.held"])
    edit(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema.with_metadata({b"dagstore.held": json.dumps(meta)})) as w:
        w.write_table(table)
    path.write_bytes(sink.getvalue().to_pybytes())


def spoil(seg: Path, damage: str) -> None:
    """A held segment changed in place (``flip``: one byte), cut short (``truncate``) or removed."""
    if damage == "flip":
        data = bytearray(seg.read_bytes())
        data[10] ^= 0xFF
        seg.write_bytes(bytes(data))
    elif damage == "truncate":
        os.truncate(seg, seg.stat().st_size // 2)
    else:
        seg.unlink()


def later(ds_id: str, store: Path) -> Dataset:
    """The draft as a later process opens it (nothing shared with the one that added)."""
    return Dataset.get(dataset_id=ds_id, store=str(store))


def test_a_later_upload_packs_the_held_content_without_reading_the_files(tmp_path: Path, reads: list[str]) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    assert len(held_names(store)) == 2  # one segment and the index
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []
    assert held_names(store) == []  # the segment became a pack, the index is gone
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert Store(str(store)).verify(read_data=True) == []


def test_a_file_changed_after_add_is_refused_not_stored_from_the_held_bytes(tmp_path: Path, reads: list[str]) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    changed = src / "d1" / "f1.bin"
    changed.write_bytes(b"new content of the same file")
    with pytest.raises(InvalidPathError, match="f1.bin"):
        later(ds_id, store).upload(show_progress=False)
    assert reads == ["f1.bin"]  # the stat check saw the change: read again, and refused


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove"])
def test_held_content_changed_or_gone_is_read_again(tmp_path: Path, reads: list[str], damage: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    seg = next(store / "packs" / n for n in held_names(store) if not n.endswith(".arrow"))
    spoil(seg, damage)
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert sorted(reads) == sorted(os.path.basename(p) for p in TREE)
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert Store(str(store)).verify(read_data=True) == []
    if damage != "remove":
        assert "changed since it was held" in caplog.text


def test_an_unreadable_index_is_a_warning_and_the_files_are_read_again(tmp_path: Path, reads: list[str],
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    (store / stagehold.index_key(ds_id)).write_bytes(b"not an arrow file")
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == len(TREE) and "not readable" in caplog.text
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)


def test_an_index_naming_a_file_outside_the_held_ones_is_refused(tmp_path: Path, reads: list[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """The index names segments by key: one that is not a held file of this draft is never opened."""
    ds_id, store, _src = add_and_hold(tmp_path)
    edit_index(store, ds_id, lambda meta: meta["segments"][0].update(key="packs/../records/x"))
    later(ds_id, store).upload(show_progress=False)
    assert len(reads) == len(TREE) and "outside the store's held files" in caplog.text


def test_a_held_segment_swept_after_it_was_taken_is_still_committed(tmp_path: Path, reads: list[str]) -> None:
    """gc may remove a held name between the later process taking it and committing it: the
    bytes its descriptor holds are written under the pack's key instead."""
    ds_id, store, src = add_and_hold(tmp_path)
    ds = later(ds_id, store)
    ds._v.kept()  # taken: its segment is open
    for n in held_names(store):
        (store / "packs" / n).unlink()
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert Store(str(store)).verify(read_data=True) == []


def test_a_second_add_in_another_process_adds_to_what_is_held(tmp_path: Path, reads: list[str]) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    more = write_tree(tmp_path / "more", {"m.txt": noise("more", 900), "n.txt": noise("n", 1200)})
    ds = later(ds_id, store)
    ds.add_files(more, dataset_path="extra", show_progress=False)
    assert ds.keep_for_later_upload() == len(TREE) + 2
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []
    got = read_tree(later(ds_id, store).get_local_copy())
    assert got == {**read_tree(src), **{f"extra/{k}": v for k, v in read_tree(more).items()}}
    assert held_names(store) == []  # the first add's segment was held again under its own name, not a second one


def test_a_refused_add_in_a_later_process_leaves_what_was_held(tmp_path: Path, reads: list[str]) -> None:
    """A later add refused after hashing (a file where the draft has a folder) drops only its own
    spool: the held content is still there, unchanged, for the upload after it."""
    ds_id, store, src = add_and_hold(tmp_path)
    ds = later(ds_id, store)
    with pytest.raises(InvalidPathError, match="d1"):
        ds.add_files(write_tree(tmp_path / "bad", {"d1": noise("clash", 700), "ok.txt": noise("ok", 800)}), show_progress=False)
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert reads == []
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)


def test_gc_removes_content_held_for_a_draft_no_one_uploads(tmp_path: Path, reads: list[str]) -> None:
    ds_id, store, _src = add_and_hold(tmp_path)
    Dataset.delete(dataset_id=ds_id, store=str(store), force=True)
    Store(str(store)).gc(min_age_seconds=3600)
    assert len(held_names(store)) == 2  # younger than --min-age: kept
    Store(str(store)).gc(min_age_seconds=0)
    assert held_names(store) == []


_PROCESS = """
import os, sys
from dagstore.core import staging, transfer
staging.RACY_NS = -(10**12)
real = transfer.read_small
def counted(path, size):
    with open(os.environ["READS"], "a") as f:
        f.write(os.path.basename(path) + "\\n")
    return real(path, size)
transfer.read_small = counted
from _dagstore_entry import main
sys.argv = ["dagstore", *sys.argv[1:]]
main()
"""


def cli_counting_reads(tmp_path: Path, url: str | None = None, extra: dict[str, str] | None = None) -> Callable[..., None]:
    """The CLI, a process per call, on a store under ``tmp_path`` (or at ``url``, reached with the
    ``extra`` environment); files upload reads again are listed in ``tmp_path / "reads.txt"``."""
    env = {**os.environ, **(extra or {}), "DAGSTORE_URL": url or str(tmp_path / "store"),
           "DAGSTORE_CACHE_DIR": str(tmp_path / "cache"), "READS": str(tmp_path / "reads.txt")}

    def run(*args: str) -> None:
        subprocess.run([sys.executable, "-c", _PROCESS, *args], env=env, check=True, capture_output=True, timeout=120)

    return run


def test_dagstore_add_then_close_in_two_processes_reads_each_file_once(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", TREE)
    run = cli_counting_reads(tmp_path)
    run("create", "--project", "p", "--name", "n", "-q")
    run("add", "--files", str(src), "-q")
    run("close", "-q")
    assert not (tmp_path / "reads.txt").exists()
    out = tmp_path / "out"
    run("get", "--name", "n", "--copy", str(out), "-q")
    assert read_tree(out) == read_tree(src)
    assert held_names(tmp_path / "store") == []


@pytest.mark.parametrize("first", ["later", "holder"])
def test_two_uploads_of_one_draft_at_once_never_write_into_each_other_s_pack(tmp_path: Path, reads: list[str],
                                                                              monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """Two uploads of one draft both open the held segment: only one may use it (a pack's header
    and trailer are appended to the file, then it is renamed: two writers appended twice to one
    file, and the first pack no longer matched its id). The other reads the files again. The
    process that held it gave it away: its own upload takes it over as any other."""
    store, src = tmp_path / "store", write_tree(tmp_path / "src", TREE)
    holder = Dataset.create("held", "p", store=str(store))
    holder.add_files(src, show_progress=False)
    assert holder.keep_for_later_upload() == len(TREE)
    ds_id = holder.id
    a, b = holder if first == "holder" else later(ds_id, store), later(ds_id, store)
    a._v.kept()
    b._v.kept()
    monkeypatch.setattr(b._v.store, "pack_index", lambda be, only=None: {})  # b looked before a stored its pack
    a.upload(show_progress=False)
    b.upload(show_progress=False)
    b.finalize()
    assert sorted(reads) == sorted(os.path.basename(p) for p in TREE)  # b read them: a had the held segment
    assert Store(str(store)).verify(read_data=True) == []
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert held_names(store) == []


@pytest.mark.parametrize("when", ["before take", "after take"])
def test_a_held_segment_replaced_by_a_symlink_is_never_followed_nor_committed(tmp_path: Path, reads: list[str], when: str) -> None:
    """A symlink put under a held name is not opened (its files are read again), and one put
    there after the segment was taken is not renamed into the store as a pack: the bytes the
    taker holds open are."""
    ds_id, store, src = add_and_hold(tmp_path)
    [seg] = (store / "packs" / n for n in held_names(store) if not n.endswith(".arrow"))
    bait = tmp_path / "bait"
    bait.write_bytes(seg.read_bytes()[::-1])
    ds = later(ds_id, store)
    if when == "after take":
        ds._v.kept()
    seg.unlink()
    seg.symlink_to(bait)
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == (len(TREE) if when == "before take" else 0)
    assert not any(p.is_symlink() for p in (store / "packs").rglob("*") if not p.name.startswith(".tmp-"))
    assert Store(str(store)).verify(read_data=True) == []
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)


def test_a_held_index_copied_from_another_draft_is_not_taken(tmp_path: Path, reads: list[str],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Another draft's index (and segments) under this draft's index name: its segments are
    named for the other draft, so nothing of it is taken; the files are read again."""
    other_id, store, _src = add_and_hold(tmp_path / "other")
    ds_id, store2, src = add_and_hold(tmp_path)
    for n in held_names(store):
        (store2 / "packs" / n).write_bytes((store / "packs" / n).read_bytes())
    (store2 / stagehold.index_key(ds_id)).write_bytes((store / stagehold.index_key(other_id)).read_bytes())
    ds = later(ds_id, store2)
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == len(TREE) and "outside the store's held files" in caplog.text
    assert read_tree(later(ds_id, store2).get_local_copy()) == read_tree(src)


@pytest.mark.parametrize("content", ["same", "changed"])
def test_a_file_rewritten_with_its_size_and_mtime_kept_is_read_again(tmp_path: Path, reads: list[str], content: str) -> None:
    """A file rewritten between add and close within the same tick (same size, its mtime put
    back): its change time differs, so it is read again, stored if its content is the same and
    refused if not, never taken from the held bytes."""
    ds_id, store, src = add_and_hold(tmp_path)
    f = src / "d1" / "f1.bin"
    st = f.stat()
    data = f.read_bytes()
    f.write_bytes(data if content == "same" else bytes(b ^ 1 for b in data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    ds = later(ds_id, store)
    if content == "changed":
        with pytest.raises(InvalidPathError, match="f1.bin"):
            ds.upload(show_progress=False)
    else:
        ds.upload(show_progress=False)
        ds.finalize()
        assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert reads == ["f1.bin"]


def test_an_upload_at_another_compression_level_reads_the_files_and_leaves_no_held_name(tmp_path: Path, reads: list[str]) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    ds = later(ds_id, store)
    ds.upload(show_progress=False, compression=9)
    ds.finalize()
    assert len(reads) == len(TREE)
    assert held_names(store) == []
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
    assert Store(str(store)).verify(read_data=True) == []


def test_dagstore_sync_skip_close_then_close_reads_each_file_once(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", TREE)
    run = cli_counting_reads(tmp_path)
    run("sync", "--project", "p", "--name", "s", "--folder", str(src), "--skip-close", "-q")
    run("close", "-q")
    assert not (tmp_path / "reads.txt").exists()
    out = tmp_path / "out"
    run("get", "--name", "s", "--copy", str(out), "-q")
    assert read_tree(out) == read_tree(src)


@pytest.mark.parametrize(("change", "why"), [({"level": "1"}, "format"), ({"files": -1}, "file count"), ({"files": "3"}, "file count"),
                                             ({"segments": {}}, "format"), ({"segments": [{"key": None}]}, "outside the store's held files"),
                                             ({"segment": {"blobs": "2"}}, "blob count"), ({"segment": {"size": None}}, "size"),
                                             ({"segment": {"digest": 5}}, "digest is missing or not valid"),
                                             ({"files": 1}, "row count is not its files plus")])
def test_an_index_with_wrong_fields_is_a_warning_and_the_files_are_read_again(tmp_path: Path, reads: list[str], change: dict, why: str,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    ds_id, store, src = add_and_hold(tmp_path)
    edit_index(store, ds_id, lambda meta: meta["segments"][0].update(change["segment"]) if "segment" in change else meta.update(change))
    ds = later(ds_id, store)
    ds.upload(show_progress=False)
    ds.finalize()
    assert len(reads) == len(TREE) and "not readable" in caplog.text and why in caplog.text  # says what is wrong
    assert read_tree(later(ds_id, store).get_local_copy()) == read_tree(src)
