"""Exports stream a version from its columns: the same items and names as before, and a
memory-mapped state's pages are given back as a pass reads them."""

from __future__ import annotations

import os
import random
from pathlib import Path

from dagstore import Dataset, Store
from dagstore.core import columns
from dagstore.core.cache.files import BLOB_MTIME_NS
from dagstore.core.manifest import Entry, encode_annotation
from dagstore.core.state import State
from dagstore.export.base import media_name, renamed, unique_names
from dagstore.export.view import stream_items
from export_fixtures import image_bytes, img_ann
from helpers import read_tree


def _rows(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """Paths in few folders with few names, so that names (and stems, and hash prefixes) collide."""
    rows = []
    for i in range(n):
        folder = rng.choice(["", "a", "A", "b/c"])
        name = rng.choice(["x.jpg", "X.JPG", "x.png", "y.jpg", "abababab_x.jpg", "efefefef_X.txt", f"{i}.jpg"])
        rows.append((f"{folder}/{i}/{name}" if folder else f"{i}/{name}", rng.choice(["train", "val", "Train"]), rng.choice(["ab" * 16, "ab" * 4 + "cd" * 12, "ef" * 16])))
    return sorted(rows)


def test_renamed_gives_unique_names_of_the_renamed_items() -> None:
    rng = random.Random(7)
    for stem_only in (False, True):
        for _ in range(40):
            rows = _rows(rng, rng.randint(1, 60))
            want = {p: n for p, n in unique_names(rows, stem_only).items() if n != media_name(p)}
            assert renamed(lambda: iter(rows), stem_only) == want


def test_renamed_when_a_new_name_is_another_files_own_name() -> None:
    h = "ab" * 16
    rows = [("d/1/x.jpg", "f", h), ("d/2/x.jpg", "f", h), ("d/3/abababab_x.jpg", "f", "cd" * 16)]
    want = {p: n for p, n in unique_names(rows).items() if n != media_name(p)}
    assert want["d/3/abababab_x.jpg"].startswith("cdcdcdcd-")  # the own name was renamed too
    assert renamed(lambda: iter(rows)) == want
    assert renamed(lambda: iter([("a.jpg", "f", h), ("b.jpg", "f", h)])) == {}


def _dataset(tmp_path: Path) -> Dataset:
    """30 annotated images; same names in two folders (renamed where they share a folder)."""
    src = tmp_path / "src"
    for i in range(30):
        f = src / ("imgs" if i % 2 else "other") / f"{i // 2}.jpg"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(image_bytes(40, 30, seed=i))
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ds = Dataset.create("s", "p", store=st)
    ds.add_files(str(src))
    ds.add_classes(["cat", "dog"])
    ds.set_annotations({p: img_ann(40, 30, split=["train", "val", None][i % 3],
                                   regions=[{"id": "r", "type": "box", "label": ["cat", "dog"][i % 2], "xywh": [1.0, 2.0, 10.0, 5.0]}])
                        for i, p in enumerate(ds.list_files())})
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_stream_items_are_the_versions_files_and_annotations(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    state = ds._v.current()
    items = list(stream_items(state))
    assert [(i.path, i.annotation) for i in items] == list(ds.iter_annotations(include_unannotated=True))
    assert [(i.hash, i.size) for i in items] == [(e.hash, e.size) for e in state.values()]
    assert [i.annotation for i in stream_items(state, split_only=True)] == [{"split": a["split"]} if a.get("split") else {} for _, a in ds.iter_annotations(include_unannotated=True)]


def test_a_selection_that_needs_no_annotation_exports_the_same_files(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    for fmt in ("YOLO_ULTRALYTICS", "YOLO"):
        ds.export(fmt, tmp_path / f"{fmt}-light")  # the first pass reads the split column only
        ds.export(fmt, tmp_path / f"{fmt}-full", filters={"labels": ["cat", "dog"]})  # the first pass decodes every annotation
        light, full = read_tree(tmp_path / f"{fmt}-light"), read_tree(tmp_path / f"{fmt}-full")
        del light["export.json"], full["export.json"]
        assert light == full
    assert any("_" in k.rsplit("/", 1)[-1] for k in light), "expected renamed files (same name in one split folder)"


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


def test_batches_give_back_the_pages_of_a_mapped_state(tmp_path: Path) -> None:
    n = 20_000
    text = encode_annotation({"split": "train", "fields": {"note": "x" * 2000}})
    entries = {f"f{i:06d}.jpg": Entry(f"{i:032x}", i, annotation=text, origin="v") for i in range(n)}
    path = tmp_path / "state.arrow"
    path.write_bytes(State(columns.entries_table(entries, origins=["v"]), ["v"]).to_bytes())
    os.utime(path, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
    size_kb = path.stat().st_size // 1024
    assert size_kb > 30_000
    state = State.open(str(path))
    assert state is not None
    before = _rss_file_kb()
    seen = peak = 0
    for part in state.batches(1000):
        seen += sum(len(t) for t in part["annotation"].to_pylist())
        peak = max(peak, _rss_file_kb() - before)
    assert seen == n * len(text)  # the pages given back read the same again
    assert peak < size_kb / 4, f"{peak} KB of the {size_kb} KB file stayed resident"
    again = state.table["annotation"].to_pylist()
    assert again[0] == again[-1] == text.translate(str.maketrans({'"': "'", "'": '"'}))
