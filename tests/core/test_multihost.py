"""Many hosts on one object store: each "host" is a process with its own cache, reaching the
server only through the backend's standard environment variables (no storage_options)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dagstore import Dataset, Store
from helpers import read_tree, write_tree

WRITERS = 8
READERS = 8

WRITER = r"""
import json, os, sys
from dagstore import Dataset
parent, folder = sys.argv[1], sys.argv[2]
d = Dataset.create(dataset_name="shared", dataset_project="fleet", parent_datasets=[parent])
d.add_files(folder, dataset_path="from-" + os.path.basename(folder))
d.upload(show_progress=False)
d.finalize()
print(json.dumps({"id": d.id, "version": d.version}))
"""

READER = r"""
import json, os, sys
from dagstore import Dataset
path = Dataset.get(dataset_id=sys.argv[1]).get_local_copy(show_progress=False)
out = {}
for dirpath, _d, files in os.walk(path):
    for f in files:
        full = os.path.join(dirpath, f)
        out[os.path.relpath(full, path)] = open(full, "rb").read().hex()
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure"])
def test_eight_writers_and_eight_readers_on_one_store(backend, request, tmp_path):
    srv = request.getfixturevalue(f"{backend}_server")
    url = srv.new_root()
    parent_src = write_tree(tmp_path / "parent", {f"base/{i}.bin": os.urandom(3000 + i) for i in range(40)})
    store = Store(url, storage_options=srv.storage_options, cache_dir=str(tmp_path / "c0"))
    parent = Dataset.create(dataset_name="shared", dataset_project="fleet", store=store)
    parent.add_files(parent_src)
    parent.finalize(auto_upload=True)

    def env(i: int) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "STORAGE_EMULATOR", "AZURE_STORAGE"))}
        return {**e, **srv.env, "DAGSTORE_URL": url, "DAGSTORE_CACHE_DIR": str(tmp_path / f"cache{i}"), "DAGSTORE_QUIET": "1"}

    folders = [write_tree(tmp_path / f"w{i}", {f"f{j}.bin": os.urandom(2000 + 17 * i + j) for j in range(10)}) for i in range(WRITERS)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, parent.id, str(f)], env=env(i), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for i, f in enumerate(folders)]
    readers = [subprocess.Popen([sys.executable, "-c", READER, parent.id], env=env(100 + i), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for i in range(READERS)]
    results = []
    for p in writers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out))
    expected_parent = {k: v.hex() for k, v in read_tree(parent_src).items()}
    for p in readers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
        assert json.loads(out) == expected_parent

    versions = [r["version"] for r in results]
    assert len(set(versions)) == WRITERS, versions
    check = Store(url, storage_options=srv.storage_options, cache_dir=str(tmp_path / "check"))
    finals = {r.id: r for r in check.records()}
    assert set(finals) == {parent.id, *(r["id"] for r in results)}  # no lost version
    assert sorted(r.version for r in check.versions_of("fleet", "shared")) == sorted(["1.0.0", *versions])
    assert check.verify() == []
    for r, folder in zip(results, folders):
        got = read_tree(Dataset.get(dataset_id=r["id"], store=check).get_local_copy(show_progress=False))
        want = {**read_tree(parent_src), **{f"from-{folder.name}/{k}": v for k, v in read_tree(folder).items()}}
        assert got == want
    srv.remove_bucket(url)
