"""A delta manifest's copy in the local cache (meta/manifests/<hash>) that no longer matches its
hash is never served: it is read again from the store and replaced, so a damaged cache neither
lists the wrong files nor makes `verify` blame an intact store."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from dagstore import Dataset, Store


def _versions(tmp_path: Path) -> tuple[Store, str, str]:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    ids = []
    for i, files in enumerate(({"a.txt": "a", "b.txt": "b"}, {"c.txt": "c"})):
        src = tmp_path / f"src{i}"
        src.mkdir()
        for name, text in files.items():
            (src / name).write_text(text)
        ds = Dataset.create("m", "p", parent_datasets=ids[-1:], store=st)
        ds.add_files(src, show_progress=False)
        ds.finalize(auto_upload=True)
        ids.append(ds.id)
    return st, ids[0], ids[1]


def _drop_states(st: Store) -> Store:
    """The cached states removed: a new Store builds them again from the manifests."""
    for state in (Path(st.cache.root) / "meta" / "states").iterdir():
        os.chmod(state, 0o644)
        state.unlink()
    return Store(st.url, cache_dir=str(st.cache.root))


@pytest.mark.parametrize("damage", ["another-manifest", "truncated"])
def test_a_changed_cached_manifest_is_read_again_from_the_store(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    st, first, child = _versions(tmp_path)
    st = _drop_states(st)
    assert Dataset.get(dataset_id=child, store=st).list_files() == ["a.txt", "b.txt", "c.txt"]  # manifests now cached
    key = st.record(child).manifest
    copy = Path(st.cache.root) / "meta" / "manifests" / key.split("/")[-1]
    data = copy.read_bytes()
    os.chmod(copy, 0o644)
    copy.write_bytes((tmp_path / "store" / st.record(first).manifest).read_bytes() if damage == "another-manifest" else data[: len(data) // 2])
    caplog.set_level(logging.WARNING, logger="dagstore")
    fresh = _drop_states(st)
    assert Dataset.get(dataset_id=child, store=fresh).list_files() == ["a.txt", "b.txt", "c.txt"]
    assert key in caplog.text and copy.read_bytes() == data
    assert fresh.verify(read_data=True) == []
