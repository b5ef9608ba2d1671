"""Versioning, a child and a checkout never import pandas: pyarrow imports it on a first
``pa.array`` / ``Schema.empty_table`` / ``combine_chunks`` of no chunks, which cost 0.3-1 s
and ~45 MB per process on the write path (issue 19's W1' regression)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import write_tree

SCRIPT = """
import os, sys
from dagstore import Dataset
src = sys.argv[1]
ds = Dataset.create("np", "p")
ds.add_files(src, show_progress=False)
ds.upload(show_progress=False)
ds.finalize()
os.remove(os.path.join(src, "a.txt"))
with open(os.path.join(src, "new.txt"), "w") as f:
    f.write("new")
child = Dataset.create("np", "p", parent_datasets=[ds.id])
child.sync_folder(src, show_progress=False)
child.upload(show_progress=False)
child.finalize()
got = sorted(os.listdir(Dataset.get(dataset_id=child.id).get_local_copy(show_progress=False)))
print(got, "pandas" in sys.modules)
"""


def test_version_child_and_checkout_do_not_import_pandas(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"a.txt": "a", "b.txt": "b" * 500, "d/c.txt": "c"})
    env = dict(os.environ, DAGSTORE_URL=str(tmp_path / "store"), DAGSTORE_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(src)], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "['b.txt', 'd', 'new.txt'] False"
