"""Store-level behaviour on a local folder: format checks, crafted input, corruption, gc, verify."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import zstandard

from dagstore import Dataset, FormatError, IntegrityError, InvalidPathError, Store
from dagstore.core import columns
from dagstore.core.manifest import Delta, Entry
from helpers import read_tree, write_tree


def make(store: Store, files: dict, name: str = "d", parents=None) -> Dataset:
    src = write_tree(Path(store.url).parent / f"src-{os.urandom(4).hex()}", files)
    ds = Dataset.create(dataset_name=name, dataset_project="p", parent_datasets=parents, store=store)
    ds.add_files(src)
    ds.finalize(auto_upload=True)
    return ds


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))


def test_a_store_from_a_newer_format_is_refused_and_untouched(tmp_path):
    root = tmp_path / "future"
    root.mkdir()
    (root / "dagstore.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(FormatError, match="newer dagstore"):
        Store(str(root))
    assert sorted(os.listdir(root)) == ["dagstore.json"]


def test_a_record_from_a_newer_format_is_refused(store):
    ds = make(store, {"a": "1"})
    rec = Path(store.url) / "versions" / f"{ds.id}.json"
    doc = json.loads(rec.read_text())
    doc["format"] = 7
    rec.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="newer"):
        Dataset.get(dataset_id=ds.id, store=store)


def _rewrite_manifest(store: Store, ds: Dataset, delta: Delta) -> None:
    """Replace a version's manifest in place (simulating a corrupt store)."""
    path = Path(store.url) / ds.record.manifest
    path.write_bytes(columns.delta_bytes(delta) if isinstance(delta, Delta) else delta)


def _forge_manifest(store: Store, ds: Dataset, doc: dict) -> None:
    """Point a version at a new, hash-consistent manifest (simulating a hostile writer)."""
    from dagstore.core.hashing import hash_bytes

    raw = zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
    key = f"manifests/{hash_bytes(raw)}"
    (Path(store.url) / key).write_bytes(raw)
    rec_path = Path(store.url) / "versions" / f"{ds.id}.json"
    rec = json.loads(rec_path.read_text())
    rec["manifest"] = key
    rec_path.write_text(json.dumps(rec))


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/passwd", "a/../../escape.txt", "a//b", "./x"])
def test_a_manifest_naming_a_path_outside_the_target_is_refused(store, tmp_path, evil):
    ds = make(store, {"a.txt": "ok"})
    h = ds.file_entries_dict["a.txt"].hash
    _forge_manifest(store, ds, {"format": 1, "kind": "delta", "paths": [evil], "hashes": [h], "sizes": [2], "removed": []})
    fresh = Store(store.url, cache_dir=str(tmp_path / "cache2"))
    with pytest.raises(FormatError, match="unsafe path"):
        Dataset.get(dataset_id=ds.id, store=fresh).get_local_copy()
    assert not (tmp_path / "escape.txt").exists()
    assert not list((tmp_path / "cache2").rglob("escape.txt"))


def test_a_manifest_from_a_newer_format_is_refused(store, tmp_path):
    ds = make(store, {"a.txt": "ok"})
    _forge_manifest(store, ds, {"format": 5, "kind": "delta"})
    fresh = Store(store.url, cache_dir=str(tmp_path / "c2"))
    with pytest.raises(FormatError, match="newer"):
        Dataset.get(dataset_id=ds.id, store=fresh).list_files()


def test_a_corrupted_pack_is_detected_on_read_and_by_verify(store, tmp_path):
    ds = make(store, {"a.bin": os.urandom(5000), "b.bin": os.urandom(5000)})
    pack = next(p for p in (Path(store.url) / "packs").rglob("*") if p.is_file())
    data = bytearray(pack.read_bytes())
    data[10] ^= 0xFF
    pack.write_bytes(bytes(data))
    fresh = Store(store.url, cache_dir=str(tmp_path / "c2"))
    with pytest.raises(IntegrityError, match="does not match"):
        Dataset.get(dataset_id=ds.id, store=fresh).get_local_copy()
    assert not (tmp_path / "c2" / "versions" / ds.id).exists()
    problems = fresh.verify(read_data=True)
    assert any("pack" in p for p in problems)
    assert fresh.verify(read_data=False) == []  # structure is intact; only the bytes are bad


def test_verify_reports_missing_content(store):
    ds = make(store, {"a.bin": os.urandom(5 << 20), "b.txt": "b"})
    assert store.verify(read_data=True) == []
    for obj in (Path(store.url) / "objects").rglob("*"):
        if obj.is_file():
            obj.unlink()
    assert any(f"object {ds.record.objects[0]} is missing" in p for p in store.verify())


