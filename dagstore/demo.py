"""``python -m dagstore.demo``: the main job on the embedded default store, from sample data.

Creates a dataset from generated sample files, a child version that changes a few of them,
and a cached local copy of the child, printing each step.
"""

from __future__ import annotations

import os
import random
import tempfile
import time

from . import Dataset, Store


def make_sample(folder: str, n: int = 200) -> None:
    """A small image-classification-like dataset: class folders of binary files plus a CSV."""
    rng = random.Random(7)
    rows = ["path,label"]
    for i in range(n):
        label = ("cat", "dog", "bird")[i % 3]
        rel = f"train/{label}/img_{i:04d}.bin"
        os.makedirs(os.path.join(folder, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(folder, rel), "wb") as f:
            f.write(rng.randbytes(rng.randint(1_000, 20_000)))
        rows.append(f"{rel},{label}")
    with open(os.path.join(folder, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def main() -> None:
    store = Store.default()
    print(f"store: {store.url}\ncache: {store.cache.root}")
    with tempfile.TemporaryDirectory(prefix="dagstore-demo-") as tmp:
        data = os.path.join(tmp, "data")
        make_sample(data)

        t = time.perf_counter()
        v1 = Dataset.create(dataset_name="animals", dataset_project="demo", store=store)
        added = v1.add_files(data)
        v1.upload(show_progress=False)
        v1.finalize()
        print(f"created {v1.project}/{v1.name} {v1.version} id={v1.id}: {added} files in {time.perf_counter() - t:.2f}s")

        os.remove(os.path.join(data, "train/cat/img_0000.bin"))
        with open(os.path.join(data, "train/dog/img_0001.bin"), "wb") as f:
            f.write(b"relabelled")
        os.makedirs(os.path.join(data, "val"), exist_ok=True)
        with open(os.path.join(data, "val/readme.txt"), "w") as f:
            f.write("validation split\n")

        t = time.perf_counter()
        v2 = Dataset.create(dataset_name="animals", dataset_project="demo", parent_datasets=[v1], store=store)
        removed, new, modified = v2.sync_folder(data)
        v2.finalize(auto_upload=True)
        print(f"created child {v2.version} id={v2.id}: {new} added, {modified} modified, {removed} removed in {time.perf_counter() - t:.2f}s")

    t = time.perf_counter()
    folder = Dataset.get(dataset_project="demo", dataset_name="animals").get_local_copy()
    print(f"local copy of {v2.version}: {folder} ({len(v2.list_files())} files) in {time.perf_counter() - t:.3f}s")
    t = time.perf_counter()
    Dataset.get(dataset_id=v2.id).get_local_copy()
    print(f"warm get_local_copy: {(time.perf_counter() - t) * 1000:.1f} ms")
    print(f"diff {v1.version} -> {v2.version}: {v2.diff(v1)}")
    problems = Dataset.get(dataset_id=v2.id).verify_dataset_hash()
    print("verify: ok" if not problems else f"verify: {problems}")


if __name__ == "__main__":
    main()
