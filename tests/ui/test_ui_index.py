"""The UI's per-version index over the columnar state: facets and pages against a count made
from the entries themselves, glob search, the index file cache (limit, eviction, damaged and
stale files) and the indexing child process with its failure."""

from __future__ import annotations

import fnmatch
import itertools
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from dagstore import Dataset, IntegrityError, Store
from dagstore._atomic import HeldTemp
from dagstore.core.cache.files import BLOB_MTIME_NS
from dagstore.core.manifest import decode_annotation
from dagstore.ui import create_app
from dagstore.ui import derive
from dagstore.ui import index as ui_index
from dagstore.ui.facets import facets
from dagstore.ui.index import BadInput, Filters, Indexes
from servers.process import free_port
from ui_server import DAGSTORE
from ui_world import World


def _fresh(world: World, tmp_path: Path, copy: bool = False) -> Store:
    """The world's store with a cache of its own (a copy of the store when ``copy``)."""
    url = world.url
    if copy:
        url = str(tmp_path / "store")
        shutil.copytree(world.url, url)
    return Store(url, cache_dir=str(tmp_path / "cache"))


def _entries(store: Store, version_id: str) -> list[tuple[str, dict | None]]:
    return [(p, decode_annotation(e.annotation) if e.annotation else None) for p, e in store.state(version_id).items()]


def _expected(entries: list[tuple[str, dict | None]], f: Filters) -> list[str]:
    """The paths ``f`` keeps, from the version's entries one by one (no index)."""
    out = []
    for path, ann in entries:
        labels = {*(ann or {}).get("labels", []), *(r.get("label") for r in (ann or {}).get("regions", []))}
        split = (ann or {}).get("split") or "(none)"
        kind = "image" if path.endswith(".jpg") else "table" if path.endswith((".csv", ".parquet")) else \
            "json" if path.endswith(".json") else "text" if path.endswith(".txt") else "other"
        if f.q and not (fnmatch.fnmatchcase(path, f.q) if f.is_glob() else path.startswith(f.q)):
            continue
        if (f.split and split != f.split) or (f.label and f.label not in labels) or (f.kind and kind != f.kind):
            continue
        if f.annotated and (ann is not None) != (f.annotated == "yes"):
            continue
        out.append(path)
    return out


def test_pages_and_facets_match_the_entries_for_every_filter(world: World, tmp_path: Path) -> None:
    store = _fresh(world, tmp_path)
    ds = Dataset.get(dataset_id=world.first, store=store)
    idx = Indexes(store).get(ds)
    entries = _entries(store, world.first)
    combos = itertools.product(["", "images/", "images/img_0*", "*.txt", "nothing/"], ["", "train", "test", "(none)", "nope"],
                               ["", "dog", "bird", "zebra"], ["", "yes", "no"], ["", "image", "text"])
    for q, split, label, annotated, kind in combos:
        f = Filters(q, split, label, annotated, kind)
        want = _expected(entries, f)
        assert [r.path for r in idx.page(f, limit=100)] == want, f
        fac = facets(idx, f)
        assert fac["total"] == len(want), f
        for name in ("split", "label", "annotated", "kind"):  # each facet leaves its own filter out
            counts = dict(fac[name])
            for value in {"split": ["train", "test", "(none)"], "label": ["cat", "dog", "bird"], "annotated": ["yes", "no"],
                          "kind": ["image", "text", "json", "table"]}[name]:
                other = Filters(**{**f.__dict__, name: value})
                assert counts.get(value, 0) == len(_expected(entries, other)), (f, name, value)
    by_size = [r.size for r in idx.page(Filters(q="images/"), sort="-size", limit=100)]
    assert by_size == sorted(by_size, reverse=True) and len(by_size) == 12


@pytest.mark.parametrize("slices", [None, (3, 5, 4)], ids=["one-slice", "many-slices"])
def test_every_sort_and_offset_pages_like_the_sorted_list(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          slices: tuple[int, int, int] | None) -> None:
    if slices:  # pages filled, cubes counted and the index derived a few rows at a time
        for module, name, value in zip((ui_index, ui_index, derive), ("PAGE_SLICE", "SLICE", "SLICE"), slices):
            monkeypatch.setattr(module, name, value)
    store = _fresh(world, tmp_path)
    idx = Indexes(store).get(Dataset.get(dataset_id=world.first, store=store))
    state = store.state(world.first)
    entries = _entries(store, world.first)
    for f in (Filters(), Filters(q="images/"), Filters(split="train"), Filters(q="*.txt"), Filters(label="dog", annotated="yes")):
        paths = _expected(entries, f)
        fac = facets(idx, f)
        assert fac["total"] == len(paths)
        assert dict(fac["label"]) == {c: n for c in ("cat", "dog", "bird") if (n := len(_expected(entries, replace(f, label=c))))}
        by = {"path": paths, "size": sorted(paths, key=lambda p: (state[p].size, p))}
        for sort in ("path", "-path", "size", "-size"):
            want = by[sort.lstrip("-")][::-1] if sort.startswith("-") else by[sort.lstrip("-")]
            for offset in (0, 3, 16, 40):
                assert [r.path for r in idx.page(f, sort, offset, 5)] == want[offset:offset + 5], (f, sort, offset)


