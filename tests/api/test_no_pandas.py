"""Versioning, a child and a checkout never import pandas: pyarrow imports it on a first
``pa.array`` / ``Schema.empty_table`` / ``combine_chunks`` of no chunks, which cost 0.3-1 s
and ~45 MB per process on the write path (issue 19's W1' regression)."""

from __future__ import annotations

import datetime
import decimal
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from annotation_helpers import coco_set, image
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


ANNOTATED = """
import sys
from dagstore import Dataset
from dagstore.core import staging
staging.RACY_NS = -(10**12)  # the files were just written: keep them anyway (as test_upload_held does)
coco, extra, out = sys.argv[1:4]
ds = Dataset.create("np", "labelled")
ds.import_annotations(coco, format="coco")
ds.upload(show_progress=False)
ds.finalize()
child = Dataset.create("np", "labelled", parent_datasets=[ds.id])
child.add_files(extra, dataset_path="extra", show_progress=False)
held = child.keep_for_later_upload()  # as `dagstore add` does, for a later `close`
later = Dataset.get(dataset_id=child.id)
later.upload(show_progress=False)
later.finalize()
same = Dataset.create("np", "labelled", parent_datasets=[child.id])  # a child that changes nothing
same.finalize()
diff = same.diff(ds)
files = Dataset.get(dataset_id=same.id).list_files()
copy = Dataset.get(dataset_id=same.id).get_local_copy(show_progress=False)
facets = same.facets()
report = same.export("COCO", out)
same.export("CSV", out + ".csv.zip")  # a row per file
print(held, diff.added, len(files), facets["classes"], report.counts, "pandas" in sys.modules)
"""


def test_an_annotated_version_its_children_and_a_coco_export_do_not_import_pandas(tmp_path: Path) -> None:
    """An import, a held add taken over by a later upload, an empty child, diff, list,
    checkout, facets, a COCO and a CSV export: pyarrow never imports pandas (``pa.array``,
    ``combine_chunks`` of no chunks and ``to_numpy`` would)."""
    coco = coco_set(tmp_path / "coco", n=3)
    extra = image(tmp_path / "extra" / "x.jpg", 20, 10).parent
    image(extra / "y.png", 30, 10)
    env = dict(os.environ, DAGSTORE_URL=str(tmp_path / "store"), DAGSTORE_CACHE_DIR=str(tmp_path / "cache"))
    args = [sys.executable, "-c", ANNOTATED, str(coco), str(extra), str(tmp_path / "coco.zip")]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "2 ['extra/x.jpg', 'extra/y.png'] 5 {'cat': 2, 'dog': 1} {'train': 5} False"


FANNED = """
import sys
from concurrent.futures import ProcessPoolExecutor
from dagstore import Dataset
with ProcessPoolExecutor(2) as ex:
    ds = Dataset.create("np", "fanned")
    ds.add_files(sys.argv[1], dataset_path="under", executor=ex, show_progress=False)
    ds.finalize()
print(Dataset.get(dataset_id=ds.id).list_files(), "pandas" in sys.modules)
"""


def test_a_folder_added_on_workers_under_a_dataset_path_does_not_import_pandas(tmp_path: Path) -> None:
    """The workers' fragments joined under ``dataset_path`` (a Python string given to an Arrow
    compute function is converted through pandas)."""
    src = write_tree(tmp_path / "src", {"a.txt": "a", "d/b.txt": "b"})
    env = dict(os.environ, DAGSTORE_URL=str(tmp_path / "store"), DAGSTORE_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", FANNED, str(src)], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "['under/a.txt', 'under/d/b.txt'] False"


TABULAR = """
import sys
from dagstore import Dataset
ds = Dataset.create("np", "table")
ds.import_annotations(sys.argv[1], "table")
ds.upload(show_progress=False)
ds.finalize()
print([ds.export(f, sys.argv[2] + f + ".zip").counts["train"] for f in ("CSV", "JSONL")], "pandas" in sys.modules)
"""


def test_a_table_imported_as_rows_and_its_csv_and_jsonl_exports_do_not_import_pandas(tmp_path: Path) -> None:
    """Rows built as text columns, Arrow scalars given to compute functions (``from_pylist``,
    ``pa.array`` and a Python str passed to ``fill_null`` or ``binary_join_element_wise`` import pandas)."""
    table = write_tree(tmp_path / "t", {"iris.csv": "sepal,petal,ok,label,split\n1.5,2,true,setosa,train\n3.0,,false,virginica,train\n"})
    env = dict(os.environ, DAGSTORE_URL=str(tmp_path / "store"), DAGSTORE_CACHE_DIR=str(tmp_path / "cache"))
    args = [sys.executable, "-c", TABULAR, str(table / "iris.csv"), str(tmp_path / "out-")]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "[2, 2] False"



DESCRIBE = """
import sys
from dagstore import Dataset
ds = Dataset.create("np", "table")
ds.add_files(sys.argv[1], show_progress=False)
ds.finalize(auto_upload=True)
d = Dataset.get(dataset_id=ds.id).describe()
cols = {c["name"]: c for c in d["columns"]}
print(d["rows"], cols["i"]["distinct"], cols["u"]["min"], cols["f"]["nulls"], cols["cat"]["distinct"], "pandas" in sys.modules)
"""


def test_describe_of_numbers_booleans_dates_and_text_does_not_import_pandas(tmp_path: Path) -> None:
    """``describe`` of a Parquet file of integers, floats with nulls, booleans, text, dates,
    microsecond timestamps, decimals and a dictionary column: its statistics come from
    buffers, never ``to_numpy`` / ``pa.array`` / ``pa.table`` of a dict, which import pandas
    (timestamps in nanoseconds still do: pyarrow needs pandas to give them as values)."""
    n = 3000
    folder = tmp_path / "t"
    folder.mkdir()
    pq.write_table(pa.table({
        "i": pa.array([i % 13 if i % 10 else None for i in range(n)], pa.int64()),
        "u": pa.array([2**63 + 4096 * i for i in range(n)], pa.uint64()),
        "f": pa.array([i / 7 if i % 7 else None for i in range(n)], pa.float64()),
        "b": pa.array([bool(i % 3) if i % 11 else None for i in range(n)]),
        "s": pa.array(["abcdef"[i % 6] for i in range(n)]),
        "d": pa.array([datetime.date(2020, 1, 1) + datetime.timedelta(days=i % 400) for i in range(n)]),
        "ts": pa.array([datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=i) for i in range(n)]),
        "dec": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(10, 2)),
        "cat": pa.array(["xy"[i % 2] for i in range(n)]).dictionary_encode(),
    }), folder / "t.parquet")
    env = dict(os.environ, DAGSTORE_URL=str(tmp_path / "store"), DAGSTORE_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", DESCRIBE, str(folder)], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == f"3000 13 {2**63} 429 2 False"
