"""Reading versions in place through the dagstore:// fsspec filesystem, on every backend."""

from __future__ import annotations

import io
import os

import fsspec
import pytest

from dagstore import Dataset, Store
from dagstore.core.backend import Backend
from helpers import write_tree

CSV = "id,label\n" + "".join(f"{i},{'cat' if i % 2 else 'dog'}\n" for i in range(300))
BIG = os.urandom(6 << 20)


@pytest.fixture
def published(store_url, tmp_path):
    """A final version with a CSV, a parquet file, a large file and 2,000 small files."""
    import pandas as pd

    url, opts = store_url
    src = tmp_path / "src"
    files = {"tables/labels.csv": CSV, "big/blob.bin": BIG}
    files.update({f"many/{i:04d}.bin": os.urandom(4096) for i in range(2000)})
    write_tree(src, files)
    pd.DataFrame({"x": range(100), "y": [f"v{i}" for i in range(100)]}).to_parquet(src / "tables/data.parquet")
    store = Store(url, storage_options=opts, cache_dir=str(tmp_path / "writer-cache"))
    ds = Dataset.create(dataset_name="animals", dataset_project="vision/2d", store=store)
    ds.add_files(src)
    ds.finalize(auto_upload=True)
    reader_opts = {"store": url, "store_options": opts or None, "cache_dir": str(tmp_path / "reader-cache")}
    return ds, reader_opts, files, tmp_path / "reader-cache"


def _count_reads(monkeypatch) -> list[int]:
    """Record the size of every byte range the backends read."""
    sizes: list[int] = []
    for cls in {c for c in Backend.__subclasses__()}:
        real = cls.read_ranges

        def counting(self, ranges, _real=real):
            out = _real(self, ranges)
            sizes.extend(len(b) for b in out)
            return out

        monkeypatch.setattr(cls, "read_ranges", counting)
    return sizes


def test_pandas_reads_csv_and_parquet(published):
    import pandas as pd

    ds, opts, _files, _ = published
    df = pd.read_csv("dagstore://vision/2d/animals@1.0.0/tables/labels.csv", storage_options=opts)
    assert len(df) == 300 and list(df.columns) == ["id", "label"]
    pq = pd.read_parquet(f"dagstore://{ds.id}/tables/data.parquet", storage_options=opts)
    assert pq["y"].tolist()[:3] == ["v0", "v1", "v2"]


def test_pyarrow_dataset_reads_through_the_filesystem(published):
    import pyarrow.dataset as pads

    ds, opts, _files, _ = published
    fs = fsspec.filesystem("dagstore", **opts)
    table = pads.dataset(f"vision/2d/animals@latest/tables/data.parquet", filesystem=fs, format="parquet").to_table()
    assert table.num_rows == 100


def test_listing_globbing_and_info(published):
    ds, opts, files, _ = published
    fs = fsspec.filesystem("dagstore", **opts)
    top = fs.ls("vision/2d/animals@1.0.0", detail=False)
    assert top == ["vision/2d/animals@1.0.0/big", "vision/2d/animals@1.0.0/many", "vision/2d/animals@1.0.0/tables"]
    assert fs.info(f"{ds.id}/big/blob.bin")["size"] == len(BIG)
    assert fs.info(f"{ds.id}/many")["type"] == "directory"
    assert len(fs.find(f"{ds.id}/many")) == 2000
    assert fs.glob(f"{ds.id}/many/000*.bin") == [f"{ds.id}/many/000{i}.bin" for i in range(10)]
    with pytest.raises(FileNotFoundError):
        fs.info(f"{ds.id}/nope.txt")
    with pytest.raises(FileNotFoundError):
        fs.ls("vision/2d/animals@9.9.9")


def test_byte_ranges_and_streaming_reads(published):
    ds, opts, files, _ = published
    fs = fsspec.filesystem("dagstore", **opts)
    assert fs.cat_file(f"{ds.id}/big/blob.bin", start=5_000_000, end=5_000_100) == BIG[5_000_000:5_000_100]
    assert fs.cat_file(f"{ds.id}/tables/labels.csv", start=-10) == CSV.encode()[-10:]
    with fsspec.open(f"dagstore://{ds.id}/big/blob.bin", **opts) as f:
        f.seek(3_000_000)
        assert f.read(1000) == BIG[3_000_000:3_001_000]
        f.seek(-5, io.SEEK_END)
        assert f.read() == BIG[-5:]
    with pytest.raises(PermissionError, match="read-only"):
        fs.open(f"{ds.id}/x", "wb")


def test_one_small_file_reads_about_its_size_and_nothing_is_cached(published, monkeypatch):
    ds, opts, files, reader_cache = published
    fs = fsspec.filesystem("dagstore", skip_instance_cache=True, **opts)
    fs.info(f"{ds.id}/many/0000.bin")  # load metadata (manifest) first
    sizes = _count_reads(monkeypatch)
    data = fs.cat_file(f"{ds.id}/many/1234.bin")
    assert data == files["many/1234.bin"]
    assert sizes and sum(sizes) <= 2 * 4096, sizes  # one blob, not its 8 MB pack
    sizes.clear()
    assert fs.cat_file(f"{ds.id}/big/blob.bin", start=100, end=200) == BIG[100:200]
    assert sum(sizes) == 100
    assert not (reader_cache / "blobs").exists()  # content is never written to the cache


def test_dataset_open_and_read_bytes(published):
    ds, opts, files, _ = published
    store = Store(opts["store"], storage_options=opts["store_options"], cache_dir=opts["cache_dir"])
    got = Dataset.get(dataset_id=ds.id, store=store)
    assert got.read_bytes("tables/labels.csv", 0, 8) == b"id,label"
    with got.open("big/blob.bin") as f:
        f.seek(10)
        assert f.read(10) == BIG[10:20]
    with pytest.raises(FileNotFoundError):
        got.read_bytes("missing")