def test_rows_carry_what_previews_need(world: World, tmp_path: Path) -> None:
    store = _fresh(world, tmp_path)
    ds = Dataset.get(dataset_id=world.child, store=store)
    idx = Indexes(store).get(ds)
    row = idx.get("images/img_01.jpg")
    assert row is not None and row.kind == "image" and row.split == "train" and row.nregions == 2 and row.annotated == 1
    assert row.src == world.first and row.pack is not None and row.len is not None  # inherited content: the parent's pack
    assert row.annotation()["regions"][1]["type"] == "polygon"
    assert idx.get("docs/readme.txt") is None and idx.get("images/img_01") is None and idx.get("") is None
    assert list(idx.paths(Filters(q="tables/"))) == ["tables/data.parquet", "tables/scores.csv"]


def test_glob_search_and_a_bad_pattern(client: TestClient, world: World) -> None:
    base = f"/versions/{world.first}/files.json"
    assert [f["path"] for f in client.get(base + "?q=images/img_0[0-2].jpg").json()["files"]] == \
        ["images/img_00.jpg", "images/img_01.jpg", "images/img_02.jpg"]
    assert client.get(base + "?q=images/img_?[^0-9].jpg").json()["total"] == 0
    assert client.get(base + "?q=*/*.json").json()["total"] == 1
    r = client.get(base + "?q=[z-a]*")
    assert r.status_code == 400 and r.json()["detail"].startswith("BadInput: bad search pattern '[z-a]*'")
    assert "\n" not in r.json()["detail"]


def test_index_files_are_evicted_least_recently_used_first(world: World, tmp_path: Path) -> None:
    store = _fresh(world, tmp_path)
    first, child = (Dataset.get(dataset_id=v, store=store) for v in (world.first, world.child))
    root = Path(store.cache.root) / "ui" / "index"
    root.mkdir(parents=True)
    (root / f"{world.first}.v2.sqlite").write_bytes(b"x" * 100)  # an index of an older format
    (root / ".tmp-build-under-way").write_bytes(b"x")  # another build's temp file: left alone
    Indexes(store, max_bytes=1 << 30).get(first)
    assert {p.name for p in root.iterdir()} == {f"{world.first}.v3.arrow", ".tmp-build-under-way"}
    roomy = Indexes(store, max_bytes=1 << 30)
    roomy.get(child), roomy.get(Dataset.get(dataset_id=world.other, store=store))
    files = {p.name: p.stat().st_size for p in root.glob("*.v3.arrow")}
    assert len(files) == 3
    os.utime(root / f"{world.first}.v3.arrow", (1, 1))  # used long ago
    removed = Indexes(store, max_bytes=sum(files.values()) - 1).evict()  # three do not fit: the least recently used goes
    assert removed == [root / f"{world.first}.v3.arrow"]
    assert {p.name for p in root.glob("*.v3.arrow")} == {f"{world.child}.v3.arrow", f"{world.other}.v3.arrow"}
    small = Indexes(store, max_bytes=0)  # a limit below one index keeps only the one in use
    assert [r.path for r in small.get(first).page(Filters(q="docs/m"))] == ["docs/meta.json"]
    assert [p.name for p in root.glob("*.v3.arrow")] == [f"{world.first}.v3.arrow"]


