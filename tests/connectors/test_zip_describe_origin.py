"""add_zip (safe extraction, hostile archives refused whole), origins and describe."""
from __future__ import annotations

import json
import math
import stat
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagstore import Dataset, Store
from dagstore import UnsafeArchiveError
from dagstore.errors import DagstoreError, InvalidPathError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


def make_zip(path: Path, entries: list[tuple[Any, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def symlink_entry(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def draft_with_file(store: Store, tmp_path: Path) -> Dataset:
    (tmp_path / "keep.txt").write_text("keep")
    ds = Dataset.create("z", "p", store=store)
    ds.add_files(str(tmp_path / "keep.txt"))
    return ds


# ------------------------------------------------------------------ add_zip

def test_add_zip_adds_files_under_dataset_path_with_origin_zip(store: Store, tmp_path: Path) -> None:
    z = make_zip(tmp_path / "a.zip", [("imgs/a.png", PNG), ("imgs/sub/b.jpg", JPEG), ("readme.txt", b"hi")])
    ds = Dataset.create("z", "p", store=store)
    assert ds.add_zip(str(z), dataset_path="raw") == 3
    ds.finalize(auto_upload=True)
    assert ds.list_files() == ["raw/imgs/a.png", "raw/imgs/sub/b.jpg", "raw/readme.txt"]
    assert ds.read_bytes("raw/imgs/a.png") == PNG
    assert ds.origin == "zip"
    assert [d["origin"] for d in Dataset.list_datasets(store=store)] == ["zip"]


@pytest.mark.parametrize("entries,reason", [
    ([("ok.txt", b"x"), ("../evil.txt", b"x")], "escapes"),
    ([("ok.txt", b"x"), ("a/../../evil.txt", b"x")], "escapes"),
    ([("/etc/evil", b"x")], "absolute"),
    ([("C:/evil", b"x")], "absolute"),
    ([("ok.txt", b"x"), (symlink_entry("link", "/etc/passwd"), b"/etc/passwd")], "symlink"),
    ([("a.txt", b"x"), ("a.txt", b"y")], "duplicate"),
    ([("a", b"x"), ("a/b", b"y")], "duplicate"),
    ([("ok.txt", b"x"), ("bomb.bin", b"\0" * (50 << 20))], "decompression bomb"),
])
@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns while writing the duplicate on purpose
def test_hostile_archive_refused_whole(store: Store, tmp_path: Path, entries: list[Any], reason: str) -> None:
    z = make_zip(tmp_path / "bad.zip", entries)
    ds = draft_with_file(store, tmp_path)
    with pytest.raises(UnsafeArchiveError, match=reason) as ei:
        ds.add_zip(str(z))
    assert "\n" not in str(ei.value) and isinstance(ei.value, (InvalidPathError, DagstoreError))
    assert ds.list_files() == ["keep.txt"]  # nothing added
    assert Dataset.get(ds.id, store=store).list_files() == ["keep.txt"]
    assert not (tmp_path.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_encrypted_entry_refused(store: Store, tmp_path: Path) -> None:
    z = tmp_path / "enc.zip"
    make_zip(z, [("secret.txt", b"not really encrypted")], zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the encryption flag bit
        at = raw.find(sig)
        raw[at + off] |= 0x1
    z.write_bytes(bytes(raw))
    ds = draft_with_file(store, tmp_path)
    with pytest.raises(UnsafeArchiveError, match="encrypted"):
        ds.add_zip(str(z))
    assert ds.list_files() == ["keep.txt"]


def test_total_size_limit(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagstore import archive
    monkeypatch.setattr(archive, "MAX_TOTAL", 1000)
    z = make_zip(tmp_path / "big.zip", [("a.bin", b"x" * 600), ("b.bin", b"y" * 600)], zipfile.ZIP_STORED)
    ds = draft_with_file(store, tmp_path)
    with pytest.raises(UnsafeArchiveError, match="uncompressed"):
        ds.add_zip(str(z))
    assert ds.list_files() == ["keep.txt"]


def test_corrupt_entry_refused_and_nothing_added(store: Store, tmp_path: Path) -> None:
    z = make_zip(tmp_path / "c.zip", [("a.txt", b"a" * 100), ("b.txt", b"hello world, some content")],
                 zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    at = raw.find(b"hello world")
    raw[at] ^= 0xFF  # break b.txt's CRC
    z.write_bytes(bytes(raw))
    ds = draft_with_file(store, tmp_path)
    with pytest.raises(UnsafeArchiveError, match="corrupt"):
        ds.add_zip(str(z))
    assert ds.list_files() == ["keep.txt"]


def test_not_a_zip(store: Store, tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"nope")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        Dataset.create("z", "p", store=store).add_zip(str(tmp_path / "x.zip"))


def test_only_images_by_content(store: Store, tmp_path: Path) -> None:
    good = make_zip(tmp_path / "good.zip", [("a.png", PNG), ("b.JPG", JPEG), ("noext", PNG)])
    ds = Dataset.create("z", "p", store=store)
    assert ds.add_zip(str(good), only_images=True) == 3
    liar = make_zip(tmp_path / "liar.zip", [("c.png", PNG), ("d.png", b"#!/bin/sh\necho not an image\n")])
    with pytest.raises(UnsafeArchiveError, match="d.png is not an image"):
        ds.add_zip(str(liar), dataset_path="more", only_images=True)
    assert ds.list_files() == ["a.png", "b.JPG", "noext"]


# ------------------------------------------------------------------ origins

def test_origins_recorded_and_filtered(store: Store, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("f")
    up = Dataset.create("up", "p", store=store)
    up.add_files(str(tmp_path / "f.txt"))
    up.finalize(auto_upload=True)
    pipe = Dataset.create("pipe", "p", store=store, origin="pipeline")
    pipe.add_files(str(tmp_path / "f.txt"))
    pipe.finalize(auto_upload=True)
    assert (up.origin, pipe.origin) == ("upload", "pipeline")
    assert Dataset.get(pipe.id, store=store).origin == "pipeline"
    by = {d["name"]: d["origin"] for d in Dataset.list_datasets(store=store)}
    assert by == {"up": "upload", "pipe": "pipeline"}
    assert [d["name"] for d in Dataset.list_datasets(store=store, origin="pipeline")] == ["pipe"]
    assert Dataset.list_datasets(store=store, origin="datasource") == []
    with pytest.raises(DagstoreError, match="origin"):
        Dataset.create("x", "p", store=store, origin="magic")


# ------------------------------------------------------------------ describe

def frame(n: int = 5000) -> pd.DataFrame:
    import numpy as np
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"x": rng.normal(10, 3, n), "k": rng.integers(0, 50, n),
                       "cat": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])})
    df["y"] = df["x"] * -2 + rng.normal(0, 0.5, n)
    df.loc[::9, "x"] = None
    return df


def version_with(store: Store, tmp_path: Path, files: dict[str, Any]) -> Dataset:
    folder = tmp_path / "tab"
    folder.mkdir()
    for name, writer in files.items():
        writer(folder / name)
    ds = Dataset.create("tab", "p", store=store)
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    return ds


WRITERS = {
    "t.parquet": lambda df: (lambda p: pq.write_table(pa.Table.from_pandas(df, preserve_index=False), p, row_group_size=700)),
    "t.csv": lambda df: (lambda p: df.to_csv(p, index=False)),
    "t.tsv": lambda df: (lambda p: df.to_csv(p, index=False, sep="\t")),
    "t.jsonl": lambda df: (lambda p: df.to_json(p, orient="records", lines=True)),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_describe_matches_pandas(store: Store, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagstore.tables import describe as D
    monkeypatch.setattr(D, "BATCH_ROWS", 1000)  # several batches even for Parquet
    df = frame()
    ds = version_with(store, tmp_path, {name: WRITERS[name](df)})
    d = ds.describe()
    assert d["rows"] == len(df)
    cols = {c["name"]: c for c in d["columns"]}
    assert set(cols) == {"x", "k", "cat", "y"}
    x = cols["x"]
    assert x["nulls"] == int(df["x"].isna().sum()) and x["distinct"] == df["x"].nunique()
    assert math.isclose(x["mean"], df["x"].mean(), rel_tol=1e-9)
    assert math.isclose(x["std"], df["x"].std(ddof=1), rel_tol=1e-9)
    assert x["min"] == pytest.approx(df["x"].min()) and x["max"] == pytest.approx(df["x"].max())
    assert sum(x["histogram"]["counts"]) == df["x"].notna().sum() and len(x["histogram"]["edges"]) == 11
    assert cols["k"]["distinct"] == df["k"].nunique()
    cat = cols["cat"]
    assert cat["top"][0] == {"value": "a", "count": int((df["cat"] == "a").sum())} and cat["distinct"] == 3
    assert cat["mean"] is None and "histogram" not in cat
    r = d["correlation"]["x"]["y"]
    assert math.isclose(r, df["x"].corr(df["y"]), rel_tol=1e-6) and r < -0.9
    assert set(d["correlation"]) == {"x", "k", "y"}
    assert len(d["sample"]) == 5 and d["sample"][0]["cat"] == df["cat"][0]
    json.dumps(d)  # JSON-friendly


def test_describe_is_cached_per_version(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagstore.tables import describe as D
    ds = version_with(store, tmp_path, {"t.parquet": WRITERS["t.parquet"](frame(100))})
    first = ds.describe()

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("recomputed")
    monkeypatch.setattr(D, "describe_file", boom)
    assert Dataset.get(ds.id, store=store).describe() == first


def test_describe_needs_one_tabular_file(store: Store, tmp_path: Path) -> None:
    df = frame(50)
    ds = version_with(store, tmp_path, {"a.csv": WRITERS["t.csv"](df), "b.parquet": WRITERS["t.parquet"](df),
                                         "notes.txt": lambda p: p.write_text("n")})
    with pytest.raises(DagstoreError, match="2 tabular files"):
        ds.describe()
    assert ds.describe("b.parquet")["rows"] == 50
    with pytest.raises(DagstoreError, match="not a tabular"):
        ds.describe("notes.txt")
    with pytest.raises(DagstoreError):
        ds.describe("missing.csv")


def test_annotation_import_records_origin_import(store: Store, tmp_path: Path) -> None:
    from annotation_helpers import coco_set
    ds = Dataset.create("pets", "vision", store=store)
    ds.import_annotations(coco_set(tmp_path / "c", n=2), "coco", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.origin == "import"
    assert [d["name"] for d in Dataset.list_datasets(store=store, origin="import")] == ["pets"]
