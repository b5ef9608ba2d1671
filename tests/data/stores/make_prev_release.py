"""Make a small store with the pre-columnar release (main at 60c29df)."""
import os, sys, json, shutil
from pathlib import Path
os.environ["DAGSTORE_CACHE_DIR"] = "/tmp/colfix/cache"
from dagstore import Dataset, Store
root = Path(sys.argv[1]); src = Path("/tmp/colfix/src")
shutil.rmtree(root, ignore_errors=True); shutil.rmtree(src, ignore_errors=True); shutil.rmtree("/tmp/colfix/cache", ignore_errors=True)
(src / "img").mkdir(parents=True); (src / "docs").mkdir()
for i in range(6):
    (src / "img" / f"{i:03d}.jpg").write_bytes(bytes([i]) * (100 + i))
(src / "docs" / "readme.txt").write_text("hello world\n")
(src / "top.csv").write_text("a,b\n1,2\n")
st = Store(str(root))
# v1: plain files (format 1 manifest)
a = Dataset.create("plain", "fixture", store=st)
a.add_files(str(src)); a.set_metadata({"k": 1}) if hasattr(a, "set_metadata") else None
a.upload(); a.finalize()
# v2: annotated (format 2 manifest): classes, splits, regions, media size
b = Dataset.create("plain", "fixture", parent_datasets=[a.id], store=st)
b.add_classes(["cat", "dog"])
for i in range(6):
    b.set_annotation(f"img/{i:03d}.jpg", {"split": "train" if i < 4 else "val", "labels": ["cat" if i % 2 else "dog"],
                     "media": {"kind": "image", "width": 64, "height": 48},
                     "regions": [{"id": "r1", "type": "box", "label": "cat", "xywh": [1, 2, 10, 10]}, {"id": "r2", "type": "polygon", "label": "dog", "points": [[0, 0], [5, 0], [5, 5]]}] if i % 3 == 0 else []})
b.upload(); b.finalize()
# v3: child delta: modify, remove, add, relabel one
(src / "top.csv").write_text("a,b\n1,3\n")
c = Dataset.create("plain", "fixture", parent_datasets=[b.id], store=st)
c.add_files(str(src / "top.csv"))
c.remove_files("docs/readme.txt")
(src / "new.bin").write_bytes(b"\x00\x01" * 50)
c.add_files(str(src / "new.bin"), dataset_path="extra")
ann = c.get_annotation("img/001.jpg"); ann["labels"] = ["dog"]; c.set_annotation("img/001.jpg", ann)
c.upload(); c.finalize()
out = {}
for ds in (a, b, c):
    d = Dataset.get(dataset_id=ds.id, store=st)
    out[ds.id] = {"files": d.list_files(), "annotations": dict(d.iter_annotations()),
                  "hashes": {p: e.hash for p, e in d.file_entries_dict.items()}, "parents": list(d.parents)}
(root.parent / (root.name + ".expected.json")).write_text(json.dumps(out, indent=1, sort_keys=True))
print(json.dumps({k: len(v["files"]) for k, v in out.items()}))