def test_the_limit_comes_from_the_environment(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _fresh(world, tmp_path)
    assert Indexes(store).max_bytes == 1024 << 20
    monkeypatch.setenv("DAGSTORE_UI_INDEX_MB", "3")
    assert Indexes(store).max_bytes == 3 << 20
    for bad in ("lots", "-1", "1.5"):
        monkeypatch.setenv("DAGSTORE_UI_INDEX_MB", bad)
        with pytest.raises(BadInput, match=f"^DAGSTORE_UI_INDEX_MB must be a whole number of megabytes, not '{bad}'$"):
            create_app(store)


def test_dagstore_ui_refuses_a_bad_limit_with_one_line(world: World, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "DAGSTORE_CACHE_DIR": str(tmp_path),
           "DAGSTORE_UI_INDEX_MB": "2GB"}
    proc = subprocess.run([str(DAGSTORE), "ui", "--port", str(free_port()), "--store", world.url], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "DAGSTORE_UI_INDEX_MB must be a whole number of megabytes, not '2GB'" in proc.stderr


def _replace(target: Path, data: bytes) -> None:
    """Put ``data`` at ``target`` by a rename (an index in use is mapped: never written in place)."""
    tmp = target.with_name("replacing")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def test_a_damaged_index_file_is_built_again(world: World, tmp_path: Path) -> None:
    store = _fresh(world, tmp_path)
    ds = Dataset.get(dataset_id=world.first, store=store)
    target = Path(store.cache.root) / "ui" / "index" / f"{world.first}.v3.arrow"
    want = facets(Indexes(store).get(ds), Filters())
    for damage in (b"", target.read_bytes()[:200], b"ARROW1" + b"\0" * 500):
        _replace(target, damage)
        assert facets(Indexes(store).get(ds), Filters()) == want
        assert target.stat().st_size > 500
    other = Path(store.cache.root) / "ui" / "index" / f"{world.child}.v3.arrow"
    _replace(other, target.read_bytes())  # an index of another version under this one's name
    assert facets(Indexes(store).get(Dataset.get(dataset_id=world.child, store=store)), Filters())["label"] != want["label"]


def _in_place(target: Path, table: pa.Table) -> None:
    """Write ``table`` over ``target``'s bytes in place (the same inode, the same size)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    assert len(data) == target.stat().st_size
    os.chmod(target, 0o644)
    with open(target, "r+b") as f:
        f.write(data)


def test_an_index_file_changed_in_place_is_never_served(world: World, tmp_path: Path) -> None:
    """The index file is sealed (read-only, the cache's fixed mtime) like a cached state: one
    changed in place (same size, order reversed) is built again when opened, an open one is
    refused and built again by the next request."""
    store = _fresh(world, tmp_path)
    ds = Dataset.get(dataset_id=world.first, store=store)
    target = Path(store.cache.root) / "ui" / "index" / f"{world.first}.v3.arrow"
    indexes = Indexes(store)
    held = indexes.get(ds)
    want = [r.path for r in held.page(Filters(), sort="size", limit=1000)]
    assert len(set(want)) > 2
    forged = pa.ipc.open_file(str(target)).read_all()
    order = forged.schema.get_field_index("order")
    forged = forged.set_column(order, "order", pa.array(forged["order"].to_numpy()[::-1].copy()))
    _in_place(target, forged)
    with pytest.raises(IntegrityError, match="was changed while in use"):
        held.page(Filters(), sort="size", limit=1000)
    assert [r.path for r in indexes.get(ds).page(Filters(), sort="size", limit=1000)] == want  # built again
    _in_place(target, forged)
    assert [r.path for r in Indexes(store).get(ds).page(Filters(), sort="size", limit=1000)] == want  # opened: built again
    assert target.stat().st_mtime_ns == BLOB_MTIME_NS and not target.stat().st_mode & 0o222  # sealed again


def test_a_build_removes_the_temp_file_of_an_indexer_that_died(world: World, tmp_path: Path) -> None:
    store = _fresh(world, tmp_path)
    folder = Path(store.cache.root) / "ui" / "index"
    dead = HeldTemp(folder / "x.v3.arrow", folder=False)
    dead.path.write_bytes(b"ARROW1" + b"\0" * 500)
    dead.release()  # as the kernel does when the indexer is killed (e.g. by the OOM killer)
    Indexes(store).get(Dataset.get(dataset_id=world.first, store=store))
    assert sorted(p.name for p in folder.iterdir()) == [f"{world.first}.v3.arrow"]


def test_big_versions_are_indexed_by_a_child_process(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_index, "IN_PROCESS_MAX_FILES", 0)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    store = _fresh(world, tmp_path)
    ds = Dataset.get(dataset_id=world.first, store=store)
    idx = Indexes(store).get(ds)
    assert facets(idx, Filters(split="test"))["total"] == 4 and idx.get("images/img_03.jpg") is not None


def test_a_failed_child_is_a_one_line_error_and_leaves_no_file(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui_index, "IN_PROCESS_MAX_FILES", 0)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    store = _fresh(world, tmp_path, copy=True)
    ds = Dataset.get(dataset_id=world.first, store=store)
    os.unlink(Path(store.url) / ds.record.manifest)
    with pytest.raises(IntegrityError, match=f"^indexing version {world.first} failed: dagstore ui: manifest .* is missing"):
        Indexes(store).get(ds)
    assert not [p for p in (Path(store.cache.root) / "ui" / "index").iterdir()]
    with TestClient(create_app(store), base_url="http://127.0.0.1") as tc:
        r = tc.get(f"/versions/{world.first}/files")
        assert r.status_code == 502 and "is missing" in r.text and "Traceback" not in r.text
