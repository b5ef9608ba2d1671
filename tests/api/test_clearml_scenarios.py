"""ClearML's example scripts, documentation walkthroughs and YOLOv5's dataset code, each run
unchanged but for the import (tests/api/clearml_scenarios/README.md), in its own process, against
a fresh store; what they print is shown with `pytest -s` and checked, and so is the store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagstore import Dataset
from helpers import write_tree

SCENARIOS = Path(__file__).resolve().parent / "clearml_scenarios"
DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Local stand-ins for what the examples download: MNIST (TRAIN/TEST folders of PNGs),
    CIFAR-10's python batches, the Iris CSV and YOLOv5's coco128."""
    root = tmp_path / "downloads"
    files: dict[str, bytes | str] = {}
    for split, n in (("TRAIN", 4), ("TEST", 2)):
        for digit in range(3):
            for k in range(n):
                files[f"MNIST/{split}/{digit}/img_{k}.png"] = PNG + f"{split}{digit}{k}".encode()
    for name in ("data_batch_1", "data_batch_2", "test_batch", "batches.meta", "readme.html"):
        files[f"cifar-10-batches-py/{name}"] = os.urandom(3000)
    files["Iris_Species.csv"] = "Id,SepalLengthCm,Species\n1,5.1,Iris-setosa\n2,7.0,Iris-versicolor\n"
    for k in range(3):
        files[f"coco128/images/train2017/{k:012d}.jpg"] = b"\xff\xd8" + os.urandom(100)
        files[f"coco128/labels/train2017/{k:012d}.txt"] = "0 0.5 0.5 0.2 0.2\n"
    files["coco128/coco128.yaml"] = "train: images/train2017\nval: images/train2017\ntest:\nnc: 2\nnames: [person, bicycle]\n"
    return write_tree(root, files)


def run(cmd: list[str], data: Path, cwd: Path) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300,
                       env={**os.environ, "SCENARIO_DATA": str(data), "DAGSTORE_QUIET": "1", "DAGSTORE": DAGSTORE or "dagstore"})
    shown = " ".join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))
    print(f"\n===== {shown} (exit {p.returncode}) =====\n{p.stdout}{p.stderr}", end="")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p.stdout


def script(name: str, data: Path, cwd: Path, *args: str) -> str:
    return run([sys.executable, str(SCENARIOS / name), *args], data, cwd)


def test_dataset_creation_then_data_ingestion(data: Path, tmp_path: Path) -> None:
    out = script("dataset_creation.py", data, tmp_path)
    assert "created dataset_examples cifar_dataset 1.0.0 files: 5" in out
    out = script("data_ingestion.py", data, tmp_path)
    assert "dataset_path holds: ['batches.meta', 'data_batch_1', 'data_batch_2', 'readme.html', 'test_batch']" in out


def test_csv_dataset_creation(data: Path, tmp_path: Path) -> None:
    out = script("csv_dataset_creation.py", data, tmp_path)
    assert "files: ['Iris_Species.csv']" in out and "We are done" in out


def test_single_parent_child_dataset(data: Path, tmp_path: Path) -> None:
    out = script("single_parent_child_dataset.py", data, tmp_path)
    assert "child files: 18 of which its own: 6" in out
    child = Dataset.get(dataset_project="dataset_examples", dataset_name="MNIST Complete Dataset")
    assert sorted({p.split("/")[0] for p in child.list_files()}) == ["TEST", "TRAIN"]


def test_multi_parent_child_dataset(data: Path, tmp_path: Path) -> None:
    out = script("multi_parent_child_dataset.py", data, tmp_path)
    assert "child files: 18 graph: [0, 0, 2]" in out


def test_dataset_folder_syncing(data: Path, tmp_path: Path) -> None:
    out = script("dataset_folder_syncing.py", data, tmp_path)
    assert "files: 24" in out  # the example copies TRAIN twice (TRAIN and TEST folders)


def test_sdk_docs_walkthrough(data: Path, tmp_path: Path) -> None:
    out = script("sdk_docs_walkthrough.py", data, tmp_path)
    assert "removed csv files: 2" in out
    assert "get by tag: 1.0.0 ['my tag']" in out and "get by version: 1.2" in out
    assert "delete refused: Multiple datasets found" in out
    assert "moved: [('New project', 'New name')]" in out


def test_yolov5_clearml_dataset(data: Path, tmp_path: Path) -> None:
    ds = Dataset.create("coco128", "YOLOv5")
    ds.add_files(data / "coco128", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    out = script("yolov5_clearml_dataset.py", data, tmp_path, f"clearml://{ds.id}")
    assert "nc: 2 names: ['person', 'bicycle']" in out
    assert "train -> 3 images" in out and "test -> None images" in out


def test_clearml_data_cli_walkthrough(data: Path, tmp_path: Path) -> None:
    out = run(["bash", str(SCENARIOS / "clearml_data_cli_walkthrough.sh")], data, tmp_path)
    assert "closed dataset_examples/cli_dataset 1.0.1: 6 added, 0 modified, 0 removed" in out
    assert "dagstore: error: Multiple datasets found for dataset_examples/cli_dataset" in out
    assert "(exit 1: nothing deleted)" in out and "deleted 1 version" in out
    assert "closed YOLOv5/coco128 1.0.0: 7 added" in out
    remaining = Dataset.list_datasets(dataset_project="dataset_examples")
    assert [(d["version"], d["status"]) for d in remaining] == [("1.0.0", "completed")]