def test_verify_reports_a_version_whose_content_store_cannot_be_opened_and_checks_the_others(store, tmp_path):
    """verify never stops at the first problem: a version whose content store (``output_url``)
    is no longer a folder is one line, and the versions after it are still checked."""
    content = tmp_path / "content"
    away = Dataset.create(dataset_name="away", dataset_project="p", store=store)
    away.add_files(write_tree(tmp_path / "s", {"a.bin": os.urandom(3000)}))
    away.upload(show_progress=False, output_url=str(content))
    away.finalize()
    here = make(store, {"b.bin": os.urandom(3000)}, name="here")
    assert store.verify() == []
    shutil.rmtree(content)
    content.write_text("a file now")
    pack = next(p for p in (Path(store.url) / "packs").rglob("*") if p.is_file())
    pack.unlink()
    problems = Store(store.url, cache_dir=str(tmp_path / "c-verify")).verify()
    assert problems == sorted([f"version {away.id}: store {content}: {content} is a file, not a folder",
                               f"version {here.id}: pack {here.record.packs[0]} is missing"])


def test_gc_removes_only_unreferenced_content_and_dry_run_changes_nothing(store, tmp_path):
    keep = make(store, {"k.txt": "keep", "big.bin": os.urandom(5 << 20)}, name="keep")
    gone = make(store, {"g.txt": "gone", "big2.bin": os.urandom(5 << 20)}, name="gone")
    Dataset.delete(dataset_id=gone.id, store=store, delete_files=False)  # gc alone decides
    before = sorted(p for p in Path(store.url).rglob("*") if p.is_file())
    young = store.gc(min_age_seconds=3600)
    assert young.packs == [] and young.objects == []
    dry = store.gc(dry_run=True, min_age_seconds=0)
    assert len(dry.packs) == 1 and len(dry.objects) == 1 and dry.bytes > 5 << 20
    assert sorted(p for p in Path(store.url).rglob("*") if p.is_file()) == before
    done = store.gc(min_age_seconds=0)
    assert done.packs == dry.packs and done.objects == dry.objects
    assert store.gc(dry_run=True, min_age_seconds=0).packs == []
    assert store.verify(read_data=True) == []
    fresh = Store(store.url, cache_dir=str(tmp_path / "c2"))
    copy = Dataset.get(dataset_id=keep.id, store=fresh).get_local_copy()
    assert set(read_tree(copy)) == {"k.txt", "big.bin"}


def test_gc_keeps_content_of_drafts(store, tmp_path):
    src = write_tree(tmp_path / "s", {"x.txt": "draft content"})
    d = Dataset.create(dataset_name="d", dataset_project="p", store=store)
    d.add_files(src)
    d.upload(show_progress=False)
    assert store.gc(min_age_seconds=0).packs == []
    d.finalize()
    assert read_tree(Dataset.get(dataset_id=d.id, store=store).get_local_copy()) == {"x.txt": b"draft content"}


def test_identical_content_is_stored_once(store):  # blobs are deduplicated, not packs
    blob = os.urandom(20000)
    big = os.urandom(5 << 20)
    make(store, {"a.bin": blob, "b.bin": blob, "big.bin": big}, name="one")
    make(store, {"copy.bin": blob, "big_again.bin": big}, name="two")
    packs = [p for p in (Path(store.url) / "packs").rglob("*") if p.is_file()]
    objects = [p for p in (Path(store.url) / "objects").rglob("*") if p.is_file()]
    assert len(packs) == 1 and len(objects) == 1
    assert packs[0].stat().st_size < 2 * len(blob)


def test_two_stores_in_one_process_are_independent(tmp_path):
    s1 = Store(str(tmp_path / "s1"), cache_dir=str(tmp_path / "c"))
    s2 = Store(str(tmp_path / "s2"), cache_dir=str(tmp_path / "c"))
    a = make(s1, {"a.txt": "one"}, name="same")
    b = make(s2, {"b.txt": "two"}, name="same")
    assert a.version == b.version == "1.0.0"
    assert Dataset.get(dataset_project="p", dataset_name="same", store=s1).id == a.id
    assert Dataset.get(dataset_project="p", dataset_name="same", store=str(tmp_path / "s2")).id == b.id
    assert read_tree(Dataset.get(dataset_id=b.id, store=s2).get_local_copy()) == {"b.txt": b"two"}


def test_store_url_from_env_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTORE_URL", str(tmp_path / "envstore"))
    ds = Dataset.create(dataset_name="d", dataset_project="p")
    assert (tmp_path / "envstore" / "drafts" / ds.id).exists()


def test_config_file_sets_the_store(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'url = "{tmp_path / "cfgstore"}"\ncache_dir = "{tmp_path / "cfgcache"}"\n')
    monkeypatch.delenv("DAGSTORE_URL")
    monkeypatch.delenv("DAGSTORE_CACHE_DIR")
    monkeypatch.setenv("DAGSTORE_CONFIG", str(cfg))
    s = Store()
    assert s.url == str(tmp_path / "cfgstore") and s.cache.root == tmp_path / "cfgcache"


