"""`dagstore import` and `dagstore annotations`, run as the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from annotation_helpers import coco_set

DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")


def dag(*args, code=0):
    p = subprocess.run([DAGSTORE, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == code, f"{args} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def test_import_then_print_annotations_and_diff(tmp_path):
    src = coco_set(tmp_path / "coco", n=3)
    dag("create", "--project", "vision", "--name", "pets")
    out = dag("import", "--format", "coco", src).stdout
    assert "imported 3 items (train: 3); 3 files added or modified" in out and "classes added: cat, dog" in out
    parent = json.loads(dag("close", "--json").stdout)["id"]
    lines = [json.loads(ln) for ln in dag("annotations", "--id", parent, "--label", "dog").stdout.splitlines()]
    assert [ln["path"] for ln in lines] == ["train/img1.jpg"] and lines[0]["annotation"]["regions"][0]["label"] == "dog"
    classes = json.loads(dag("annotations", "--id", parent, "--classes", "--json").stdout)
    assert [c["name"] for c in classes] == ["cat", "dog"] and classes[1]["id"] == 1
    # a child relabelled by re-importing the same set with a changed category
    js = src / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["annotations"][0]["category_id"] = 3
    js.write_text(json.dumps(doc))
    dag("create", "--project", "vision", "--name", "pets", "--parents", parent)
    dag("import", "--format", "coco", src)
    child = json.loads(dag("close", "--json").stdout)["id"]
    diff = dag("diff", parent, child).stdout
    assert "~ train/img0.jpg (annotation only)" in diff and "1 modified, 1 of them annotation only" in diff


def test_import_errors_are_one_line_and_change_nothing(tmp_path):
    src = coco_set(tmp_path / "coco", n=2)
    js = src / "annotations/instances_train.json"
    doc = json.loads(js.read_text())
    doc["annotations"][1]["category_id"] = 9
    js.write_text(json.dumps(doc))
    draft = json.loads(dag("create", "--project", "vision", "--name", "bad", "--json").stdout)["id"]
    err = dag("import", "--id", draft, "--format", "coco", src, code=1).stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dagstore: error: ") and "category_id: unknown class id 9" in err[0]
    assert json.loads(dag("list", "--id", draft, "--json").stdout)["files"] == []
    out = dag("import", "--format", "coco", "--skip-errors", src).stdout
    assert "imported 1 item" in out and "skipped instances_train.json: img1.jpg" in out
    dag("import", "--format", "nope", src, code=2)
