"""``from dagstore import Dataset`` and a plain open of a version (get, list, diff, facets, a local
copy) load the storage core and the facades only: the export, annotations, tables, connectors and
delivery subsystems, and what they import (sqlalchemy, requests, pandas, ...), are imported by the
first call that uses them (``dagstore/api/lazy.py``), and every public name still works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagstore
from dagstore import Dataset, export
from dagstore.api import dataset as api_dataset, store as api_store
from helpers import write_tree

NOT_ON_OPEN = ("dagstore.export", "dagstore.annotations", "dagstore.tables", "dagstore.connectors", "dagstore.delivery",
               "dagstore.ui", "dagstore.cli", "sqlalchemy", "requests", "pandas", "PIL", "yaml", "distributed", "dask",
               "starlette", "jinja2", "paramiko", "confluent_kafka")


def _run(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; the output lines, the last being the loaded modules of ``NOT_ON_OPEN``."""
    script = code + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in TOPS and any(m == p or m.startswith(p + '.') for p in NOT_ON)))"
    prelude = f"NOT_ON = {NOT_ON_OPEN!r}\nTOPS = {sorted({p.split('.')[0] for p in NOT_ON_OPEN})!r}\n"
    out = subprocess.run([sys.executable, "-c", prelude + script], env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


def test_importing_dataset_loads_no_subsystem() -> None:
    assert _run("from dagstore import Dataset, Store") == ["[]"]


def test_a_plain_open_loads_no_subsystem(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"a.txt": "a", "d/b.txt": "b" * 300})
    parent = Dataset.create("lazy", "p")
    parent.add_files(src, show_progress=False)
    parent.finalize(auto_upload=True)
    child = Dataset.create("lazy", "p", parent_datasets=[parent.id])
    child.remove_files("a.txt")
    child.finalize(auto_upload=True)
    lines = _run(f"""
import os
from dagstore import Dataset
ds = Dataset.get(dataset_id={child.id!r})
root = ds.get_local_copy(show_progress=False)
print(ds.list_files(), ds.diff({parent.id!r}).removed, ds.facets()["files"], sorted(os.listdir(root)), ds.store.url)
""")
    assert lines[0] == f"['d/b.txt'] ['a.txt'] 1 ['d'] {child.store.url}"
    assert lines[1] == "[]"


def test_versioning_a_folder_and_its_child_loads_no_subsystem(tmp_path: Path) -> None:
    """create + add_files + upload + finalize, and a child of it, without class lists: the
    annotation subsystem is not imported inside the timed operation (it was, by create)."""
    src = write_tree(tmp_path / "src", {"a.txt": "a", "d/b.txt": "b" * 300})
    lines = _run(f"""
from dagstore import Dataset
ds = Dataset.create("w", "p")
ds.add_files({str(src)!r}, show_progress=False)
ds.upload(show_progress=False)
ds.finalize()
child = Dataset.create("w", "p", parent_datasets=[ds.id])
child.remove_files("a.txt")
child.finalize(auto_upload=True)
print(Dataset.get(dataset_id=child.id).list_files())
""")
    assert lines == ["['d/b.txt']", "[]"]
    with_classes = Dataset.create("w", "p", classes=["cat", "dog"])  # these still load it, and are kept
    assert with_classes.classes == ["cat", "dog"]
    assert Dataset.create("w", "p", parent_datasets=[_final(with_classes)]).classes == ["cat", "dog"]


def _final(ds: Dataset) -> str:
    ds.finalize(auto_upload=True)
    return ds.id


def test_a_subsystem_is_loaded_by_its_first_use(tmp_path: Path) -> None:
    lines = _run(f"""
import sys
from dagstore import Store
st = Store({str(tmp_path / "store")!r})
print(st.list_snapshots(), "dagstore.export.snapshots" in sys.modules, "dagstore.connectors" in sys.modules)
print(len(st.connectors.list()), "dagstore.connectors" in sys.modules)
""")
    assert lines[:2] == ["[] True False", "0 True"]


def test_every_public_name_resolves_in_a_fresh_process() -> None:
    lines = _run("""
import dagstore
import dagstore.export as export
from dagstore import download_dataset, ExportFormat
names = {n: getattr(dagstore, n) for n in dagstore.__all__}
print(download_dataset is export.download_dataset, ExportFormat is export.ExportFormat, set(dagstore.__all__) <= set(dir(dagstore)))
ns = {}
exec("from dagstore import *", ns)
print(sorted(set(dagstore.__all__) - set(ns)), all(ns[n] is v for n, v in names.items()))
""")
    assert lines[:2] == ["True True True", "[] True"]


def test_an_unknown_name_is_a_clear_error() -> None:
    lines = _run("""
import dagstore
from dagstore.api import lazy
for get in (lambda: dagstore.NoSuchName, lambda: lazy.no_such_module):
    try:
        get()
    except AttributeError as exc:
        print(exc)
try:
    from dagstore import NoSuchName
except ImportError as exc:
    print(type(exc).__name__, "NoSuchName" in str(exc))
""")
    assert lines[:3] == ["module 'dagstore' has no attribute 'NoSuchName'",
                         "module 'dagstore.api.lazy' has no attribute 'no_such_module'", "ImportError True"]


def test_the_public_names_are_the_subsystems_own() -> None:
    assert (dagstore.Dataset, dagstore.Store) == (api_dataset.Dataset, api_store.Store)
    assert (dagstore.ExportJob, dagstore.download_dataset) == (export.ExportJob, export.download_dataset)