def test_a_tampered_manifest_is_detected_by_its_hash(store, tmp_path):
    ds = make(store, {"a.txt": "1"})
    _rewrite_manifest(store, ds, Delta(entries={"a.txt": Entry(ds.file_entries_dict["a.txt"].hash, 2)}))
    with pytest.raises(IntegrityError, match="manifest"):
        Store(store.url, cache_dir=str(tmp_path / "c3")).state(ds.id)


def test_interrupted_cache_builds_are_invisible_and_removed_by_the_next_build(store):
    """A dead build of the same key is removed by the next build; old leftovers of other keys and
    interrupted evictions by the check before a first build; a recent build of another key (perhaps
    a live process's) is left alone."""
    ds = make(store, {"a.txt": "1", "b/c.txt": "2"})
    versions = store.cache.root / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / f".tmp-{ds.id}-deadbeef").mkdir()
    live = versions / f".tmp-{'e' * 32}-0badf00d"
    for old in (versions / f".tmp-{'f' * 32}-0badf00d", versions / ".trash-0123", live):
        (old / "x").mkdir(parents=True)
        if old != live:
            os.utime(old, (1, 1))
    folder = Dataset.get(dataset_id=ds.id, store=store).get_local_copy()
    assert read_tree(folder) == {"a.txt": b"1", "b/c.txt": b"2"}
    assert sorted(os.listdir(versions)) == sorted([ds.id, live.name])


def _age(root: Path, seconds: float) -> None:
    """Make every object of a local store look ``seconds`` old."""
    t = __import__("time").time() - seconds
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (t, t))


def test_gc_marks_first_and_removes_only_after_min_age(store, tmp_path):
    keep = make(store, {"k.txt": "keep"}, name="keep")
    gone = make(store, {"g.bin": os.urandom(9000), "big.bin": os.urandom(5 << 20)}, name="gone")
    Dataset.delete(dataset_id=gone.id, store=store, delete_files=False)  # gc alone decides
    root = Path(store.url)
    _age(root, 7200)
    first = store.gc(min_age_seconds=3600)
    assert first.packs == [] and first.objects == [] and len(first.marked) == 3  # pack, object, manifest
    assert store.gc_marks() == set(first.marked)
    again = store.gc(min_age_seconds=3600)  # marked just now: still too young to remove
    assert again.packs == [] and again.marked == []
    for marker in (root / "gc").rglob("*"):  # an hour and more later
        if marker.is_file():
            marker.write_text(json.dumps({"at": __import__("time").time() - 7200}))
    swept = store.gc(min_age_seconds=3600)
    assert len(swept.packs) == 1 and len(swept.objects) == 1 and len(swept.manifests) == 1
    assert store.gc_marks() == set()
    assert store.verify(read_data=True) == []
    assert read_tree(Dataset.get(dataset_id=keep.id, store=Store(store.url, cache_dir=str(tmp_path / "c9"))).get_local_copy()) == {"k.txt": b"keep"}


def test_an_upload_never_reuses_content_marked_by_gc(store, tmp_path):
    blob, big = os.urandom(9000), os.urandom(5 << 20)
    gone = make(store, {"g.bin": blob, "big.bin": big}, name="gone")
    Dataset.delete(dataset_id=gone.id, store=store, delete_files=False)  # gc alone decides
    root = Path(store.url)
    _age(root, 7200)
    marked = store.gc(min_age_seconds=3600).marked
    assert marked
    packs_before = {p.name for p in (root / "packs").rglob("*") if p.is_file()}
    again = make(store, {"same.bin": blob, "big.bin": big}, name="again")  # same content as the marked one
    packs_after = {p.name for p in (root / "packs").rglob("*") if p.is_file()}
    assert packs_after - packs_before  # a new pack (each pack is unique), not the marked one
    assert not set(again.record.packs) & packs_before
    for marker in (root / "gc").rglob("*"):
        if marker.is_file():
            marker.write_text(json.dumps({"at": __import__("time").time() - 7200}))
    store.gc(min_age_seconds=3600)  # sweeps the old pack; the rewritten object is young and referenced
    fresh = Store(store.url, cache_dir=str(tmp_path / "c8"))
    assert read_tree(Dataset.get(dataset_id=again.id, store=fresh).get_local_copy()) == {"same.bin": blob, "big.bin": big}
    assert fresh.verify(read_data=True) == []


def test_content_urls_with_credentials_are_refused(store, tmp_path):
    with pytest.raises(InvalidPathError, match="credentials"):
        Dataset.create(dataset_name="d", dataset_project="p", output_uri="sftp://me:hunter2@host/data", store=store)
    d = Dataset.create(dataset_name="d", dataset_project="p", store=store)
    d.add_files(write_tree(tmp_path / "s", {"a": "1"}))
    with pytest.raises(InvalidPathError, match="credentials") as exc:
        d.upload(show_progress=False, output_url="az://c/p?sig=SECRETSIG")
    assert "SECRETSIG" not in str(exc.value)
    assert not any(b"hunter2" in p.read_bytes() or b"SECRETSIG" in p.read_bytes() for p in Path(store.url).rglob("*") if p.is_file())
