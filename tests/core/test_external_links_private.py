"""External links (add_external_files) are listed and fetched with the store's storage_options
(issue #9), against the real S3 server: the links point into a second, private bucket that is
reachable only with the endpoint and credentials given to the Store, never through the
environment (conftest removes every AWS_* variable)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fsspec
import pytest

from dagstore import Dataset, Store
from helpers import read_tree, write_tree

FILES = {"img/a.jpg": b"\xff\xd8jpeg-a", "img/b.jpg": b"\xff\xd8jpeg-b", "labels.csv": b"f,c\na.jpg,1\n"}


@pytest.fixture
def private(s3_server: Any) -> Any:
    """(store, bucket URL holding FILES): the store and the links both live on the S3 server."""
    store = Store(s3_server.new_root("store"), storage_options=dict(s3_server.storage_options),
                  cache_dir=os.environ["DAGSTORE_CACHE_DIR"])
    data = s3_server.new_root("private")
    fs = s3_server.fs()
    for rel, content in FILES.items():
        fs.pipe(f"{data}/{rel}", content)
    yield store, data
    s3_server.remove_bucket(data)
    s3_server.remove_bucket(store.url)


def test_links_into_a_private_bucket_are_listed_and_fetched_with_the_store_options(private: Any) -> None:
    store, data = private
    with pytest.raises(Exception):  # the bucket is not reachable without the store's options
        fsspec.filesystem("s3", skip_instance_cache=True).ls(data.split("://", 1)[1])
    ds = Dataset.create("linked", "p", store=store)
    assert ds.add_external_files(f"{data}/", dataset_path="remote") == 3
    ds.finalize()
    got = Dataset.get(dataset_id=ds.id, store=store)
    assert sorted(e.link for e in got.link_entries) == sorted(f"{data}/{k}" for k in FILES)
    assert read_tree(got.get_local_copy(show_progress=False)) == {f"remote/{k}": v for k, v in FILES.items()}
    assert got.read_bytes("remote/labels.csv") == FILES["labels.csv"]
    with got.open("remote/img/a.jpg") as f:
        assert f.read() == FILES["img/a.jpg"]


def test_squash_of_linked_versions_keeps_fetching_with_the_store_options(private: Any) -> None:
    store, data = private
    ds = Dataset.create("linked", "p", store=store)
    ds.add_external_files(f"{data}/labels.csv")
    ds.finalize()
    flat = Dataset.squash("flat", dataset_ids=[ds.id], store=store)
    assert read_tree(flat.get_local_copy(show_progress=False)) == {"labels.csv": FILES["labels.csv"]}


def test_local_links_from_a_cloud_store_are_fetched_without_its_options(private: Any, tmp_path: Path) -> None:
    store, _ = private
    ext = write_tree(tmp_path / "ext", {"local.txt": "here"})
    ds = Dataset.create("mixed", "p", store=store)
    ds.add_external_files(f"file://{ext}/local.txt")
    ds.finalize()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=store).get_local_copy(show_progress=False)) == {"local.txt": b"here"}


def test_delete_external_files_deletes_in_the_private_bucket_with_the_store_options(private: Any, s3_server: Any) -> None:
    store, data = private
    ds = Dataset.create("linked", "p", store=store)
    ds.add_external_files(f"{data}/labels.csv")
    ds.finalize()
    Dataset.delete(dataset_id=ds.id, delete_external_files=True, store=store)
    fs = s3_server.fs()
    assert not fs.exists(f"{data}/labels.csv")
    assert fs.exists(f"{data}/img/a.jpg")  # not linked: not asked for
