"""The write path's result is pinned: the same files always give the same manifest (its key is
the hash of its bytes) and the same version statistics, whichever way their content reached
the store (kept from the hashing pass, read again at upload, or vouched for by the stat cache),
and a copy of the version gives the files back byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.core import staging
from helpers import noise, read_tree, write_tree

# The manifest key and stats this tree got from the write path before its third pass (main at 568d619).
PINNED_MANIFEST = "manifests/88117575a4f88027bca30289b1d5f1f8"
PINNED_STATS = {"files": 125, "bytes": 7_845_812, "added": 125, "modified": 0, "removed": 0}


def _tree() -> dict[str, bytes]:
    """Every kind of file the write path treats apart: empty, under 128 bytes (never compressed),
    small and compressible or not, kept (< 32 KiB) or read again at upload, duplicates, and one
    large file (its own object)."""
    files: dict[str, bytes] = {"empty.txt": b"", "tiny.txt": b"tiny\n"}
    for i in range(60):
        size = 1000 + 997 * i  # 1 KB to 60 KB: both sides of staging.KEEP_BELOW
        files[f"d{i % 4}/sub{i % 3}/text_{i:02d}.jsonl"] = (b'{"id": %d, "label": "cat"}\n' % i * size)[:size]
        files[f"d{i % 4}/noise_{i:02d}.bin"] = noise(f"n{i}", size)
    files["copies/a.jsonl"] = files["copies/b.jsonl"] = files["d0/sub0/text_00.jsonl"]
    files["big/large.bin"] = noise("large", (4 << 20) + 123)
    return files


def _version(store: Path, name: str, src: Path) -> Dataset:
    ds = Dataset.create(name, "pinned", store=str(store))
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_a_fixed_tree_always_gets_the_same_manifest_whichever_way_its_content_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", _tree())
    for p in src.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))  # old enough for the stat cache
    monkeypatch.setattr(staging, "RACY_NS", 3600 * 10**9)  # "just now" whatever a loaded machine's delays
    fresh = _version(tmp_path / "store", "fresh", src)  # changed just now (ctime): read again at upload
    cached = _version(tmp_path / "store", "cached", src)  # hashes from the stat cache, content already stored
    monkeypatch.setattr(staging, "RACY_NS", -(10**12))  # now small files are kept from the hashing pass
    kept = _version(tmp_path / "other", "kept", write_tree(tmp_path / "again", _tree()))  # a new store: all sent
    for ds in (fresh, cached, kept):
        assert (ds.record.manifest, ds.record.stats) == (PINNED_MANIFEST, PINNED_STATS), ds.name
    assert read_tree(Dataset.get(dataset_id=kept.id, store=str(tmp_path / "other")).get_local_copy(show_progress=False)) == _tree()
