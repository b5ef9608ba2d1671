"""`dagstore export`, `download`, `export create|status|download|list`, `snapshot ...` in subprocesses."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from test_cli import dag, fails
from export_fixtures import labelled


def test_export_to_zip_with_a_split_and_json_report(tmp_path: Path) -> None:
    labelled(tmp_path)
    r = dag("export", "vision/pets", "--format", "yolo_ultralytics", "--zip", tmp_path / "t.zip", "--split", "train", "--json")
    doc = json.loads(r.out)
    assert doc["counts"] == {"train": 4} and doc["path"] == str(tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as z:
        assert "data.yaml" in z.namelist() and json.loads(z.read("export.json"))["counts"] == {"train": 4}
    human = dag("export", "vision/pets", "--format", "COCO", "--out", tmp_path / "c", "--filter", "labels=dog")
    assert human.out.startswith("exported 2 items as COCO to ")


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    labelled(tmp_path)
    fails("export", "vision/pets", "--format", "yolo9", "--out", tmp_path / "x", message="unknown export format 'yolo9'")
    fails("export", "vision/pets", "--format", "coco", "--out", tmp_path / "x", "--split", "nope", message="is empty")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken/f").write_text("x")
    fails("export", "vision/pets", "--format", "coco", "--out", tmp_path / "taken", message="already exists")
    fails("export", "vision/pets", "--format", "coco", code=2, message="give one of --out DIR or --zip FILE")


def test_download_native_layout(tmp_path: Path) -> None:
    labelled(tmp_path)
    r = dag("download", "vision/pets", "--split", "test", "--to", tmp_path / "data", "--zip-file", tmp_path / "d.zip", cwd=tmp_path)
    assert r.out.strip() == str(tmp_path / "data")
    assert (tmp_path / "data/annotations.jsonl").is_file() and not (tmp_path / "d.zip").exists()


def test_export_jobs_and_snapshots_from_the_command_line(tmp_path: Path) -> None:
    labelled(tmp_path)
    job = dag("export", "create", "vision/pets", "--format", "coco", "--split", "test").out.strip()
    st = json.loads(dag("export", "status", job, "--wait", "--json").out)
    assert st["status"] == "completed" and st["progress"] == [2, 2]
    assert job in dag("export", "list").out
    dag("export", "download", job, tmp_path / "job")
    assert json.loads((tmp_path / "job/export.json").read_text())["counts"] == {"test": 2}
    snap = json.loads(dag("snapshot", "create", "vision/pets", "--name", "test-set", "--split", "test", "--json").out)
    assert snap["name"] == "test-set" and snap["filters"]["splits"] == ["test"]
    assert "test-set" in dag("snapshot", "list").out
    r = dag("snapshot", "export", "test-set", "--format", "csv", "--zip", tmp_path / "s.zip", "--json")
    assert json.loads(r.out)["counts"] == {"test": 2}
    fails("snapshot", "create", "vision/pets", "--name", "test-set", message="already exists")


def test_export_help_error_and_snapshots_as_users_expect(tmp_path: Path) -> None:
    """Issue 20: `export --help` hid the direct-export options; the error said `overwrite=True`;
    two default-named snapshots in one minute collided; `snapshot list` showed part of the filters."""
    labelled(tmp_path)
    help_text = dag("export", "--help").out
    for opt in ("--format", "--out DIR", "--zip FILE", "--split", "--filter", "--no-media", "--overwrite", "create", "status"):
        assert opt in help_text, opt
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken/f").write_text("x")
    fails("export", "vision/pets", "--format", "coco", "--out", tmp_path / "taken", message="--overwrite")
    dag("export", "vision/pets", "--format", "coco", "--out", tmp_path / "taken", "--overwrite")
    one = json.loads(dag("snapshot", "create", "vision/pets", "--split", "test", "--json").out)
    two = json.loads(dag("snapshot", "create", "vision/pets", "--filter", "labels=dog", "--filter", "predictions=ids", "--json").out)
    if one["created"][:16] == two["created"][:16]:  # the same minute: the second gets -2
        assert two["name"] == one["name"] + "-2"
    assert one["name"] != two["name"] and one["name"].startswith("vision-pets-at-")
    listed = dag("snapshot", "list").out
    row = next(ln for ln in listed.splitlines() if ln.startswith(two["name"] + " "))
    assert json.loads(row[row.index("{"):]) == two["filters"] and '"predictions": "ids"' in row
